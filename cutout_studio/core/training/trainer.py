"""``cutout-studio train``: fine-tune U²-Netp (or train a model from scratch) on labelled sets.

AdamW with a linear warm-up and cosine decay; bfloat16 autocast on CUDA and on CPUs with
native bfloat16 (no loss scaling needed: bfloat16 has float32's range); deep supervision on
every side output. The val part of each set (:mod:`.split`) is scored every ``val_every``
steps and the best weights are kept. A time limit ends the run cleanly: the schedule's
horizon is fitted to the measured step time, so the learning rate has decayed when the time
is up, and the run ends with a val score and a checkpoint.

Sample ``i`` depends only on (seed, i) and the optimizer, weights and RNG states are
checkpointed, so ``N`` steps in one go and ``N/2`` + resume + ``N/2`` give the same weights.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from cutout_studio.core.errors import CancelledError, CutoutError
from cutout_studio.core.models.cards import ModelCard, get_card
from cutout_studio.core.models.device import cpu_has_native_bf16, float32_forced, resolve_device
from cutout_studio.core.models.weights import sha256_of
from cutout_studio.core.training import checkpoint as ckpt
from cutout_studio.core.training.data import (
    StepSampler,
    TrainingSamples,
    TrainingSet,
    list_backgrounds,
    load_training_sets,
    load_val_batch,
)
from cutout_studio.core.training.losses import deep_supervision_loss, model_logits

BASES = ("u2netp", "none", "unet")
#: Seconds a time-limited run keeps for writing its last checkpoint (a few MB; under a second on a local disk).
SAVE_RESERVE_S = 2.0
#: Fields a resumed run may change; the others come from the checkpoint (they decide the samples and the schedule).
SESSION_FIELDS = ("time_limit", "stop_at", "device", "workers", "val_every", "steps", "output")
#: Fields added to TrainConfig after checkpoints were written, with the value that trains as those runs did.
ADDED_FIELDS: dict[str, Any] = {"train_on": "train", "freeze_norm": False}


@dataclass
class TrainConfig:
    data: list[str]
    base: str = "u2netp"  #: u2netp: fine-tune its weights; none: U²-Netp from scratch; unet: the classic U-Net from scratch
    init: str | None = None  #: weights to start from (default for u2netp: the installed model)
    steps: int = 3000
    batch_size: int = 8
    size: int = 320
    lr: float | None = None  #: default 1e-4 fine-tuning, 1e-3 from scratch
    weight_decay: float = 1e-4
    warmup: int | None = None  #: steps; default a tenth of the run, at most 100
    iou_weight: float = 1.0
    synthetic_ratio: float = 0.5
    backgrounds: str | None = None  #: default: the backgrounds/ folder beside the sets
    output: str = "cutout-product.safetensors"
    device: str = "auto"
    workers: int | None = None  #: DataLoader processes; default min(8, cores)
    val_every: int = 200  #: 0: no val score (the last weights are the output)
    val_limit: int = 32  #: val photos per set, spread over the set
    time_limit: float | None = None  #: minutes for this session, start-up included
    stop_at: int | None = None  #: pause at this step (checkpoint, resume later)
    seed: int = 0
    #: "train": each set's train part (its val part is held out); "all": every pair, for a
    #: personal tune on a handful of corrections (``cutout-studio tune``), where a held-out
    #: eighth would leave nothing to learn from (use with val_every=0)
    train_on: str = "train"
    #: keep the base's batch-norm statistics (normalisation layers stay in eval mode): a tune's
    #: batches of 2-4 photos of one kind would replace statistics learnt over many thousands
    freeze_norm: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  #: command line, notes: recorded, not used

    def __post_init__(self) -> None:
        if self.base not in BASES:
            raise CutoutError(f"unknown --base '{self.base}' (use {', '.join(BASES)})")
        for name in ("steps", "batch_size", "size"):
            if getattr(self, name) < 1:
                raise CutoutError(f"--{name.replace('_', '-')} must be at least 1")
        if self.size % 32:
            raise CutoutError(f"--size must be a multiple of 32 (the network halves it five times), got {self.size}")
        if not 0.0 <= self.synthetic_ratio <= 1.0:
            raise CutoutError("--synthetic-ratio must be between 0 and 1")
        if self.time_limit is not None and self.time_limit <= 0:
            raise CutoutError("--time-limit must be positive (minutes)")
        if self.train_on not in ("train", "all"):
            raise CutoutError(f"train_on must be 'train' or 'all', got '{self.train_on}'")

    @property
    def base_lr(self) -> float:
        return self.lr if self.lr is not None else (1e-4 if self.base == "u2netp" else 1e-3)


def card_for(base: str) -> ModelCard:
    return get_card("unet" if base == "unet" else "u2netp")


def build_model(config: TrainConfig) -> tuple[nn.Module, dict[str, Any]]:
    """The model to train and what it started from (recorded in the provenance)."""
    card = card_for(config.base)
    torch.manual_seed(config.seed)  # a from-scratch initialisation is part of the run's seed
    model = card.build()
    if config.init:
        ckpt.load_weights(model, Path(config.init))
        return model, {"base": config.base, "init": str(config.init), "sha256": sha256_of(Path(config.init))}
    if config.base == "u2netp":
        from cutout_studio.core.models.weights import installed, load_model

        model = load_model(card, torch.device("cpu"))
        found = installed(card)
        return model, {"base": "u2netp", "init": str(found.path) if found else None,
                       "sha256": found.sha256 if found else None}
    return model, {"base": config.base, "init": None, "sha256": None}


def normalise_batch(rgb: torch.Tensor, card: ModelCard) -> torch.Tensor:
    """N×S×S×3 uint8 → N×3×S×S float32 model input, as :func:`segmenter.preprocess` does it.

    Done on the device so that workers send a quarter of the bytes; a test checks it against
    ``preprocess`` on a real photo.
    """
    x = rgb.permute(0, 3, 1, 2).float()
    if card.io.scale_by_max:
        x = x / x.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1.0)
    else:
        x = x / 255.0
    mean = torch.tensor(card.io.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(card.io.std, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def learning_rate(step: int, base: float, warmup: int, horizon: int) -> float:
    """Linear warm-up to ``base``, then cosine decay to 1 % of it at ``horizon``."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, horizon - warmup))
    return base * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _autocast(device: torch.device) -> torch.autocast:
    if device.type == "cuda":
        enabled = not float32_forced()
    else:
        enabled = device.type == "cpu" and cpu_has_native_bf16() and not float32_forced()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def _precision(device: torch.device) -> str:
    with _autocast(device) as ac:
        return "bfloat16" if ac._enabled else "float32"


