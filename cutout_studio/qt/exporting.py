"""Exporting from the editor, on the jobs lane, through the engine's one export and batch paths.

:class:`ExportController` runs the job and reports per file; :class:`ExportFlow` is the
window's side of it: where to write, whether to overwrite, the progress bar.

Export (one photo, to a name the user chose) writes with :func:`export_cutout` and the
current (refined) mask. Export all goes through the engine's :func:`run_batch`, like the
command line: the same planner names every output (never two photos on one name), the same
lock, manifest and resume rules apply; photos open in the editor are written from their
current masks (``prepared``), the others are loaded and masked as a batch would.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QProgressBar, QToolButton

from cutout_studio.core.batch import FileResult, plan_outputs, quality_warning, run_batch_to_end
from cutout_studio.core.errors import CancelledError, CutoutError
from cutout_studio.core.export import ExportOptions, export_cutout, output_suffix
from cutout_studio.core.image_io import LoadedImage
from cutout_studio.qt.document import DocStatus, Document
from cutout_studio.qt.export_dialog import ExportSettingsDialog, describe
from cutout_studio.qt.workers import JobContext, Lane


@dataclass(frozen=True)
class ExportItem:
    source: Path
    output: Path
    image: LoadedImage | None  #: None: not open in the editor, the batch path masks it
    alpha: np.ndarray | None
    edited: bool = False  #: the mask was changed by hand in the editor


def export_items(
    items: list[ExportItem], out_dir: Path | None, options: ExportOptions, segmenter, ctx: JobContext
) -> int:
    """Write every item; reports one FileResult per file through ``ctx.progress`` (worker thread).

    ``out_dir`` None: each item goes to its own chosen name (Export). Otherwise the items are
    a run of the engine's batch into ``out_dir`` (Export all)."""
    if out_dir is not None:
        prepared = {
            item.source.resolve(): (item.image, item.alpha, item.edited)
            for item in items
            if item.image is not None and item.alpha is not None
        }
        summary = run_batch_to_end(
            [item.source for item in items], out_dir, options, segmenter=segmenter, cancel=ctx.cancel_event,
            write_report=False, prepared=prepared, on_progress=lambda event: ctx.progress(event.result),
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
            try:
                path = export_cutout(item.image, item.alpha, item.output, options)
            except CutoutError as exc:
                result = FileResult(item.source, None, "failed", time.perf_counter() - started, str(exc))
            else:
                warning = quality_warning(item.alpha)
                status = "warning" if warning else "done"
                message = f"{item.source.name}: {warning}" if warning else ""
                result = FileResult(item.source, path, status, time.perf_counter() - started, message)
                written += 1
        ctx.progress(result)
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
        """Where each document goes (the engine's planner) and what pixels it is written from.

        Documents the planner leaves out (the same photo twice, an output of ours) get no item."""
        by_path = {doc.path.resolve(): doc for doc in docs}
        items = []
        for job in plan_outputs([doc.path for doc in docs], out_dir, options).jobs:
            doc = by_path[job.source.resolve()]
            image = doc.image if doc.alpha is not None else None
            items.append(ExportItem(job.source, job.output, image, doc.alpha, doc.edited))
        return items

    def export(
        self, docs: list[Document], items: list[ExportItem], out_dir: Path | None, options: ExportOptions,
        segmenter,
    ) -> None:
        """``out_dir`` None: write each item to its own name; else Export all into ``out_dir``."""
        if self._job is not None:
            self.failed.emit("an export is already running")
            return
        by_path = {doc.path.resolve(): doc for doc in docs}
        self._docs_by_source = {item.source.resolve(): by_path[item.source.resolve()] for item in items}
        self.started.emit(len(items))
        self._job = self._lane.submit(
            lambda ctx: export_items(items, out_dir, options, segmenter, ctx),
            name="export",
            on_done=lambda written: self._finish(written, None),
            on_error=lambda exc: self._finish(0, exc),
            on_progress=self._progress,
        )

    def _progress(self, result: FileResult) -> None:
        doc = self._docs_by_source.get(result.source.resolve())
        if doc is not None:
            if result.status in ("done", "warning"):
                doc.status = DocStatus.EXPORTED if result.status == "done" else DocStatus.WARNING
                doc.message = result.message
                doc.output_path = result.output
            elif result.status == "stale":
                doc.message = result.message
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


class ExportFlow(QObject):
    """The window's export commands: choose the destination, ask before overwriting, show progress.

    ``window`` is the main window: its settings, documents, edit pipeline (exports wait until
    queued strokes are applied), model and status bar.
    """

    finished = Signal(int, bool)  #: files written, cancelled

    def __init__(self, window: QMainWindow, lane: Lane) -> None:
        super().__init__(window)
        self.window = window
        self.controller = ExportController(lane, self)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(200)
        self.bar.setFormat("Export %v/%m")
        self.bar.hide()
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel export")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.controller.cancel)
        self.controller.started.connect(self._started)
        self.controller.file_done.connect(self._file_done)
        self.controller.finished.connect(self._finished)
        self.controller.failed.connect(window.show_error)
        self._written: list[Path] = []

    @property
    def running(self) -> bool:
        return self.controller.running

    def edit_settings(self) -> None:
        w = self.window
        dialog = ExportSettingsDialog(w.settings.export, w)
        if dialog.exec() == ExportSettingsDialog.DialogCode.Accepted:
            w.settings.export = dialog.preset()
            w.tools.export_summary.setText(describe(w.settings.export))
            w.save_settings()

    def ask_overwrite(self, existing: list[Path]) -> str:
        """'overwrite', 'skip' or 'cancel' for outputs that already exist."""
        names = "\n".join(p.name for p in existing[:8]) + ("\n…" if len(existing) > 8 else "")
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Files exist",
            f"{len(existing)} file(s) already exist:\n{names}",
            parent=self.window,
        )
        overwrite = box.addButton("Overwrite", QMessageBox.ButtonRole.AcceptRole)
        skip = (
            box.addButton("Keep them (skip)", QMessageBox.ButtonRole.ActionRole)
            if len(existing) > 1
            else None
        )
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return (
            "overwrite"
            if clicked is overwrite
            else "skip"
            if skip is not None and clicked is skip
            else "cancel"
        )

    def export_current(self, dest: str | os.PathLike[str] | None = None) -> bool:
        w = self.window
        doc = w.current
        if doc is None or not doc.ready:
            w.statusBar().showMessage("Nothing to export yet: open a photo and wait for its mask", 5000)
            return False
        options = w.export_options()
        if options is None or self.running:
            return False
        confirmed = False
        if dest is None:
            default_dir = Path(w.settings.last_export_dir or doc.path.parent)
            default = doc.output_path or default_dir / f"{doc.path.stem}_cutout{output_suffix(options)}"
            name, _ = QFileDialog.getSaveFileName(w, "Export cutout", str(default))
            if not name:
                return False
            dest, confirmed = name, True  # the file dialog already asked about replacing
        target = Path(dest)
        if not target.suffix:
            target = target.with_name(target.name + output_suffix(options))
        if target.exists() and not confirmed and self.ask_overwrite([target]) != "overwrite":
            return False
        options = dataclasses.replace(options, overwrite=target.exists())
        w.settings.last_export_dir = str(target.parent)
        # Strokes still queued must be in the exported mask: start once they are applied.
        w.pipeline.call_when_idle(
            doc,
            lambda: self.controller.export(
                [doc],
                [ExportItem(doc.path, target, doc.image, doc.alpha)],
                None,
                options,
                w.masks.segmenter,
            ),
        )
        return True

    def export_all(self, out_dir: str | os.PathLike[str] | None = None) -> bool:
        w = self.window
        docs = [doc for doc in w.docs if doc.status is not DocStatus.FAILED or doc.alpha is not None]
        if not docs:
            w.statusBar().showMessage("No photos to export", 5000)
            return False
        options = w.export_options()
        if options is None or self.running:
            return False
        if out_dir is None:
            start = w.settings.last_export_dir or str(docs[0].path.parent)
            chosen = QFileDialog.getExistingDirectory(w, "Export all photos into", start)
            if not chosen:
                return False
            out_dir = chosen
        folder = Path(out_dir)
        w.settings.last_export_dir = str(folder)

        def start() -> None:
            items = ExportController.plan(docs, folder, options)
            existing = [item.output for item in items if item.output.exists()]
            answer = self.ask_overwrite(existing) if existing else "overwrite"
            if answer == "cancel":
                return
            final = dataclasses.replace(options, overwrite=answer == "overwrite")
            self.controller.export(docs, items, folder, final, w.masks.segmenter)

        w.pipeline.call_when_all_idle(start)
        return True

    def _started(self, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(0)
        self.bar.show()
        self.cancel_button.setVisible(total > 1)
        self._written = []

    def _file_done(self, doc: Document | None, result: FileResult) -> None:
        self.bar.setValue(self.bar.value() + 1)
        if doc is not None:
            self.window.filmstrip.refresh(doc)
        if result.status == "failed":
            self.window.statusBar().showMessage(result.message, 10000)
        elif result.status in ("done", "warning") and result.output is not None:
            self._written.append(result.output)

    def _finished(self, written: int, cancelled: bool) -> None:
        self.bar.hide()
        self.cancel_button.hide()
        status = self.window.statusBar()
        if cancelled:
            status.showMessage(f"Export cancelled after {written} file(s)", 8000)
        elif written == 1 and self._written:
            status.showMessage(f"Exported {self._written[0]}", 8000)
        else:
            status.showMessage(f"Exported {written} file(s)", 8000)
        self.window.save_settings()
        self.finished.emit(written, cancelled)
