"""Exporting from the editor, on the jobs lane, through the engine's one export and batch paths.

A photo that is open in the editor is written with :func:`export_cutout` and its current
(refined) mask; photos that were never masked go through :func:`run_batch`, which loads,
masks and writes them exactly as the command line would. Output names come from the
engine's :func:`collect_jobs`, so "export all" and a batch name files the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from cutout_studio.core.batch import FileResult, collect_jobs, run_batch
from cutout_studio.core.errors import CancelledError, CutoutError
from cutout_studio.core.export import ExportOptions, export_cutout
from cutout_studio.core.image_io import LoadedImage
from cutout_studio.qt.document import DocStatus, Document
from cutout_studio.qt.workers import JobContext, Lane


@dataclass(frozen=True)
class ExportItem:
    source: Path
    output: Path
    image: LoadedImage | None  #: None: not open in the editor, the batch path masks it
    alpha: np.ndarray | None


def export_items(items: list[ExportItem], out_dir: Path, options: ExportOptions, segmenter, ctx: JobContext) -> int:
    """Write every item; reports one FileResult per file through ``ctx.progress`` (worker thread)."""
    written = 0
    for item in items:
        if item.image is None or item.alpha is None:
            continue
        if ctx.cancelled():
            break
        started = time.perf_counter()
        if item.output.exists() and not options.overwrite:
            result = FileResult(item.source, item.output, "skipped", 0.0, "output exists (kept)")
        else:
            try:
                path = export_cutout(item.image, item.alpha, item.output, options)
                result = FileResult(item.source, path, "done", time.perf_counter() - started, "")
                written += 1
            except CutoutError as exc:
                result = FileResult(item.source, None, "failed", time.perf_counter() - started, str(exc))
        ctx.progress(result)
    unmasked = [item.source for item in items if item.image is None or item.alpha is None]
    if unmasked and not ctx.cancelled():
        if segmenter is None:
            for source in unmasked:
                ctx.progress(FileResult(source, None, "failed", 0.0, "no segmentation model is installed"))
        else:
            for event in run_batch(
                unmasked, out_dir, options, segmenter=segmenter, cancel=ctx.cancel_event, write_report=False
            ):
                written += event.result.status == "done"
                ctx.progress(event.result)
    return written


class ExportController(QObject):
    """Runs exports on the jobs lane and reports per file; the window asks the questions."""

    started = Signal(int)  #: number of files
    file_done = Signal(object, object)  #: (document or None, FileResult)
    finished = Signal(int, bool)  #: files written, cancelled
    failed = Signal(str)

    def __init__(self, lane: Lane, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lane = lane
        self._job = None
        self._docs_by_source: dict[Path, Document] = {}

    @property
    def running(self) -> bool:
        return self._job is not None

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    @staticmethod
    def plan(docs: list[Document], out_dir: Path, options: ExportOptions) -> list[ExportItem]:
        """Where each document goes (the engine's naming) and what pixels it is written from."""
        jobs = collect_jobs([doc.path for doc in docs], out_dir, options)
        return [
            ExportItem(job.source, job.output, doc.image if doc.alpha is not None else None, doc.alpha)
            for doc, job in zip(docs, jobs, strict=True)
        ]

    def export(self, docs: list[Document], items: list[ExportItem], out_dir: Path, options: ExportOptions,
               segmenter) -> None:
        if self._job is not None:
            self.failed.emit("an export is already running")
            return
        self._docs_by_source = {item.source: doc for doc, item in zip(docs, items, strict=True)}
        self.started.emit(len(items))
        self._job = self._lane.submit(
            lambda ctx: export_items(items, out_dir, options, segmenter, ctx),
            name="export",
            on_done=lambda written: self._finish(written, None),
            on_error=lambda exc: self._finish(0, exc),
            on_progress=self._progress,
        )

    def _progress(self, result: FileResult) -> None:
        doc = self._docs_by_source.get(result.source)
        if doc is not None:
            if result.status == "done":
                doc.status = DocStatus.EXPORTED
                doc.output_path = result.output
            elif result.status == "failed" and doc.alpha is None:
                doc.status = DocStatus.FAILED  # it could not even be loaded or masked
                doc.message = result.message
        self.file_done.emit(doc, result)

    def _finish(self, written: int, error: BaseException | None) -> None:
        job, self._job = self._job, None
        cancelled = bool(job is not None and job.is_cancelled) or isinstance(error, CancelledError)
        if error is not None and not isinstance(error, CancelledError):
            self.failed.emit(str(error) or type(error).__name__)
        self.finished.emit(written, cancelled)
