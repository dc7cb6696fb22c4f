"""The editor's export jobs, on the jobs lane: what to write (:class:`ExportItem`, from the open
photos' current masks or, for the others, masked as a batch would), and :class:`ExportController`,
which plans the outputs with the engine's one planner, runs them through :func:`run_batch` or the
batch's last step, and reports per file. :mod:`exporting` is the user's side (dialogs, progress).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from cutout_studio.core.batch import plan_outputs, run_batch_to_end
from cutout_studio.core.batch_results import FileResult, PreparedPhoto
from cutout_studio.core.batch_steps import write_job
from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.errors import CancelledError
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.image_io import LoadedImage
from cutout_studio.core.manifest import Manifest
from cutout_studio.core.planner import BatchJob
from cutout_studio.qt.document import DocStatus, Document
from cutout_studio.qt.workers import Job, JobContext, Lane

if TYPE_CHECKING:
    from cutout_studio.core.segmenter import Segmenter


@dataclass(frozen=True)
class ExportItem:
    source: Path
    output: Path
    image: LoadedImage | None  #: None: not open in the editor, the batch path masks it
    alpha: np.ndarray | None
    edited: bool = False  #: the mask was changed by hand in the editor
    edges: EdgeOptions | None = None  #: the photo's edge settings (None: the run's)


#: a photo not in memory as it must be exported (its saved strokes replayed), or None
LoadMask = Callable[[Path], "PreparedPhoto | None"]


class _OnDemand(Mapping[Path, PreparedPhoto]):
    """The photos of an Export all written from the editor's masks: those in memory, and the
    others loaded (with their saved strokes) only when the batch reaches them."""

    def __init__(self, ready: dict[Path, PreparedPhoto], later: set[Path], load: LoadMask) -> None:
        self._ready, self._later, self._load = ready, later - set(ready), load

    def __getitem__(self, source: Path) -> PreparedPhoto:
        found = self._ready.get(source) or (self._load(source) if source in self._later else None)
        if found is None:
            raise KeyError(source)
        return found

    def __iter__(self) -> Iterator[Path]:
        return iter([*self._ready, *self._later])

    def __len__(self) -> int:
        return len(self._ready) + len(self._later)


def export_items(
    items: list[ExportItem], out_dir: Path | None, options: ExportOptions, segmenter: Segmenter | None,
    ctx: JobContext, inputs: Sequence[Path] = (), load: LoadMask | None = None,
) -> int:
    """Write every item; reports one FileResult per file through ``ctx.progress`` (worker thread).

    ``out_dir`` None: each item goes to its own chosen name (Export as…). Otherwise the items
    are a run of the engine's batch into ``out_dir``, named as in a batch of ``inputs`` (the
    shoot's folders and files). ``load``: how photos not in memory get their masks (their saved
    strokes replayed); without it they are masked as a batch would."""
    if out_dir is not None:
        ready = {
            item.source.resolve(): PreparedPhoto(item.image, item.alpha, item.edited)
            for item in items
            if item.image is not None and item.alpha is not None
        }
        later = {item.source.resolve() for item in items}
        prepared = _OnDemand(ready, later, load) if load is not None else ready
        summary = run_batch_to_end(
            list(inputs) or [item.source for item in items], out_dir, options, segmenter=segmenter,
            cancel=ctx.cancel_event, write_report=False, prepared=prepared,
            on_progress=lambda event: ctx.progress(event.result), only=[item.source for item in items],
            edges={item.source.resolve(): item.edges for item in items if item.edges is not None},
        )
        return summary.done + summary.warning
    written = 0
    for item in items:
        if ctx.cancelled():
            break
        started = time.perf_counter()
        if item.image is None or item.alpha is None:
            continue
        if item.output.exists() and not options.overwrite:
            result = FileResult(item.source, item.output, "skipped", 0.0, "output exists (kept)")
        else:
            own = options if item.edges is None else dataclasses.replace(options, edges=item.edges)
            # the batch's own write: export, the marketplace check and the warnings, one result
            job = BatchJob(item.source, item.output, item.output.parent)
            result = write_job(job, started, item.image, item.alpha, own)
            written += result.status in ("done", "warning")
        ctx.progress(result)
    return written


def up_to_date(doc: Document, output: Path) -> bool:
    """``doc`` was exported to ``output`` and has not changed since (and the file is there)."""
    return doc.status in (DocStatus.EXPORTED, DocStatus.WARNING) and doc.output_path == output and output.is_file()


def make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; returns those created, deepest first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return []  # the dialog then opens elsewhere, as before; the user picks a folder
    return missing


def remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        with contextlib.suppress(OSError):  # not empty (the user saved something there): kept
            folder.rmdir()


def owner_of(output: Path, out_dir: Path) -> Path | None:
    """The photo the output folder's manifest says ``output`` was made from (None: unknown)."""
    return Manifest.load(out_dir).owner(output)


