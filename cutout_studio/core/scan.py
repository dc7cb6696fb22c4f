"""The one folder scanner: which photos the inputs name, for the batch, `cut` and the editor.

Folders are walked recursively in sorted order for files with an image suffix, skipping hidden
files and folders. Files named explicitly are kept whatever their suffix (a non-image then
fails with its own reason). Every photo appears once, whatever way it was named (``x.jpg
./x.jpg``, a folder given with and without a trailing slash, a file inside a folder that is
also given). Outputs of ours are never taken for photos:

- the run's own output folder, when it lies inside an input folder;
- files that a manifest (``.cutout-manifest.jsonl``) in their folder or a folder above lists as
  outputs, e.g. an earlier batch's ``cutouts/`` folder;
- files listed in the output column of a ``cutout-report.csv`` beside them (batches made
  before the manifest existed);
- ``NAME_cutout.*`` beside a photo ``NAME.*``: what ``cut`` writes next to each photo.

The shoot's clean plate (the empty backdrop, :mod:`clean_plate`) is not a photo either: a
photographer may keep it in the shoot's folder, and cutting it would give an empty cutout.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cutout_studio.core import storage
from cutout_studio.core.image_io import IMAGE_SUFFIXES, is_image_path
from cutout_studio.core.manifest import MANIFEST_NAME, Manifest

REPORT_NAME = "cutout-report.csv"
CUT_SUFFIX = "_cutout"  #: what `cut` adds to a photo's name when it writes beside it


@dataclass
class ScanResult:
    #: (input root, photo) in order: the root is the folder given (resolved), or None for a file
    photos: list[tuple[Path | None, Path]] = field(default_factory=list)
    duplicates: list[Path] = field(default_factory=list)  #: named more than once: kept once
    own_outputs: list[Path] = field(default_factory=list)  #: outputs of ours: left out
    plates: list[Path] = field(default_factory=list)  #: clean plates found among them: left out

    @property
    def files(self) -> list[Path]:
        return [photo for _, photo in self.photos]


def scan_inputs(items: Iterable[str | os.PathLike[str]], *, exclude: Path | None = None,
                plates: Collection[Path] = ()) -> ScanResult:
    """The photos that ``items`` (files and folders) name; ``exclude`` is a folder never entered
    (the run's output folder) and ``plates`` are clean plates, never taken for photos. A path
    that does not exist is kept, for the caller to report. Items may be URLs (:mod:`storage`):
    their folders are listed through fsspec."""
    result = ScanResult()
    seen: set[Path] = set()
    not_photos = {storage.location(plate).expanduser().resolve() for plate in plates}
    own = OwnOutputs()
    skip_dir = exclude.resolve() if exclude is not None else None
    for item in items:
        path = storage.location(item).expanduser()
        if path.is_dir():
            root = path.resolve()
            if root in seen:
                result.duplicates.append(path)
                continue
            seen.add(root)
            for photo in _walk(root, skip_dir):
                _add(result, seen, own, root, photo, quiet=True, plates=not_photos)
        else:
            _add(result, seen, own, None, path, quiet=False, plates=not_photos)
    return result


def _add(result: ScanResult, seen: set[Path], own: OwnOutputs, root: Path | None, photo: Path,
         *, quiet: bool, plates: set[Path]) -> None:
    resolved = photo.resolve()
    if resolved in seen:
        if not quiet:  # a file inside a folder also given is not news; the same file twice is
            result.duplicates.append(photo)
        return
    seen.add(resolved)
    if resolved in plates:
        result.plates.append(photo)
        return
    if own.is_ours(resolved):
        result.own_outputs.append(photo)
        return
    result.photos.append((root, photo))


def _walk(root: Path, skip_dir: Path | None) -> Iterator[Path]:
    if storage.is_remote(root):
        yield from storage.walk(root, skip_dir)
        return
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and (skip_dir is None or here / d != skip_dir)
        )
        for name in sorted(filenames):
            if not name.startswith(".") and is_image_path(name):
                yield here / name


class OwnOutputs:
    """Answers "is this file an output of ours?" from manifests and reports, read once per folder."""

    def __init__(self) -> None:
        self._listed: dict[Path, frozenset[Path]] = {}

    def listed_in(self, folder: Path) -> frozenset[Path]:
        """Resolved outputs that ``folder``'s manifest or report lists (anywhere below it)."""
        found = self._listed.get(folder)
        if found is None:
            outputs: set[Path] = set()
            if storage.is_remote(folder):  # one read each (a missing object reads as empty)
                if not getattr(folder, "is_top", False):
                    outputs = Manifest.load(folder).outputs() | _report_outputs(folder / REPORT_NAME)
            else:
                if (folder / MANIFEST_NAME).is_file():
                    outputs |= Manifest.load(folder).outputs()
                if (folder / REPORT_NAME).is_file():
                    outputs |= _report_outputs(folder / REPORT_NAME)
            found = self._listed[folder] = frozenset(outputs)
        return found

    def is_ours(self, resolved: Path) -> bool:
        if any(resolved in self.listed_in(folder) for folder in resolved.parents):
            return True
        return _is_cut_output(resolved)


def _is_cut_output(path: Path) -> bool:
    if not path.stem.endswith(CUT_SUFFIX):
        return False
    stem = path.stem[: -len(CUT_SUFFIX)]
    return any((path.parent / f"{stem}{suffix}").is_file() for suffix in IMAGE_SUFFIXES)


def _report_outputs(report: Path) -> set[Path]:
    try:
        if storage.is_remote(report):
            rows = list(csv.DictReader(io.StringIO(storage.read_text(report), newline="")))
        else:
            with report.open(encoding="utf-8", errors="replace", newline="") as fh:
                rows = list(csv.DictReader(fh))
    except (OSError, csv.Error):
        return set()
    outputs = set()
    for row in rows:
        name = (row.get("output") or "").strip()
        if name:
            path = storage.location(name)
            outputs.add((path if path.is_absolute() else report.parent / path).resolve())
    return outputs
