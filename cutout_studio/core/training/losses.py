"""Losses for mask models: BCE plus a soft IoU term, on every side output (deep supervision).

BCE trains every pixel on its own; the IoU term scores the mask as a whole, so a small
object is not drowned out by a large background, and it pushes the mask to be decided near
0 or 1 where the 0.5 threshold cuts it. U²-Net's authors supervise the fused output and all
six side outputs with equal weight; we do the same.

The losses take *logits*: BCE on logits is exact where a sigmoid has saturated, and it is
safe under autocast. :func:`model_logits` gets them from either architecture.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def model_logits(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The model's outputs before their sigmoid: U²-Netp's seven (fused first), U-Net's one.

    U²-Netp exposes ``logits``; the classic U-Net applies its sigmoid inside ``forward``, so
    its 1×1 head's output (the logit) is captured on the way through.
    """
    logits_fn = getattr(model, "logits", None)
    if callable(logits_fn):
        return tuple(logits_fn(x))
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Module):
        raise TypeError(f"{type(model).__name__}: has neither logits() nor a head to read logits from")
    captured: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        model(x)
    finally:
        hook.remove()
    return (captured[-1],)


def soft_iou_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 − soft IoU per image, averaged over the batch (``eps`` keeps empty masks defined)."""
    prob = torch.sigmoid(logits.float()).flatten(1)
    truth = target.float().flatten(1)
    inter = (prob * truth).sum(1)
    union = (prob + truth - prob * truth).sum(1)
    return (1.0 - (inter + eps) / (union + eps)).mean()


def mask_loss(logits: torch.Tensor, target: torch.Tensor, iou_weight: float = 1.0) -> torch.Tensor:
    """BCE + ``iou_weight`` × soft IoU loss, in float32 whatever the autocast dtype."""
    logits = logits.float()
    if logits.shape[-2:] != target.shape[-2:]:
        logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
    bce = F.binary_cross_entropy_with_logits(logits, target.float())
    return bce + iou_weight * soft_iou_loss(logits, target)


def deep_supervision_loss(
    outputs: tuple[torch.Tensor, ...], target: torch.Tensor, iou_weight: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of :func:`mask_loss` over every output, and the fused (first) output's loss alone."""
    losses = [mask_loss(out, target, iou_weight) for out in outputs]
    return torch.stack(losses).sum(), losses[0].detach()
