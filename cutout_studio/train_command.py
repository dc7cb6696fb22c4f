"""``cutout-studio train``: its arguments and its run (the trainer is in ``core/training``).

Kept beside ``cli.py`` rather than in it: the command line's other commands share their export
and model options, this one has its own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_train_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """The ``train`` subcommand, added to the ``cutout-studio`` parser's subcommands."""
    tr = sub.add_parser("train", help="fine-tune U²-Netp (or train a model from scratch) on image/mask folders",
                        description="Train on the train part of each set (the val part is held out and scored "
                                    "every --val-every steps; the best weights are the output). Writes OUT.safetensors, "
                                    "OUT.json (config, data, scores) and OUT.ckpt/ (resume with --resume).")
    tr.add_argument("data", nargs="+", metavar="DATA", help="set folders (images/ + masks/) or folders of sets")
    tr.add_argument("--base", choices=("u2netp", "none", "unet"), default="u2netp",
                    help="u2netp: fine-tune the installed U²-Netp (default); none: U²-Netp from scratch; "
                         "unet: the classic U-Net from scratch")
    tr.add_argument("--init", type=Path, help="start from these .safetensors weights instead of the installed model")
    tr.add_argument("--steps", type=int, help="optimizer steps (default 3000; the schedule's length)")
    tr.add_argument("--batch-size", type=int, default=8)
    tr.add_argument("--size", type=int, default=320, help="training image side, px (the model's input: 320)")
    tr.add_argument("--lr", type=float, help="peak learning rate (default 1e-4 fine-tuning, 1e-3 from scratch)")
    tr.add_argument("--warmup", type=int, help="warm-up steps (default a tenth of the run, at most 100)")
    tr.add_argument("--synthetic-ratio", type=float, default=0.5,
                    help="share of samples that are synthetic product composites (default 0.5)")
    tr.add_argument("--backgrounds", type=Path, help="photos for blurred-scene backdrops (default: backgrounds/ "
                                                     "beside the sets)")
    tr.add_argument("--output", type=Path, help="weights file to write (default cutout-product.safetensors)")
    tr.add_argument("--resume", type=Path, help="continue from OUT.ckpt (or OUT.safetensors) exactly")
    tr.add_argument("--device", help="auto (default), cpu, cuda, cuda:N, mps")
    tr.add_argument("--workers", type=int, help="data loader processes (default min(8, cores); 0: in-process)")
    tr.add_argument("--val-every", type=int, help="steps between val scores (default 200; 0: none)")
    tr.add_argument("--val-limit", type=int, default=32, help="val photos per set (default 32)")
    tr.add_argument("--time-limit", type=float, help="minutes for this run; ends with val and a checkpoint in time")
    tr.add_argument("--stop-at", type=int, help="pause at this step with a checkpoint (continue with --resume)")
    tr.add_argument("--seed", type=int, default=0)
    tr.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    from cutout_studio.core.training.trainer import TrainConfig, config_from_checkpoint, train

    session = {"steps": args.steps, "output": str(args.output) if args.output else None, "device": args.device,
               "workers": args.workers, "val_every": args.val_every, "time_limit": args.time_limit,
               "stop_at": args.stop_at}
    if args.resume is not None:
        config = config_from_checkpoint(args.resume, **session)
    else:
        given = {k: v for k, v in session.items() if v is not None}
        config = TrainConfig(data=[str(d) for d in args.data], base=args.base,
                             init=str(args.init) if args.init else None, batch_size=args.batch_size,
                             size=args.size, lr=args.lr, warmup=args.warmup, synthetic_ratio=args.synthetic_ratio,
                             backgrounds=str(args.backgrounds) if args.backgrounds else None,
                             val_limit=args.val_limit, seed=args.seed, extra={"argv": sys.argv[1:]}, **given)
    result = train(config, resume=args.resume)
    best = result.get("best") or {}
    print(f"step {result['step']}: {config.output} "
          + (f"(best val IoU {best['iou']:.4f}, MAE {best['mae']:.4f} at step {best['step']})" if best else "")
          + (f"; {result['images_per_second']} images/s" if result.get("images_per_second") else ""))
    return 0
