"""The classic U-Net (Ronneberger et al., 2015) with padding, for training our own models.

Encoder 64-128-256-512, a 1024-channel bottleneck, transposed-convolution decoder with skip
connections, sigmoid output. Batch-norm after each convolution keeps training stable on the
small batches a desktop GPU allows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cutout_studio.core.models.io import ModelIO


class DoubleConv(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


class UpBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, out_ch, 2, stride=2)
        self.conv = DoubleConv(out_ch * 2, out_ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if x.shape[2:] != skip.shape[2:]:  # odd input sizes: pad the upsampled map to the skip's size
            dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
            x = F.pad(x, (dx // 2, dx - dx // 2, dy // 2, dy - dy // 2))
        out: torch.Tensor = self.conv(torch.cat((skip, x), 1))
        return out


class UNet(nn.Module):
    """N×3×H×W → N×1×H×W mask in [0, 1]; returned as a one-element tuple like U2NetP's outputs."""

    def __init__(self, in_ch: int = 3, out_ch: int = 1, widths: tuple[int, ...] = (64, 128, 256, 512)) -> None:
        super().__init__()
        self.downs = nn.ModuleList()
        ch = in_ch
        for width in widths:
            self.downs.append(DoubleConv(ch, width))
            ch = width
        self.bottleneck = DoubleConv(widths[-1], widths[-1] * 2)
        self.ups = nn.ModuleList(UpBlock(w * 2, w) for w in reversed(widths))
        self.head = nn.Conv2d(widths[0], out_ch, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for up, skip in zip(self.ups, reversed(skips)):
            x = up(x, skip)
        return (torch.sigmoid(self.head(x)),)

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)[0]


class UNetIO(ModelIO):
    """Our U-Net is trained on photos divided by 255 and ImageNet-normalised, with a sigmoid
    output: the base class's processing as it is."""
