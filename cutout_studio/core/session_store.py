"""The editor's session store: each photo's edits, autosaved so that no quit or crash loses them.

One small JSON file per photo in ``paths.data_dir()/sessions``, named by the photo's
**content** (:func:`content_key`), not its path: a photo that was moved, renamed or copied to
another card still finds its edits, and a different photo saved under the same name never
inherits them. A record holds the photo's edit :class:`History` (every brush stroke as its
points, kind and radius, every reset, and what was undone), so reopening the photo replays
the strokes into a fresh :class:`~cutout_studio.core.refine.RefineSession` (which is
deterministic: the same strokes give the same mask, and they stay undoable), plus the export
state (where the cutout was written, whether it is up to date, whether the user marked it
finished) and the photo's own edge settings (None: it follows its shoot's defaults).

Files are written atomically (temporary file, fsync, rename): a crash mid-save leaves the
previous record. A record that cannot be read is set aside as ``*.corrupt`` and ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cutout_studio.core import paths
from cutout_studio.core.atomic import remove_older_than
from cutout_studio.core.edges import EdgeOptions

_log = logging.getLogger(__name__)

RECORD_VERSION = 1
SESSIONS_FOLDER = "sessions"
#: Records not written for this long are removed by :meth:`SessionStore.prune` (the editor
#: prunes at start-up): the store must not grow for ever with photos long delivered.
KEEP_DAYS = 365
_STEP_KINDS = ("fg", "bg", "erase", "refine", "reset")
_HASH_CHUNK = 1 << 20


def content_key(path: str | os.PathLike[str]) -> str:
    """SHA-256 of the file's bytes (hex): the photo's identity in the store.

    The whole file is hashed, not a sample of it: a retouched photo keeps its size, header and
    often its tail, and must not inherit the strokes of its original. It is cheap enough: about
    20 ms for a 12 MB (24 MP) JPEG on a busy 2-core machine, once per photo per session, on
    the worker that spends hundreds of milliseconds decoding it and a second or more on its
    mask. Raises ``OSError`` if the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Step:
    """One undoable edit: a stroke (``fg``, ``bg``, ``erase``), a refine-edge stroke
    (``refine``, with its brush ``hardness``) or a ``reset``; applied by :mod:`core.edits`."""

    kind: str
    points: tuple[tuple[float, float], ...] = ()
    radius: float = 0.0
    hardness: float = 1.0  #: refine-edge strokes only: full strength within hardness × radius

    def to_json(self) -> dict[str, Any]:
        if self.kind == "reset":
            return {"kind": "reset"}
        # Exact floats (JSON keeps them to the last bit): the graph cut works at a reduced
        # resolution where even a hundredth of a pixel can move a seed, and the replay must
        # give the very same mask.
        data: dict[str, Any] = {"kind": self.kind, "radius": self.radius, "points": [[x, y] for x, y in self.points]}
        if self.kind == "refine":
            data["hardness"] = self.hardness
        return data

    @classmethod
    def from_json(cls, data: Any) -> Step:
        if not isinstance(data, dict) or data.get("kind") not in _STEP_KINDS:
            raise ValueError(f"not an edit step: {data!r:.80}")
        if data["kind"] == "reset":
            return cls("reset")
        radius = data.get("radius")
        points = data.get("points")
        if (
            not isinstance(radius, (int, float))
            or not radius > 0
            or not isinstance(points, list)
            or not points
        ):
            raise ValueError(f"bad stroke: {data!r:.80}")
        hardness = data.get("hardness", 1.0)
        if not isinstance(hardness, (int, float)) or not 0.0 <= hardness <= 1.0:
            raise ValueError(f"bad brush hardness: {data!r:.80}")
        return cls(data["kind"], tuple((float(x), float(y)) for x, y in points), float(radius), float(hardness))


