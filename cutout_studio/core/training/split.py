"""The train / val split of a labelled set: fixed per file, so the val part is never trained on.

Each photo goes to ``val`` or ``train`` by a hash of its file stem alone, so that the split
does not depend on which other files the set holds: adding photos to a set never moves an
existing photo from val to train (or back), and every machine computes the same split.
Kept free of heavy imports: :mod:`cutout_studio.core.evaluate` uses it too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

#: Share of each set held out for validation, in percent (about one photo in eight).
VAL_PERCENT = 12
SPLITS = ("train", "val", "all")

#: A (photo, mask, ...) record; its first item names the photo.
T = TypeVar("T", bound=tuple[str | Path, ...])


def split_of(name: str) -> str:
    """``"val"`` or ``"train"`` for a photo, from its file stem (``"x.jpg"`` and ``"x"`` agree)."""
    stem = Path(name).stem
    bucket = int.from_bytes(hashlib.sha256(stem.encode("utf-8")).digest()[:4], "big") % 100
    return "val" if bucket < VAL_PERCENT else "train"


def select_split(pairs: Sequence[T], split: str) -> list[T]:
    """The (photo, mask, ...) pairs of one split; ``"all"`` keeps every pair, in order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}' (use {', '.join(SPLITS)})")
    if split == "all":
        return list(pairs)
    return [pair for pair in pairs if split_of(Path(pair[0]).name) == split]
