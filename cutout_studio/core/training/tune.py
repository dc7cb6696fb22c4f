"""Personal tuning: a short fine-tune of an installed model on the user's corrections, registered
as a user card (``cutout-studio tune``, the editor's Model › Tune on my corrections…).

It is :func:`trainer.train` with settings for a handful of photos: every pair is trained on
(``train_on="all"``: holding out an eighth of five photos would leave nothing), no val passes,
no loader processes (the few photos are decoded once and cached), and the weights go to a
scratch folder in the models folder. Only when the run ends are they registered as the card
``NAME`` (weights, then the record that makes the card exist); a cancelled or failed run
removes its scratch folder, so nothing half-written is ever registered.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cutout_studio.core.corrections import CorrectionsSet
from cutout_studio.core.errors import CutoutError, ModelError, ModelNotInstalledError
from cutout_studio.core.evaluate import find_pairs
from cutout_studio.core.mask_cache import MaskCache
from cutout_studio.core.models.cards import ARCHITECTURES, ModelCard, check_user_name, get_card
from cutout_studio.core.models.weights import InstalledModel, installed, register_user_model
from cutout_studio.core.paths import models_dir

DEFAULT_NAME = "personal"
DEFAULT_STEPS = 60
DEFAULT_BATCH = 4
DEFAULT_SIZE = 320
#: share of samples that put a correction's subject on a synthetic product backdrop (the rest
#: are the corrections themselves, augmented): the user's own photos weigh most
SYNTHETIC_RATIO = 0.25


@dataclass(frozen=True)
class TuneResult:
    model: InstalledModel
    pairs: int  #: photo/mask pairs trained on
    steps: int
    seconds: float  #: the whole tune, start-up and registering included
    provenance: dict[str, Any]


def tune_base(base: str | None) -> tuple[ModelCard, InstalledModel]:
    """The base model's card and installed weights (ModelError with the reason when it cannot be tuned)."""
    card = get_card(base)
    if card.architecture not in ARCHITECTURES:
        raise ModelError(f"{card.name}: its {card.architecture} architecture cannot be tuned")
    found = installed(card)
    if found is None:
        raise ModelNotInstalledError(f"model '{card.name}' is not installed: nothing to tune from")
    return card, found


def tune_data(source: str | Path | None) -> tuple[Path, int]:
    """The set to tune on (a folder with images/ + masks/; default the corrections set) and its pair count."""
    if source is None:
        folder = CorrectionsSet().root
        if not CorrectionsSet().entries():
            raise CutoutError("no corrections kept yet: turn on 'Keep finished photos for tuning' in the editor "
                              "(Model menu) and finish some photos, or give --from DIR (images/ + masks/)")
    else:
        folder = Path(source).expanduser()
    return folder, len(find_pairs(folder).pairs)  # a one-line CutoutError for a folder that is not a set


def tune(
    source: str | Path | None = None,
    *,
    name: str = DEFAULT_NAME,
    base: str | None = None,
    steps: int = DEFAULT_STEPS,
    batch_size: int = DEFAULT_BATCH,
    size: int = DEFAULT_SIZE,
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
    cancelled: Callable[[], bool] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> TuneResult:
    """Fine-tune ``base`` (default: the default model) on ``source`` (default: the corrections
    set) for ``steps`` and register the result as the user card ``name``.

    Cancelling (``cancelled`` returning True, or Ctrl-C) raises CancelledError /
    KeyboardInterrupt and leaves the models folder as it was.
    """
    from cutout_studio.core.training.trainer import TrainConfig, train

    started = time.monotonic()
    check_user_name(name)
    if steps < 1:
        raise CutoutError("--steps must be at least 1")
    card, found = tune_base(base)
    folder, pairs = tune_data(source)
    scratch = Path(tempfile.mkdtemp(prefix=".tune-", dir=models_dir()))
    try:
        output = scratch / f"{name}.safetensors"
        config = TrainConfig(
            data=[str(folder)],
            base="unet" if card.architecture == "U-Net" else "u2netp",
            init=str(found.path),
            steps=steps,
            batch_size=batch_size,
            size=size,
            synthetic_ratio=SYNTHETIC_RATIO,
            output=str(output),
            device=device,
            workers=0,  # a few photos, decoded once: loader processes would cost more than they save
            val_every=0,
            train_on="all",
            freeze_norm=True,
            seed=seed,
            extra={"tune": name},
        )
        record = train(config, progress=progress, cancelled=cancelled, on_step=on_step)
        date = time.strftime("%Y-%m-%d %H:%M:%S")
        provenance = {
            "base_model": card.name,
            "base_sha256": found.sha256,
            "corrections": pairs,
            "data": str(folder.resolve()),
            "steps": steps,
            "batch_size": batch_size,
            "size": size,
            "learning_rate": config.base_lr,
            "synthetic_ratio": SYNTHETIC_RATIO,
            "seed": seed,
            "device": record.get("device"),
            "train_seconds": round(time.monotonic() - started, 1),
            "commit": record.get("commit"),
            "date": date,
        }
        result = register_user_model(
            name,
            card.architecture,
            output,
            description=f"Personal: {card.name} tuned on {pairs} correction(s), {steps} steps "
                        f"({date[:10]})",
            licence=f"yours (tuned from {card.name}: {card.licence})",
            provenance=provenance,
            io=type(card.io).__name__,  # the base's output handling: a short tune does not recalibrate it
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    MaskCache().forget_model(name)  # masks cached under this name came from the weights replaced
    return TuneResult(result, pairs, steps, round(time.monotonic() - started, 1), provenance)