class ExportController(QObject):
    """Runs exports on the jobs lane and reports per file; the window asks the questions."""

    started = Signal(int)  #: number of files
    file_done = Signal(object, object)  #: (document or None, FileResult)
    finished = Signal(int, bool)  #: files written, cancelled
    failed = Signal(str)

    def __init__(self, lane: Lane, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lane = lane
        self._job: Job | None = None
        self._docs_by_source: dict[Path, Document] = {}
        self.options: ExportOptions | None = None  #: the running (or last) export's options

    @property
    def running(self) -> bool:
        return self._job is not None

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    @staticmethod
    def plan(
        docs: Sequence[Document], out_dir: Path, options: ExportOptions, inputs: Sequence[Path],
        edges_of: Callable[[Document], EdgeOptions],
    ) -> list[ExportItem]:
        """Where each document goes (the engine's planner, given the shoot's ``inputs``) and
        what pixels and edge settings it is written from.

        Documents the planner leaves out (the same photo twice, an output of ours) get no item."""
        by_path = {doc.path.resolve(): doc for doc in docs}
        items = []
        for job in plan_outputs(list(inputs), out_dir, options).jobs:
            doc = by_path.get(job.source.resolve())
            if doc is None:
                continue  # in the folder, but not open (added since, or left out)
            items.append(ExportController.item(doc, job.source, job.output, edges_of))
        return items

    @staticmethod
    def item(
        doc: Document, source: Path, output: Path, edges_of: Callable[[Document], EdgeOptions]
    ) -> ExportItem:
        """``doc`` written to ``output`` from the pixels and edge settings it has now."""
        image = doc.image if doc.alpha is not None else None
        return ExportItem(source, output, image, doc.alpha, doc.edited, edges_of(doc))

    def export(
        self, docs: Sequence[Document], items: list[ExportItem], out_dir: Path | None, options: ExportOptions,
        segmenter: Segmenter | None, inputs: Sequence[Path] = (), load: LoadMask | None = None,
    ) -> None:
        """``out_dir`` None: write each item to its own name; else Export all into ``out_dir``."""
        if self._job is not None:
            self.failed.emit("an export is already running")
            return
        by_path = {doc.path.resolve(): doc for doc in docs}
        self._docs_by_source = {item.source.resolve(): by_path[item.source.resolve()] for item in items}
        self.options = options
        self.started.emit(len(items))
        self._job = self._lane.submit(
            lambda ctx: export_items(items, out_dir, options, segmenter, ctx, inputs, load),
            name="export",
            on_done=lambda written: self._finish(written, None),
            on_error=lambda exc: self._finish(0, exc),
            on_progress=self._progress,
        )

    def _progress(self, result: FileResult) -> None:
        doc = self._docs_by_source.get(result.source.resolve())
        if doc is not None and result.status in ("done", "warning", "stale", "failed"):
            if result.status in ("done", "warning"):
                doc.status = DocStatus.EXPORTED if result.status == "done" else DocStatus.WARNING
                doc.message = result.message
                doc.output_path = result.output
            elif result.status == "stale":
                doc.message = result.message
            elif result.status == "failed" and doc.alpha is None:
                doc.status = DocStatus.FAILED  # it could not even be loaded or masked
                doc.message = result.message
            doc.notify_changed()  # the filmstrip row and autosave follow the document
        self.file_done.emit(doc, result)

    def _finish(self, written: int, error: BaseException | None) -> None:
        job, self._job = self._job, None
        cancelled = bool(job is not None and job.is_cancelled) or isinstance(error, CancelledError)
        if error is not None and not isinstance(error, CancelledError):
            self.failed.emit(str(error) or type(error).__name__)
        self.finished.emit(written, cancelled)
