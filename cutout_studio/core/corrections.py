"""The corrections set: photos the user finished in the editor, kept (opt-in) to tune a personal model.

It is a labelled set as the trainer reads them (``images/NAME.jpg`` + ``masks/NAME.png``, 255 =
foreground) in the user data folder, plus ``index.json``: for each photo its source path, the
date it was kept and the shoot it came from. Photos are shrunk to :data:`MAX_SIDE` (the model
trains at 320 px: a 24 MP original would only cost disk). Keeping the same photo again (finished,
edited, finished again) replaces its entry: one entry per source photo, the last finished mask.

The editor adds to it (setting ``keep_corrections``), the editor's dialog and
``cutout-studio corrections list|delete`` show and delete, ``cutout-studio tune`` trains on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from cutout_studio.core import paths
from cutout_studio.core.atomic import atomic_write_bytes
from cutout_studio.core.errors import CutoutError

_log = logging.getLogger(__name__)

FOLDER = "corrections"
INDEX_FILE = "index.json"
#: long side (px) of the kept photos and masks: room for the trainer's 320-px crops, little disk
MAX_SIDE = 1024
JPEG_QUALITY = 92

#: one writer at a time in this process (the editor keeps photos on a background lane, the
#: dialog deletes on the GUI thread): the index is read, changed and written as one step
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Correction:
    name: str  #: file stem in images/ and masks/
    source: str  #: the photo's path when it was kept
    date: str  #: when it was kept (local time, YYYY-MM-DD HH:MM:SS)
    shoot: str  #: the shoot (folder) it was finished in, "" when unknown
    width: int
    height: int


def corrections_dir() -> Path:
    """The user's corrections set (created on first use)."""
    return paths.data_dir() / FOLDER


class CorrectionsSet:
    """The corrections set in ``root`` (default: :func:`corrections_dir`)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else corrections_dir()

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def masks(self) -> Path:
        return self.root / "masks"

    def photo_path(self, entry: Correction) -> Path:
        return self.images / f"{entry.name}.jpg"

    def mask_path(self, entry: Correction) -> Path:
        return self.masks / f"{entry.name}.png"

    # ------------------------------------------------------------------ reading

    def entries(self) -> list[Correction]:
        """The kept photos, oldest first; entries whose files are gone are left out."""
        with _LOCK:
            return [e for e in self._read_index() if self.photo_path(e).is_file() and self.mask_path(e).is_file()]

    def __len__(self) -> int:
        return len(self.entries())

    def size_bytes(self) -> int:
        """Disk used by the kept photos and masks."""
        total = 0
        for entry in self.entries():
            for path in (self.photo_path(entry), self.mask_path(entry)):
                try:
                    total += path.stat().st_size
                except OSError:
                    pass
        return total

    def _read_index(self) -> list[Correction]:
        path = self.root / INDEX_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            _log.warning("%s is unreadable (%s): the corrections set looks empty", path, exc)
            return []
        entries = []
        for item in raw.get("photos", []) if isinstance(raw, dict) else []:
            try:
                entries.append(Correction(**item))
            except TypeError:
                continue  # a hand-edited entry: skip it, keep the others
        return entries

    def _write_index(self, entries: list[Correction]) -> None:
        data = {"version": 1, "photos": [asdict(e) for e in entries]}
        atomic_write_bytes(self.root / INDEX_FILE, (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode())

    # ------------------------------------------------------------------ writing

    def add(self, rgb: np.ndarray, alpha: np.ndarray, source: str | os.PathLike[str], shoot: str = "") -> Correction:
        """Keep a finished photo (H×W×3 uint8) and its final mask (H×W float in [0, 1] or uint8),
        shrunk to :data:`MAX_SIDE`; replaces what was kept for the same source photo."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise CutoutError("a correction's photo must be an H×W×3 uint8 array")
        if alpha.shape != rgb.shape[:2]:
            raise CutoutError(f"the mask ({alpha.shape[1]}×{alpha.shape[0]}) is not the photo's size "
                              f"({rgb.shape[1]}×{rgb.shape[0]})")
        mask = alpha if alpha.dtype == np.uint8 else np.clip(np.rint(alpha * 255.0), 0, 255).astype(np.uint8)
        photo, mask = _shrink(rgb), _shrink(mask)
        source_text = str(Path(source).expanduser().resolve())
        entry = Correction(
            name=_name_for(source_text),
            source=source_text,
            date=time.strftime("%Y-%m-%d %H:%M:%S"),
            shoot=str(shoot),
            width=photo.shape[1],
            height=photo.shape[0],
        )
        ok_photo, jpeg = cv2.imencode(".jpg", photo[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        ok_mask, png = cv2.imencode(".png", mask)
        if not (ok_photo and ok_mask):
            raise CutoutError(f"{Path(source).name}: cannot encode the correction")
        with _LOCK:
            self.images.mkdir(parents=True, exist_ok=True)
            self.masks.mkdir(parents=True, exist_ok=True)
            # the pair first, the index last: an entry always names complete files
            atomic_write_bytes(self.photo_path(entry), jpeg.tobytes())
            atomic_write_bytes(self.mask_path(entry), png.tobytes())
            entries = [e for e in self._read_index() if e.name != entry.name]
            self._write_index([*entries, entry])
        return entry

    def delete(self, names: list[str] | set[str]) -> int:
        """Delete the kept photos named (their ``name``); returns how many were there."""
        wanted = set(names)
        with _LOCK:
            entries = self._read_index()
            gone = [e for e in entries if e.name in wanted]
            self._write_index([e for e in entries if e.name not in wanted])  # the index first
            for entry in gone:
                self.photo_path(entry).unlink(missing_ok=True)
                self.mask_path(entry).unlink(missing_ok=True)
        return len(gone)

    def clear(self) -> int:
        """Delete every kept photo; returns how many there were."""
        return self.delete({e.name for e in self._read_index()})


def _name_for(source: str) -> str:
    """A file stem unique to the source path, readable (the photo's own stem first)."""
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(source).stem)[:40] or "photo"
    return f"{stem}-{hashlib.sha256(source.encode('utf-8')).hexdigest()[:10]}"


def _shrink(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    scale = MAX_SIDE / max(height, width)
    if scale >= 1.0:
        return np.ascontiguousarray(image)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def format_size(size: int) -> str:
    """``size`` bytes as the dialog and the command line show it (kB / MB)."""
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"
