"""Shoots: a folder of photos worked through in the editor, with what belongs to it as a whole.

A photo's own work (its strokes, its edge settings, whether it is finished or exported) lives
in the session store, keyed by the photo's content. What belongs to the shoot lives here,
keyed by the shoot's folder: where its outputs go (quick export and Export all), the edge
settings new photos of the shoot start from, its clean plate (the empty backdrop its photos'
automatic masks are compared with: :mod:`~cutout_studio.core.clean_plate`), and when it was last
opened (File › Recent shoots). One small JSON file for all shoots, written atomically; a file that cannot be read
is set aside and the shoots start afresh (nothing of a photo's work is in it).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cutout_studio.core import paths
from cutout_studio.core.atomic import atomic_write_bytes
from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.options import OptionsError

_log = logging.getLogger(__name__)

SHOOTS_FILE = "shoots.json"
#: Recent shoots kept (the oldest are forgotten; their photos' work stays in the session store).
KEEP_SHOOTS = 50
#: The output folder of a shoot nobody chose one for: inside the shoot's folder (the scanner
#: never takes our outputs for photos, so reopening the shoot does not open its cutouts).
DEFAULT_OUTPUT_NAME = "cutouts"


def common_folder(paths: Sequence[Path]) -> Path | None:
    """The deepest folder holding all ``paths`` (a folder among them counts as itself)."""
    folders = [p if p.is_dir() else p.parent for p in (Path(p).expanduser().absolute() for p in paths)]
    if not folders:
        return None
    try:
        return Path(os.path.commonpath([str(f) for f in folders]))
    except ValueError:  # different drives
        return folders[0]


@dataclass(frozen=True)
class Shoot:
    folder: Path  #: the shoot's folder (absolute)
    output_dir: Path | None = None  #: None: ``folder / DEFAULT_OUTPUT_NAME``
    edges: EdgeOptions = field(default_factory=EdgeOptions)  #: what new photos start from
    opened_at: float = 0.0
    clean_plate: Path | None = None  #: the empty backdrop of the shoot's set-up (None: no plate)

    @property
    def output(self) -> Path:
        return self.output_dir if self.output_dir is not None else self.folder / DEFAULT_OUTPUT_NAME

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "output_dir": str(self.output_dir) if self.output_dir is not None else None,
            "edges": self.edges.to_dict(),
            "opened_at": self.opened_at,
            "clean_plate": str(self.clean_plate) if self.clean_plate is not None else None,
        }

    @classmethod
    def from_json(cls, data: Any) -> Shoot:
        if not isinstance(data, dict) or not isinstance(data.get("folder"), str):
            raise ValueError("not a shoot")
        output = data.get("output_dir")
        plate = data.get("clean_plate")
        try:
            edges = EdgeOptions.from_dict(data.get("edges") or {})
        except (OptionsError, TypeError) as exc:
            _log.warning("shoot %s: edge settings unreadable (%s): defaults used", data["folder"], exc)
            edges = EdgeOptions()
        return cls(
            folder=Path(data["folder"]),
            output_dir=Path(output) if isinstance(output, str) and output else None,
            edges=edges,
            opened_at=float(data.get("opened_at", 0.0)),
            clean_plate=Path(plate) if isinstance(plate, str) and plate else None,
        )


class ShootStore:
    """Every shoot's record, in one file (``path`` defaults to the data folder's)."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else paths.data_dir() / SHOOTS_FILE

    def _load_all(self) -> dict[str, Shoot]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            _log.warning("cannot read the shoots in %s: %s", self.path, exc)
            return {}
        try:
            items = json.loads(text)
            if not isinstance(items, list):
                raise ValueError("not a list of shoots")
            shoots = [Shoot.from_json(item) for item in items]
        except (ValueError, TypeError) as exc:
            backup = self.path.with_suffix(".corrupt")
            _log.warning("shoots file %s is unreadable (%s): moved to %s", self.path, exc, backup.name)
            try:
                os.replace(self.path, backup)
            except OSError:
                pass
            return {}
        return {str(shoot.folder): shoot for shoot in shoots}

    def get(self, folder: str | os.PathLike[str]) -> Shoot:
        """The shoot of ``folder`` (a fresh one, not yet saved, if it was never opened)."""
        key = Path(folder).expanduser().absolute()
        return self._load_all().get(str(key)) or Shoot(key)

    def save(self, shoot: Shoot) -> None:
        """Write ``shoot`` (replacing its earlier record); raises OSError when it cannot."""
        shoots = self._load_all()
        shoots[str(shoot.folder)] = shoot
        newest = sorted(shoots.values(), key=lambda s: s.opened_at, reverse=True)[:KEEP_SHOOTS]
        data = json.dumps([s.to_json() for s in newest], indent=1, ensure_ascii=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path, data.encode("utf-8"))

    def opened(self, folder: str | os.PathLike[str], new_edges: EdgeOptions | None = None,
               new_plate: Path | None = None) -> Shoot:
        """Mark ``folder``'s shoot as opened now (first in Recent shoots) and return it; a shoot
        never opened before starts from ``new_edges`` and ``new_plate`` when they are given."""
        shoot = self.get(folder)
        if shoot.opened_at == 0 and new_edges is not None:
            shoot = replace(shoot, edges=new_edges)
        if shoot.opened_at == 0 and new_plate is not None:
            shoot = replace(shoot, clean_plate=new_plate)
        shoot = replace(shoot, opened_at=time.time())
        try:
            self.save(shoot)
        except OSError as exc:
            _log.warning("cannot save the shoot %s: %s", shoot.folder, exc)
        return shoot

    def plates(self) -> set[Path]:
        """Every shoot's clean plate: files the editor never opens as photos."""
        return {shoot.clean_plate for shoot in self._load_all().values() if shoot.clean_plate is not None}

    def recent(self, limit: int = 10) -> list[Shoot]:
        """The shoots last opened, newest first (folders that are gone are left out)."""
        shoots = sorted(self._load_all().values(), key=lambda s: s.opened_at, reverse=True)
        return [s for s in shoots if s.folder.is_dir()][:limit]
