"""The manifest beside the outputs: which photo, with which settings, made each output.

``.cutout-manifest.jsonl`` in the output folder holds one JSON line per output written:
the output's path relative to that folder, the source photo (resolved path, size and
modification time), a fingerprint of the settings, and the status. Lines are appended and
flushed as each output is renamed into place (a later line for the same output wins), so a
killed run loses at most the line of the photo it was finishing. A line cut short by a kill is
ignored when read. In a remote output folder (a URL, :mod:`storage`) each line is an object of
its own, written just before its output is put (objects cannot be appended to, and a put takes
long enough for a kill to land after it), with the output's size, which the object there must
have for the line to count.

It answers three questions: whose output is this name (the planner never gives one photo's
name to another), is this output up to date (resume skips only those), and is this file an
output of ours (the scanner never takes our outputs for photos).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cutout_studio.core import storage
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.journal import AppendLog, Warn
from cutout_studio.core.storage import ChunkLog, is_remote, location

MANIFEST_NAME = ".cutout-manifest.jsonl"
#: in a remote output folder: one object per line written since the manifest was last merged
CHUNKS_NAME = ".cutout-manifest.d"

#: fresh: made from this photo, unchanged since, with these settings; stale: from this photo
#: with other settings (or the photo changed since); unknown: a file we have no record of
OutputState = Literal["missing", "fresh", "stale", "unknown"]


@dataclass(frozen=True)
class Entry:
    output: str  #: relative to the manifest's folder, '/'-separated
    source: str  #: the photo's resolved path
    size: int
    mtime_ns: int
    settings: str  #: :func:`settings_fingerprint`
    status: str = "done"
    #: remote folders only (written before the output is put): the output's size, which the
    #: object there must have for the line to count; -1 (not written) on a file system
    output_size: int = -1

    def line(self) -> str:
        data = dataclasses.asdict(self)
        if self.output_size < 0:
            del data["output_size"]  # (a file system's lines are as they always were)
        return json.dumps(data, ensure_ascii=False) + "\n"


def settings_fingerprint(options: ExportOptions, model: str = "") -> str:
    """A short hash of everything that changes an output's pixels: the export options (except
    ``overwrite`` and ``naming``, which change no pixel) and the model. Only values that differ from the defaults count, so that a
    new option added later with a default does not make every earlier output stale."""
    defaults = dataclasses.asdict(ExportOptions())
    chosen = {
        key: value
        for key, value in dataclasses.asdict(options).items()
        if key not in ("overwrite", "naming") and value != defaults.get(key)
    }
    for key in ("background", "clean_plate"):
        image = getattr(options, key)
        if isinstance(image, Path):  # an image: its content counts, approximated by size + time
            try:
                stat = image.stat()
                chosen[key] = [str(image.resolve()), stat.st_size, stat.st_mtime_ns]
            except OSError:
                chosen[key] = str(image)
    chosen["model"] = model
    text = json.dumps(chosen, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def source_identity(source: Path) -> tuple[str, int, int]:
    """(resolved path, size, mtime in ns) of a photo; size -1 when it cannot be read."""
    if is_remote(source):
        return storage.identity(source)
    resolved = source.resolve()
    try:
        stat = resolved.stat()
    except OSError:
        return str(resolved), -1, -1
    return str(resolved), stat.st_size, stat.st_mtime_ns


class Manifest:
    """The manifest of one output folder (``root``), read once and appended to while running."""

    def __init__(self, root: Path, entries: dict[str, Entry] | None = None, lines: int = 0) -> None:
        self.root = root
        self.entries: dict[str, Entry] = entries or {}
        self._lines = lines  #: lines in the file: more than entries after outputs were redone
        self._log: AppendLog | ChunkLog | None = None
        self._chunks: list[Path] = []  #: remote: the line objects read at load, merged by open()

    @property
    def path(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def remote(self) -> bool:
        return is_remote(self.root)

    @classmethod
    def load(cls, root: Path) -> Manifest:
        if not is_remote(root):
            pairs = list(_read_entries(root / MANIFEST_NAME))
            return cls(root, dict(pairs), len(pairs))
        # the merged object, then the lines of runs since (in the order they were written)
        chunks = [p for p in storage.listing(root / CHUNKS_NAME) if p.name.endswith(".jsonl")]
        texts = [storage.read_text(root / MANIFEST_NAME), *(storage.read_text(p) for p in chunks)]
        pairs = [pair for text in texts for pair in _parse_entries(text)]
        manifest = cls(root, dict(pairs), len(pairs))
        manifest._chunks = chunks
        return manifest

    def _key(self, output: Path) -> str | None:
        try:
            return output.relative_to(self.root).as_posix()
        except ValueError:
            return None

    def entry(self, output: Path) -> Entry | None:
        key = self._key(output)
        return self.entries.get(key) if key is not None else None

    def owner(self, output: Path) -> Path | None:
        """The photo that this output was made from, if the manifest knows."""
        found = self.entry(output)
        return location(found.source) if found is not None else None

    def outputs(self) -> set[Path]:
        """Every output the manifest lists (resolved paths)."""
        root = self.root.resolve()
        return {root / key for key in self.entries}

    def state(self, source: Path, output: Path, fingerprint: str) -> OutputState:
        size = storage.size_of(output) if self.remote else None  # (one request for both questions)
        if size == -1 or (size is None and not output.exists()):
            return "missing"
        found = self.entry(output)
        if found is None:
            return "unknown"
        if size is not None and found.output_size >= 0 and size != found.output_size:
            return "stale"  # the line was written, but the output put after it never was
        path, size, mtime = source_identity(source)
        # a photo whose folder was moved or renamed is still the same photo: same size and time
        moved = found.source != path and not location(found.source).exists()
        same_photo = (found.source == path or moved) and (found.size, found.mtime_ns) == (size, mtime)
        return "fresh" if same_photo and found.settings == fingerprint else "stale"

    def open(self, warn: Warn | None = None) -> None:
        """Start appending (call before :meth:`record`, holding the folder's lock). A file that
        redone outputs have grown to over twice its entries is first rewritten compactly. In a
        remote folder, the lines are objects of their own (:class:`storage.ChunkLog`): those of
        earlier runs are first merged into the manifest object."""
        if self.remote:
            if self._chunks:
                self._merge(self._chunks)
                self._chunks = []
            self._log = ChunkLog(self.root / CHUNKS_NAME, what="manifest", warn=warn)
            return
        if self._lines > 2 * len(self.entries) + 100:
            self._compact()
        self._log = AppendLog(self.path, what="manifest", warn=warn)

    def _compact(self) -> None:
        temp = self.path.with_name(f"{MANIFEST_NAME}.{os.getpid()}.tmp")
        try:
            with temp.open("w", encoding="utf-8") as fh:
                fh.write(self._text())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                temp.unlink()  # a full disk: keep appending to the long file, nothing is lost
        else:
            self._lines = len(self.entries)

    def record(self, source: Path, output: Path, fingerprint: str, status: str, output_size: int = -1) -> None:
        """One output is in place (remote: is about to be put, ``output_size`` bytes): append
        its line (thread-safe; a failed write warns once)."""
        key = self._key(output)
        if key is None:
            return
        path, size, mtime = source_identity(source)
        entry = Entry(key, path, size, mtime, fingerprint, status, output_size)
        self.entries[key] = entry
        if self._log is not None:
            self._log.write(entry.line())

    def close(self) -> None:
        if isinstance(self._log, ChunkLog) and self._log.written and not self._log.failed:
            self._merge(self._log.written)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _merge(self, chunks: list[Path]) -> None:
        """Remote: write every entry as the manifest object (one PUT, atomic), then delete the
        line objects it now holds; a failure keeps them (nothing is lost, the next run merges)."""
        try:
            storage.write_bytes(self.path, self._text().encode("utf-8"))
        except (OSError, ValueError):
            return
        with contextlib.suppress(OSError, ValueError):
            storage.delete(chunks)
            storage.remove_empty_folder(self.root / CHUNKS_NAME)
        self._lines = len(self.entries)

    def _text(self) -> str:
        return "".join(entry.line() for entry in self.entries.values())


def _read_entries(path: Path) -> Iterator[tuple[str, Entry]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    yield from _parse_entries(text)


def _parse_entries(text: str) -> Iterator[tuple[str, Entry]]:
    fields = {f.name for f in dataclasses.fields(Entry)}
    for line in text.splitlines():
        try:
            data = json.loads(line)
            entry = Entry(**{k: v for k, v in data.items() if k in fields})
        except (ValueError, TypeError):
            continue  # a line cut short by a kill, or not ours
        if entry.output and not os.path.isabs(entry.output) and ".." not in entry.output.split("/"):
            yield entry.output, entry
