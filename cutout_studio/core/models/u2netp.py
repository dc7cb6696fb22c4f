"""U²-Netp (Qin et al., "U²-Net: Going Deeper with Nested U-Structure for Salient Object Detection", 2020).

The small (1.1 M parameter) variant: six nested residual U-blocks (RSU-7 … RSU-4F) in an
encoder–decoder, a side output per decoder stage, and a 1×1 convolution fusing the six into
the final mask. Batch-norm is folded into each convolution's weights and bias, as in the
official ONNX export, so those weights load into this module unchanged; the layer order of
``forward`` is the export's, which the weight converter relies on.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cutout_studio.core.models.io import FloatArray, ModelIO


class ConvReLU(nn.Module):
    """The paper's REBNCONV with its batch-norm folded in: 3×3 dilated convolution + ReLU."""

    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x), inplace=True)


def _upsample_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


def _pool(x: torch.Tensor) -> torch.Tensor:
    # ceil_mode keeps odd sizes from losing a row, as the original network does
    return F.max_pool2d(x, 2, stride=2, ceil_mode=True)


class RSU(nn.Module):
    """Residual U-block of ``height`` levels (RSU-7 … RSU-4): a small U-Net inside one stage."""

    def __init__(self, height: int, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv_in = ConvReLU(in_ch, out_ch)
        self.encoders = nn.ModuleList(
            [ConvReLU(out_ch, mid_ch)] + [ConvReLU(mid_ch, mid_ch) for _ in range(height - 2)]
        )
        self.bottom = ConvReLU(mid_ch, mid_ch, dilation=2)
        self.decoders = nn.ModuleList(
            [ConvReLU(mid_ch * 2, mid_ch) for _ in range(height - 2)] + [ConvReLU(mid_ch * 2, out_ch)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hx_in = self.conv_in(x)
        skips = []
        hx = hx_in
        for i, encoder in enumerate(self.encoders):
            hx = encoder(hx if i == 0 else _pool(hx))
            skips.append(hx)
        hx = self.bottom(hx)
        for decoder, skip in zip(self.decoders, reversed(skips)):
            if hx.shape[2:] != skip.shape[2:]:
                hx = _upsample_like(hx, skip)
            hx = decoder(torch.cat((hx, skip), 1))
        out: torch.Tensor = hx + hx_in
        return out


class RSU4F(nn.Module):
    """RSU-4F: the bottom blocks, where resolution is low; dilation replaces pooling."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv_in = ConvReLU(in_ch, out_ch)
        self.encoders = nn.ModuleList(
            [ConvReLU(out_ch, mid_ch, 1), ConvReLU(mid_ch, mid_ch, 2), ConvReLU(mid_ch, mid_ch, 4)]
        )
        self.bottom = ConvReLU(mid_ch, mid_ch, dilation=8)
        self.decoders = nn.ModuleList(
            [ConvReLU(mid_ch * 2, mid_ch, 4), ConvReLU(mid_ch * 2, mid_ch, 2), ConvReLU(mid_ch * 2, out_ch, 1)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hx_in = self.conv_in(x)
        skips = []
        hx = hx_in
        for encoder in self.encoders:
            hx = encoder(hx)
            skips.append(hx)
        hx = self.bottom(hx)
        for decoder, skip in zip(self.decoders, reversed(skips)):
            hx = decoder(torch.cat((hx, skip), 1))
        out: torch.Tensor = hx + hx_in
        return out


class U2NetP(nn.Module):
    """Returns the fused mask and the six side masks, all sigmoid-activated, at the input size."""

    def __init__(self, in_ch: int = 3, out_ch: int = 1) -> None:
        super().__init__()
        self.stage1 = RSU(7, in_ch, 16, 64)
        self.stage2 = RSU(6, 64, 16, 64)
        self.stage3 = RSU(5, 64, 16, 64)
        self.stage4 = RSU(4, 64, 16, 64)
        self.stage5 = RSU4F(64, 16, 64)
        self.stage6 = RSU4F(64, 16, 64)
        self.stage5d = RSU4F(128, 16, 64)
        self.stage4d = RSU(4, 128, 16, 64)
        self.stage3d = RSU(5, 128, 16, 64)
        self.stage2d = RSU(6, 128, 16, 64)
        self.stage1d = RSU(7, 128, 16, 64)
        self.side = nn.ModuleList([nn.Conv2d(64, out_ch, 3, padding=1) for _ in range(6)])
        self.outconv = nn.Conv2d(6 * out_ch, out_ch, 1)

    def logits(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The fused output and the six side outputs before the sigmoid."""
        hx1 = self.stage1(x)
        hx2 = self.stage2(_pool(hx1))
        hx3 = self.stage3(_pool(hx2))
        hx4 = self.stage4(_pool(hx3))
        hx5 = self.stage5(_pool(hx4))
        hx6 = self.stage6(_pool(hx5))

        hx5d = self.stage5d(torch.cat((_upsample_like(hx6, hx5), hx5), 1))
        hx4d = self.stage4d(torch.cat((_upsample_like(hx5d, hx4), hx4), 1))
        hx3d = self.stage3d(torch.cat((_upsample_like(hx4d, hx3), hx3), 1))
        hx2d = self.stage2d(torch.cat((_upsample_like(hx3d, hx2), hx2), 1))
        hx1d = self.stage1d(torch.cat((_upsample_like(hx2d, hx1), hx1), 1))

        d1 = self.side[0](hx1d)
        sides = [d1] + [
            _upsample_like(conv(h), d1) for conv, h in zip(self.side[1:], (hx2d, hx3d, hx4d, hx5d, hx6))
        ]
        d0 = self.outconv(torch.cat(sides, 1))
        return (d0, *sides)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.sigmoid(d) for d in self.logits(x))

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """The fused output only, N×1×H×W."""
        return torch.sigmoid(self.logits(x)[0])


class U2NetPIO(ModelIO):
    """U²-Netp's own pre- and post-processing (the official code's and rembg's): the photo is
    scaled to [0, 1] by its own maximum, and the output is stretched to [0, 1] (min–max)."""

    scale_by_max = True

    def _to_unit_range(self, small: FloatArray) -> None:
        small /= max(float(small.max()), 1.0)

    def postprocess(self, raw: np.ndarray) -> FloatArray:
        lo, hi = float(raw.min()), float(raw.max())
        pred = (raw - lo) / (hi - lo) if hi - lo > 1e-6 else np.zeros_like(raw)
        return super().postprocess(pred)


class U2NetPTunedIO(U2NetPIO):
    """U²-Netp fine-tuned by our trainer: the same input as U²-Netp, but trained with BCE on its
    sigmoid, so its output is already a probability and is not stretched (stretching would turn
    a photo with no subject into a full one)."""

    def postprocess(self, raw: np.ndarray) -> FloatArray:
        return ModelIO.postprocess(self, raw)
