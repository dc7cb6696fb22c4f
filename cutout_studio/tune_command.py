"""``cutout-studio tune`` (a personal model from the user's corrections) and ``cutout-studio
corrections list|delete`` (the corrections set the editor keeps): their arguments and runs.

Kept beside ``cli.py`` as ``train_command.py`` is; the work is in ``core/training/tune.py`` and
``core/corrections.py``, which the editor uses too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_INTERRUPTED = 0, 130


def add_tune_parsers(sub: argparse._SubParsersAction[Any]) -> None:
    """The ``tune`` and ``corrections`` subcommands, added to the ``cutout-studio`` parser's."""
    # defaults are the engine's (core/training/tune.py), not imported here: parsing stays torch-free
    tu = sub.add_parser(
        "tune", help="fine-tune a personal model on your corrections (or a folder of image/mask pairs)",
        description="Fine-tune the default model (or --base) on the photos you finished in the editor (kept when "
                    "'Keep finished photos for tuning' is on), or on --from DIR (images/ + masks/), and register "
                    "the result as model NAME: `cut --model NAME`, `batch --model NAME` and the editor's Model menu "
                    "can use it. Ctrl-C cancels and registers nothing.")
    tu.add_argument("--from", dest="source", type=Path, metavar="DIR",
                    help="a set folder (images/*.jpg + masks/*.png) instead of your corrections")
    tu.add_argument("--steps", type=int, help="optimizer steps (default 60)")
    tu.add_argument("--name", help="the new model's name (default 'personal'; a personal model of that name is "
                                   "replaced)")
    tu.add_argument("--base", help="the model to start from (default: the default model)")
    tu.add_argument("--batch-size", type=int, help="photos per step (default 4)")
    tu.add_argument("--size", type=int, help="training side, px (default 320, the model's; 160 is ~4x faster "
                                             "on a CPU, with softer edges: docs/benchmarks.md#personal-tuning)")
    tu.add_argument("--device", help="auto (default), cpu, cuda, cuda:N, mps")
    tu.set_defaults(handler=run_tune)

    co = sub.add_parser("corrections", help="list or delete the finished photos kept for tuning")
    csub = co.add_subparsers(dest="corrections_command", metavar="ACTION", required=True)
    csub.add_parser("list", help="show the kept photos, their count and size").set_defaults(
        handler=run_corrections_list)
    de = csub.add_parser("delete", help="delete kept photos by name (see `corrections list`), or --all")
    de.add_argument("names", nargs="*", metavar="NAME")
    de.add_argument("--all", action="store_true", help="delete every kept photo")
    de.set_defaults(handler=run_corrections_delete)


def run_tune(args: argparse.Namespace) -> int:
    from cutout_studio.core.training.tune import tune

    given = {"name": args.name, "steps": args.steps, "batch_size": args.batch_size, "size": args.size,
             "device": args.device}
    try:
        result = tune(args.source, base=args.base, **{k: v for k, v in given.items() if v is not None})
    except KeyboardInterrupt:
        print("cutout-studio: tune cancelled: nothing was registered", file=sys.stderr)
        return EXIT_INTERRUPTED
    base = result.provenance["base_model"]
    print(f"registered model '{result.model.card.name}' ({base} tuned on {result.pairs} pair(s), {result.steps} steps, "
          f"{result.seconds:.0f} s) -> {result.model.path}")
    print(f"use it with: cutout-studio cut --model {result.model.card.name} PHOTO")
    return EXIT_OK


def run_corrections_list(args: argparse.Namespace) -> int:
    from cutout_studio.core.corrections import CorrectionsSet, format_size

    corrections = CorrectionsSet()
    entries = corrections.entries()
    print(f"corrections folder: {corrections.root}")
    for entry in entries:
        shoot = f"  [{entry.shoot}]" if entry.shoot else ""
        print(f"  {entry.name}  {entry.date}  {entry.width}×{entry.height}  {entry.source}{shoot}")
    print(f"{len(entries)} photo(s), {format_size(corrections.size_bytes())}")
    return EXIT_OK


def run_corrections_delete(args: argparse.Namespace) -> int:
    from cutout_studio.cli_flags import UsageError
    from cutout_studio.core.corrections import CorrectionsSet

    corrections = CorrectionsSet()
    if args.all == bool(args.names):
        raise UsageError("give the names to delete (see `corrections list`) or --all, not both")
    if args.all:
        print(f"deleted {corrections.clear()} photo(s)")
        return EXIT_OK
    known = {e.name for e in corrections.entries()}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        raise UsageError(f"no kept photo named {', '.join(unknown)} (see `cutout-studio corrections list`)")
    print(f"deleted {corrections.delete(set(args.names))} photo(s)")
    return EXIT_OK