@dataclass(frozen=True)
class History:
    """Every step applied to a photo's RefineSession, in order, and the steps undone since.

    ``done`` keeps *all* steps, even those the session dropped from its own (memory-bounded)
    undo history, because replaying them is the only way to rebuild the mask.
    ``undone`` is the redo stack: its last step is the next one to redo.
    """

    done: tuple[Step, ...] = ()
    undone: tuple[Step, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.done and not self.undone

    def add(self, step: Step) -> History:
        return History((*self.done, step), ())

    def undo(self) -> History:
        if not self.done:
            return self
        return History(self.done[:-1], (*self.undone, self.done[-1]))

    def redo(self) -> History:
        if not self.undone:
            return self
        return History((*self.done, self.undone[-1]), self.undone[:-1])

    def then(self, action: str, step: Step | None = None) -> History:
        """The history after ``action`` ("stroke" with ``step``, "reset", "undo" or "redo")."""
        if action == "undo":
            return self.undo()
        if action == "redo":
            return self.redo()
        return self.add(step if step is not None else Step("reset"))

    def to_json(self) -> dict[str, Any]:
        return {"done": [s.to_json() for s in self.done], "undone": [s.to_json() for s in self.undone]}

    @classmethod
    def from_json(cls, data: Any) -> History:
        if not isinstance(data, dict):
            raise ValueError("the history is not an object")
        return cls(
            tuple(Step.from_json(s) for s in data.get("done", [])),
            tuple(Step.from_json(s) for s in data.get("undone", [])),
        )


@dataclass(frozen=True)
class SessionRecord:
    """What the store keeps for one photo."""

    key: str  #: :func:`content_key` of the photo
    source: str = ""  #: where the photo was last seen (informative: the key is what matters)
    size: tuple[int, int] = (0, 0)  #: (width, height): a replay onto other pixels is refused
    history: History = field(default_factory=History)
    output: str | None = None  #: where the photo was last exported
    status: str = ""  #: the editor's status word when saved ("edited", "finished", "exported")
    saved_at: float = 0.0
    edges: EdgeOptions | None = None  #: the photo's own edge settings (None: its shoot's)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION,
            "key": self.key,
            "source": self.source,
            "size": list(self.size),
            "history": self.history.to_json(),
            "output": self.output,
            "status": self.status,
            "saved_at": self.saved_at,
            "edges": self.edges.to_dict() if self.edges is not None else None,
        }

    @classmethod
    def from_json(cls, data: Any) -> SessionRecord:
        if not isinstance(data, dict) or not isinstance(data.get("key"), str):
            raise ValueError("not a session record")
        if data.get("version") != RECORD_VERSION:
            raise ValueError(f"record version {data.get('version')!r} is not {RECORD_VERSION}")
        size = data.get("size", [0, 0])
        output = data.get("output")
        edges = data.get("edges")
        return cls(
            key=data["key"],
            source=str(data.get("source", "")),
            size=(int(size[0]), int(size[1])),
            history=History.from_json(data.get("history", {})),
            output=output if isinstance(output, str) else None,
            status=str(data.get("status", "")),
            saved_at=float(data.get("saved_at", 0.0)),
            edges=EdgeOptions.from_dict(edges) if isinstance(edges, dict) else None,
        )


class SessionStore:
    """The records of every edited photo, one JSON file each (``root`` defaults to the data folder)."""

    def __init__(self, root: Path | None = None) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        return self._root if self._root is not None else paths.data_dir() / SESSIONS_FOLDER

    def path_for(self, key: str) -> Path:
        if not key or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a content key: {key!r}")
        return self.root / f"{key}.json"

    def load(self, key: str) -> SessionRecord | None:
        """The record for ``key``, or None (none stored, unreadable, or set aside as corrupt)."""
        path = self.path_for(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            _log.warning("cannot read the edits in %s: %s", path, exc)
            return None
        try:
            record = SessionRecord.from_json(json.loads(text))
            if record.key != key:
                raise ValueError("the record belongs to another photo")
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            backup = path.with_suffix(".corrupt")
            _log.warning("saved edits %s are unreadable (%s): moved to %s", path, exc, backup.name)
            try:
                os.replace(path, backup)
            except OSError:
                pass
            return None
        return record

    def save(self, record: SessionRecord) -> Path:
        """Write ``record`` atomically; raises ``OSError`` when it cannot be written."""
        path = self.path_for(record.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = dataclasses.replace(record, saved_at=time.time())
        text = json.dumps(record.to_json(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        fd, temp = tempfile.mkstemp(prefix=f".{path.stem[:16]}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return path

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def prune(self, keep_days: float = KEEP_DAYS) -> int:
        """Remove records (and stray temporary files) older than ``keep_days``; returns how many."""
        return remove_older_than(self.root, keep_days)