def train_mode(model: nn.Module, freeze_norm: bool) -> None:
    """``model.train()``, with its batch-norm layers left in eval mode (their running statistics
    kept) when ``freeze_norm``."""
    model.train()
    if freeze_norm:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


# --------------------------------------------------------------------------------------------
# val


class Validator:
    """The val parts of the sets, loaded once; :meth:`score` gives IoU and MAE per set at the model's size."""

    def __init__(self, sets: Sequence[TrainingSet], card: ModelCard, size: int, limit: int, device: torch.device,
                 freeze_norm: bool = False) -> None:
        from cutout_studio.core.evaluate import _spread

        self.card, self.device, self.freeze_norm = card, device, freeze_norm
        self.sets: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.files: dict[str, list[str]] = {}
        for s in sets:
            pairs = _spread(list(s.val), limit)
            if pairs:
                self.sets[s.name] = load_val_batch(pairs, size)
                self.files[s.name] = [p.name for p, _ in pairs]

    def score(self, model: nn.Module, batch_size: int) -> dict[str, Any]:
        model.eval()
        per_set = {}
        with torch.no_grad(), _autocast(self.device):
            for name, (images, masks) in self.sets.items():
                ious, maes = [], []
                for start in range(0, len(images), batch_size):
                    x = normalise_batch(images[start : start + batch_size].to(self.device), self.card)
                    truth = masks[start : start + batch_size].to(self.device).float() / 255.0
                    prob = torch.sigmoid(model_logits(model, x)[0].float())
                    maes.append((prob - truth).abs().mean(dim=(1, 2, 3)))
                    pred, actual = prob > 0.5, truth > 0.5
                    inter = (pred & actual).sum(dim=(1, 2, 3)).float()
                    union = (pred | actual).sum(dim=(1, 2, 3)).float()
                    ious.append(torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)))
                per_set[name] = {"iou": round(float(torch.cat(ious).mean()), 5),
                                 "mae": round(float(torch.cat(maes).mean()), 5), "images": len(images)}
        train_mode(model, self.freeze_norm)
        if not per_set:
            return {"sets": {}, "score": None}
        mean_iou = float(np.mean([v["iou"] for v in per_set.values()]))
        mean_mae = float(np.mean([v["mae"] for v in per_set.values()]))
        return {"sets": per_set, "iou": round(mean_iou, 5), "mae": round(mean_mae, 5),
                "score": round(mean_iou - mean_mae, 5)}


