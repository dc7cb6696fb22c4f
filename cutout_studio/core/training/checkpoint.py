"""Checkpoints that a run resumes from exactly, and the weights file the product loads.

A run writing ``OUT.safetensors`` keeps beside it:

- ``OUT.safetensors``: the best weights by val score (the model's plain state dict, the
  same keys as the installed model's, so ``models import`` and a model card load it);
- ``OUT.json``: config, base weights, the training and val files, val history, throughput,
  and the sha256 of ``OUT.safetensors`` (the record ``models`` checks a weights file by);
- ``OUT.ckpt/``: the latest state: ``weights.safetensors``, ``optimizer.pt`` (optimizer
  state and RNG states; tensors and plain containers only, loaded with ``weights_only``)
  and ``state.json`` (step, schedule horizon, best score, history, config).

Every file is written to a temporary name and moved into place, so a run killed while
saving leaves the previous checkpoint whole.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cutout_studio.core.errors import CutoutError


def checkpoint_dir(output: str | Path) -> Path:
    return Path(output).with_suffix(".ckpt")


def sidecar_json(output: str | Path) -> Path:
    return Path(output).with_suffix(".json")


def resolve_resume(path: str | Path) -> Path:
    """The checkpoint folder named by ``--resume``: the folder itself or the weights file it belongs to."""
    candidate = Path(path).expanduser()
    if candidate.suffix == ".safetensors":
        candidate = checkpoint_dir(candidate)
    if not (candidate / "state.json").is_file():
        raise CutoutError(f"{path}: no checkpoint there (expected a .ckpt folder with state.json)")
    return candidate


def save_weights(model: nn.Module, dest: Path, metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = dest.with_name(dest.name + ".tmp")
    save_file(state, str(tmp), metadata=metadata or {})
    os.replace(tmp, dest)


def load_weights(model: nn.Module, path: Path) -> None:
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise CutoutError(f"{path.name}: not a valid safetensors file ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CutoutError(f"{path.name}: weights do not fit the architecture ({first})") from None


def write_json(dest: Path, data: dict[str, Any]) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, dest)


def save_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(model, folder / "weights.safetensors")
    extra = {
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    tmp = folder / "optimizer.pt.tmp"
    torch.save(extra, tmp)
    os.replace(tmp, folder / "optimizer.pt")
    write_json(folder / "state.json", state)  # last: a state.json always names complete files


def load_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore weights, optimizer and RNG states in place; returns the saved state dict."""
    state: dict[str, Any] = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    load_weights(model, folder / "weights.safetensors")
    extra = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(extra["optimizer"])
    torch.set_rng_state(extra["torch_rng"])
    if extra.get("cuda_rng") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(extra["cuda_rng"])
    return state

