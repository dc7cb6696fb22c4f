"""Which device runs the model: CUDA > MPS > CPU unless the user says otherwise."""

from __future__ import annotations

import os

import torch

from cutout_studio.core.errors import ModelError


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; a device that is not there is an error."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ModelError(f"unknown device '{spec}' (use auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError("device 'cuda' asked for, but no CUDA GPU is available (use --device cpu)")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ModelError("device 'mps' asked for, but Apple's Metal backend is not available (use --device cpu)")
    return device


def float32_forced() -> bool:
    """True when ``CUTOUT_STUDIO_PRECISION=float32`` is set in the environment: a
    :class:`~cutout_studio.core.segmenter.Segmenter` left to choose (``half=None``: the editor,
    the API) then computes in float32 on every device. The CLI's ``--precision float32`` does
    not use it: it passes ``half=False`` to its Segmenter."""
    return os.environ.get("CUTOUT_STUDIO_PRECISION", "").strip().lower() in ("float32", "fp32", "full")


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bfloat16 in hardware (AVX512-BF16 or AMX); elsewhere
    bfloat16 is emulated and slower than float32."""
    cpu = getattr(torch, "cpu", None)
    if cpu is None:
        return False
    try:
        return bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes (they are private): stay exact
        return False


def device_label(device: torch.device) -> str:
    """What the status bar and `--version` say: "CUDA (NVIDIA H100)", "MPS" or "CPU"."""
    if device.type == "cuda":
        try:
            return f"CUDA ({torch.cuda.get_device_name(device)})"
        except (RuntimeError, AssertionError):
            return "CUDA"
    return device.type.upper()