# --------------------------------------------------------------------------------------------
# the run


def config_from_checkpoint(resume: str | Path, **session: Any) -> TrainConfig:
    """The config a checkpoint was made with, with this session's fields (``SESSION_FIELDS``) replaced where given."""
    import json

    folder = ckpt.resolve_resume(resume)
    saved = json.loads((folder / "state.json").read_text(encoding="utf-8"))["config"]
    unknown = set(session) - set(SESSION_FIELDS)
    if unknown:
        raise CutoutError(f"a resumed run keeps its {', '.join(sorted(unknown))} (they decide the samples and schedule)")
    # a pause point or time limit belongs to the session that set it
    saved.update({"stop_at": None, "time_limit": None})
    saved.update({k: v for k, v in session.items() if v is not None})
    return TrainConfig(**saved)


def default_workers() -> int:
    return min(8, os.cpu_count() or 1)


def _worker_init(_worker_id: int) -> None:
    import cv2

    cv2.setNumThreads(1)  # the workers are the parallelism; OpenCV's own threads would fight them


def _loader(
    dataset: TrainingSamples, start: int, stop: int, config: TrainConfig, device: torch.device
) -> tuple[DataLoader[tuple[torch.Tensor, torch.Tensor]], int]:
    workers = default_workers() if config.workers is None else max(0, config.workers)
    prefetch = 4
    if workers:
        # batches in flight travel through shared memory: a container's small /dev/shm must not overflow
        batch_bytes = config.batch_size * config.size * config.size * 4
        try:
            free = os.statvfs("/dev/shm").f_bavail * os.statvfs("/dev/shm").f_frsize
        except OSError:
            free = 1 << 40
        asked = workers
        while workers > 1 and workers * prefetch * batch_bytes > free // 2:
            if prefetch > 1:
                prefetch -= 1
            else:
                workers -= 1
        if workers < asked:
            print(f"only {free >> 20} MB free in /dev/shm: {workers} loader workers instead of {asked}", file=sys.stderr)
    kwargs: dict[str, Any] = {}
    if workers:
        # Workers start from a fresh process (forkserver; spawn where there is none), never a fork
        # of this one: a fork of a process whose threads hold locks (OpenCV's pool, Qt, torch's
        # intra-op threads: a test run, the editor) hung in the child's first OpenCV call.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        kwargs = {"prefetch_factor": prefetch, "worker_init_fn": _worker_init, "multiprocessing_context": context,
                  "persistent_workers": False}
    return DataLoader(dataset, batch_sampler=StepSampler(start, stop, config.batch_size), num_workers=workers,
                      pin_memory=device.type == "cuda", **kwargs), workers


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def train(
    config: TrainConfig,
    *,
    resume: str | Path | None = None,
    progress: bool = True,
    cancelled: Callable[[], bool] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run (or continue) a training; returns the final record (what ``OUT.json`` holds).

    ``cancelled`` is asked before each step: True ends the run as Ctrl-C does (a checkpoint,
    then :class:`CancelledError`). ``on_step(step, stop)`` follows each step (the editor's
    progress bar; the terminal has tqdm's)."""
    started = time.monotonic()
    limit_s = config.time_limit * 60.0 if config.time_limit else None
    device = resolve_device(config.device)
    sets = load_training_sets(config.data)
    from cutout_studio.core.training.data import find_sets

    backgrounds = list_backgrounds(config.backgrounds or find_sets(config.data)[1])
    train_pairs = [pair for s in sets for pair in (s.train if config.train_on == "train" else (*s.train, *s.val))]
    card = card_for(config.base)
    output = Path(config.output).expanduser()
    output.parent.mkdir(parents=True, exist_ok=True)

    if resume is not None:
        folder = ckpt.resolve_resume(resume)
        torch.manual_seed(config.seed)
        model = card.build()
        base_info: dict[str, Any] = {}
    else:
        model, base_info = build_model(config)
    model.to(device)
    if device.type == "cuda":
        # (torch's stubs leave out Module.to's memory_format keyword)
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        torch.backends.cudnn.benchmark = True
    train_mode(model, config.freeze_norm)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.base_lr, weight_decay=config.weight_decay)
    state: dict[str, Any] = {"step": 0, "horizon": config.steps, "best": None, "history": [], "base": base_info,
                             "images": 0, "train_seconds": 0.0}
    if resume is not None:
        state = ckpt.load_checkpoint(folder, model, optimizer)
        # fields added since a checkpoint was written count as their value that behaves as before
        saved = {k: v for k, v in {**ADDED_FIELDS, **state["config"]}.items()
                 if k not in SESSION_FIELDS and k != "extra"}
        asked = {k: v for k, v in asdict(config).items() if k not in SESSION_FIELDS and k != "extra"}
        if saved != asked:
            # both sides' keys: a field added to TrainConfig since the checkpoint is a change too
            changed = sorted(k for k in saved.keys() | asked.keys() if saved.get(k) != asked.get(k))
            raise CutoutError(f"the checkpoint was made with other {', '.join(changed)}; a resumed run must keep them")
    state["config"] = asdict(config)
    if limit_s is None:
        state["horizon"] = config.steps
    warmup = config.warmup if config.warmup is not None else max(1, min(100, config.steps // 10))
    stop = min(config.stop_at or config.steps, config.steps)
    start_step = state["step"]

    validator = (Validator(sets, card, config.size, config.val_limit, device, config.freeze_norm)
                 if config.val_every > 0 else None)
    record: dict[str, Any] = {
        "model": card.architecture,
        "base": state["base"],
        "config": state["config"],
        "commit": _git_commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "precision": _precision(device),
        "data": {s.name: {"root": str(s.root), "train": [p.name for p, _ in s.train], "val": [p.name for p, _ in s.val]}
                 for s in sets},
        "backgrounds": {"folder": str(backgrounds[0].parent) if backgrounds else None, "count": len(backgrounds)},
        "val_files": validator.files if validator else {},
    }

    def validate(step: int) -> float:
        t0 = time.monotonic()
        result: dict[str, Any] = validator.score(model, max(8, config.batch_size)) if validator else {"score": None}
        result["step"] = step
        state["history"].append(result)
        best = state["best"]
        if result["score"] is not None and (best is None or result["score"] > best["score"]):
            state["best"] = result
            ckpt.save_weights(model, output, {"model": card.name, "step": str(step)})
        if result["score"] is not None:
            tqdm.write(f"step {step}: val IoU {result['iou']:.4f} MAE {result['mae']:.4f} "
                      + " ".join(f"{k} {v['iou']:.3f}/{v['mae']:.4f}" for k, v in result["sets"].items()))
        return time.monotonic() - t0

    def save() -> dict[str, Any]:
        state["step"] = step
        ckpt.save_checkpoint(ckpt.checkpoint_dir(output), model, optimizer, state)
        if validator is None or state["best"] is None:  # nothing scored: the output is the last weights
            ckpt.save_weights(model, output, {"model": card.name, "step": str(step)})
        seconds = state["train_seconds"]
        final = {**record, "step": step, "horizon": state["horizon"], "history": state["history"],
                 "best": state["best"], "images_seen": state["images"],
                 "images_per_second": round(state["images"] / seconds, 2) if seconds else None,
                 "sha256": sha256_of(output) if output.exists() else None}
        ckpt.write_json(ckpt.sidecar_json(output), final)
        return final

    step = start_step
    # in a log (no terminal) the bar still reports, every 10 s instead of redrawing
    bar = tqdm(total=stop, initial=step, unit="step", desc="training", disable=not progress, file=sys.stderr,
               dynamic_ncols=True, mininterval=0.1 if sys.stderr.isatty() else 10.0)
    val_seconds = 0.0
    if validator is not None and resume is None:
        val_seconds = validate(step)  # the starting point: what the base weights score
    dataset = TrainingSamples(train_pairs, size=config.size, seed=config.seed,
                              synthetic_ratio=config.synthetic_ratio, backgrounds=backgrounds)
    loader, workers = _loader(dataset, step, stop, config, device)
    bar.write(f"{len(train_pairs)} training pairs from {len(sets)} set(s), {len(backgrounds)} backgrounds; "
              f"{workers} loader worker(s); {device} {record['precision']}")
    ema: float | None = None
    step_times: list[float] = []
    last = time.monotonic()
    session_images, session_seconds = 0, 0.0
    try:
        for images, masks in loader:
            if cancelled is not None and cancelled():
                raise CancelledError(f"training cancelled at step {step}")
            now = time.monotonic()
            step_time = float(np.median(step_times[-25:])) if step_times else 0.0
            if limit_s is not None and now - started + step_time + val_seconds * 1.5 + SAVE_RESERVE_S > limit_s:
                bar.write(f"time limit: stopping at step {step}")
                break
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, config.base_lr, warmup, state["horizon"])
            x = normalise_batch(images.to(device, non_blocking=True), card)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            target = masks.to(device, non_blocking=True)[:, None].float() / 255.0
            with _autocast(device):
                outputs = model_logits(model, x)
            loss, fused = deep_supervision_loss(outputs, target, config.iou_weight)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)  # what loss.backward() runs, through torch's typed entry point
            optimizer.step()
            step += 1
            state["images"] += len(images)
            session_images += len(images)
            if step % 10 == 0 or step == stop or device.type != "cuda":
                value = float(fused)
                ema = value if ema is None else 0.9 * ema + 0.1 * value
                bar.set_postfix(loss=f"{ema:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}", refresh=False)
            bar.update(1)
            if on_step is not None:
                on_step(step, stop)
            finished = time.monotonic()
            step_times.append(finished - last)
            session_seconds += finished - last
            if limit_s is not None and step % 25 == 0 and step - start_step >= 20:
                # fit the schedule to the time left, so the learning rate has decayed when it is up;
                # periodic val passes cost their share of every step, the final one is kept in reserve
                per_step = float(np.median(step_times[-25:]))
                if validator is not None:
                    per_step += val_seconds / config.val_every
                left = limit_s - (finished - started) - 1.5 * val_seconds - SAVE_RESERVE_S
                state["horizon"] = int(min(config.steps, step + max(0.0, left) / per_step))
                bar.total = min(stop, state["horizon"])
            if validator is not None and step % config.val_every == 0 and step < stop:
                val_seconds = validate(step)
                save()
            last = time.monotonic()
    except (KeyboardInterrupt, CancelledError):
        bar.write(f"interrupted at step {step}: saving a checkpoint to resume from")
        state["train_seconds"] += session_seconds
        save()
        raise
    finally:
        bar.close()
    state["train_seconds"] += session_seconds
    if validator is not None and (not state["history"] or state["history"][-1]["step"] != step):
        validate(step)
    final = save()
    final["session_images_per_second"] = round(session_images / session_seconds, 2) if session_seconds else None
    final["elapsed_seconds"] = round(time.monotonic() - started, 1)
    return final
