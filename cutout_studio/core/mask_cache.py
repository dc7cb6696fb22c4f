"""Automatic masks kept on disk, so that a shoot is masked once, not every time a photo is shown.

The editor masks a whole folder in the background and keeps only a few photos in memory; the
masks of the others are written here (8-bit PNG, named by the photo's content key and the
model), and showing a photo later (or reopening the shoot tomorrow) reads its mask instead of
running the model again. The mask is quantised to 8 bits *before* anything uses it, whether it
was just computed or read back (:func:`quantise`), so that a photo's strokes replay onto the
very same automatic mask in every session.

A mask made with a clean plate (:mod:`~cutout_studio.core.clean_plate`) is another mask: its
name carries the plate's identity (:func:`mask_variant`: path, size and modification time), so
setting, changing or clearing a shoot's plate never reuses a mask made without it (or with
another). When a plate does not fit a photo, the model's mask is stored under the plate's
name with the one-line reason beside it (:meth:`MaskCache.note`), so a photo read back from the
cache still says why its plate was not used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

import cv2
import numpy as np

from cutout_studio.core import paths
from cutout_studio.core.atomic import atomic_write_bytes, remove_older_than
from cutout_studio.core.clean_plate import PLATE_VERSION

_log = logging.getLogger(__name__)

MASKS_FOLDER = "masks"
#: Masks not read or written for this long are removed by :meth:`MaskCache.prune`.
KEEP_DAYS = 60
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def plate_tag(plate: str | os.PathLike[str] | None) -> str:
    """A short identity of the clean plate file: its absolute path, size and modification time
    (one stat); "" without a plate. OSError when the file cannot be read."""
    if plate is None:
        return ""
    file = Path(plate).expanduser().absolute()
    stat = file.stat()
    text = f"{file}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def mask_variant(model: str, tag: str = "") -> str:
    """The name the cache keeps a photo's mask under: the model's, plus the plate's tag
    (:func:`plate_tag`) and the plate algorithm's version."""
    return f"{model}+plate{PLATE_VERSION}-{tag}" if tag else model


def _to_uint8(alpha: np.ndarray) -> np.ndarray:
    """The 8-bit levels the cache stores."""
    return np.rint(np.clip(alpha, 0.0, 1.0) * 255.0).astype(np.uint8)


def _to_alpha(levels: np.ndarray) -> np.ndarray:
    """Stored 8-bit levels as a read-only float32 alpha."""
    out: np.ndarray = levels.astype(np.float32) / np.float32(255.0)
    out.setflags(write=False)
    return out


def quantise(alpha: np.ndarray) -> np.ndarray:
    """``alpha`` (0..1 float) as the cache stores it: 8-bit steps, as float32 (read-only)."""
    return _to_alpha(_to_uint8(alpha))


class MaskCache:
    """Automatic masks by (content key, model); ``root`` defaults to the data folder's."""

    def __init__(self, root: Path | None = None) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        return self._root if self._root is not None else paths.data_dir() / MASKS_FOLDER

    def path_for(self, key: str, model: str) -> Path:
        if not key or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a content key: {key!r}")
        return self.root / f"{key}-{_SAFE.sub('_', model)}.png"

    def load(self, key: str, model: str, size: tuple[int, int]) -> np.ndarray | None:
        """The cached mask of a ``size`` = (width, height) photo, or None (absent, unreadable,
        another size)."""
        path = self.path_for(key, model)
        if not path.is_file():
            return None
        mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if mask is None or mask.ndim != 2 or mask.dtype != np.uint8 or (mask.shape[1], mask.shape[0]) != size:
            _log.warning("cached mask %s is unusable: computed again", path.name)
            return None
        for used in (path, path.with_suffix(".txt")):
            try:
                os.utime(used)  # recently used: kept by prune (the note, if any, with its mask)
            except OSError:
                pass
        return _to_alpha(mask)

    def save(self, key: str, model: str, alpha: np.ndarray, note: str = "") -> None:
        """Store ``alpha`` (already :func:`quantise`\\ d) and the one-line ``note`` made with it
        (why a clean plate was not used); a failure is logged, never raised (the mask is still
        in memory; it is only computed again next time)."""
        ok, data = cv2.imencode(".png", _to_uint8(alpha), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            _log.warning("cannot encode the mask of %s", key[:12])
            return
        path = self.path_for(key, model)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            note_path = path.with_suffix(".txt")
            if note:  # written first: a mask on disk never lacks the note it was made with
                atomic_write_bytes(note_path, note.encode("utf-8"))
            else:
                note_path.unlink(missing_ok=True)
            atomic_write_bytes(path, data.tobytes())
        except OSError as exc:
            _log.warning("cannot cache the mask of %s: %s", key[:12], exc)

    def has(self, key: str, model: str) -> bool:
        """Whether a mask of ``key`` by ``model`` (a :func:`mask_variant`) is stored."""
        return self.path_for(key, model).is_file()

    def note(self, key: str, model: str) -> str:
        """The note stored with the mask ("" when none, or unreadable)."""
        try:
            return self.path_for(key, model).with_suffix(".txt").read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return ""

    def forget_model(self, model: str) -> int:
        """Remove every mask cached for ``model``, with or without a clean plate (a personal model
        tuned again or deleted: its name stays, its masks no longer hold); returns how many."""
        # the model's own masks, and those with a plate of any version
        names = (f"-{_SAFE.sub('_', model)}.png", f"-{_SAFE.sub('_', model)}_plate")
        removed = 0
        for path in self.root.glob("*.png") if self.root.is_dir() else ():
            key, _, rest = path.name.partition("-")
            # keys are hex digits: the model is exactly what follows the first '-'
            if not key.isalnum() or not (f"-{rest}" == names[0] or f"-{rest}".startswith(names[1])):
                continue
            path.unlink(missing_ok=True)
            path.with_suffix(".txt").unlink(missing_ok=True)  # a plate's note, when there is one
            removed += 1
        return removed

    def prune(self, keep_days: float = KEEP_DAYS) -> int:
        """Remove masks not used for ``keep_days``; returns how many."""
        return remove_older_than(self.root, keep_days)
