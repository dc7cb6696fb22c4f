"""The batch window: the engine's run_batch on the jobs lane, with per-file status and failures.

Rows fill in as files finish; failures and warnings are listed with their reasons. Any row
(or all failures) can be opened in the editor to fix by hand. Outputs made with other
settings are kept and counted; "Redo outdated" runs again with overwrite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cutout_studio.core.batch import BatchProgress, BatchSummary, FileResult, plan_outputs, run_batch_to_end
from cutout_studio.core.export import ExportOptions
from cutout_studio.qt.workers import Job, JobContext, Lane

if TYPE_CHECKING:
    from cutout_studio.core.segmenter import Segmenter

DEFAULT_OUTPUT_NAME = "cutouts"
_STATUS_COLOURS = {
    "done": QColor(80, 200, 110),
    "warning": QColor(255, 150, 40),
    "skipped": QColor(160, 160, 160),
    "stale": QColor(200, 180, 90),
    "failed": QColor(240, 80, 80),
}


def default_output(inputs: list[Path]) -> Path:
    """``<folder>/cutouts`` next to the photos: never the photos' own folder."""
    first = inputs[0]
    base = first if first.is_dir() else first.parent
    return base / DEFAULT_OUTPUT_NAME


#: gives the model when the batch starts (it may still be loading when the dialog is set up)
SegmenterProvider = Callable[[], "Segmenter | None"]


def batch_job(
    inputs: list[Path], out_dir: Path, options: ExportOptions, segmenter: Segmenter, ctx: JobContext
) -> BatchSummary:
    """Run the core batch, forwarding each finished file to the dialog (worker thread)."""
    # progress carries each finished file, and the one-line warnings (a report that cannot be written)
    return run_batch_to_end(inputs, out_dir, options, segmenter=segmenter, cancel=ctx.cancel_event,
                            on_progress=ctx.progress, warn=ctx.progress)


class BatchIndicator(QPushButton):
    """The running batch in the main window's status bar: its progress; a click shows the window."""

    def __init__(self, dialog: BatchDialog) -> None:
        super().__init__()
        self.setFlat(True)
        self.setToolTip("A batch is running: click to show the Batch window")
        self.clicked.connect(dialog.reveal)
        self.hide()

    def follow(self, done: int, total: int) -> None:
        self.setText(f"Batch: {done}/{total}")


class BatchDialog(QDialog):
    open_requested = Signal(list)  #: [(source Path, output Path | None)]
    finished_batch = Signal(object)  #: BatchSummary or None when it failed

    COLUMNS = ("File", "Status", "Seconds", "Reason / notes")

    def __init__(self, lane: Lane, parent: QWidget | None = None, *, quit_action: QAction | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch")
        self.setModal(False)
        self._lane = lane
        self._job: Job | None = None
        self._results: list[FileResult] = []
        self.summary: BatchSummary | None = None
        self._stale = 0  #: outputs of the last run made with other settings
        self._warnings: list[str] = []  #: about the run itself (a report that cannot be written)

        self.inputs_label = QLabel()
        self.inputs_label.setWordWrap(True)
        self.output_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_output)
        self.progress = QProgressBar()
        self.summary_label = QLabel("")
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.doubleClicked.connect(lambda _index: self._open_selected())

        self.start_button = QPushButton("Start")
        self.redo_button = QPushButton("Redo outdated")
        self.redo_button.setToolTip("Run again, replacing the outputs made with other settings")
        self.cancel_button = QPushButton("Cancel")
        self.open_button = QPushButton("Open selected in editor")
        self.open_failed_button = QPushButton("Open failures in editor")
        self.open_all_button = QPushButton("Open all in editor")
        self.close_button = QPushButton("Close")
        self.start_button.clicked.connect(self.start)
        self.redo_button.clicked.connect(lambda: self.start(overwrite=True))
        if quit_action is not None:
            # the window's shortcuts do not reach a dialog that has the focus: carry Quit (Ctrl+Q)
            self.addAction(quit_action)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button.clicked.connect(self._open_selected)
        self.open_failed_button.clicked.connect(self._open_failed)
        self.open_all_button.clicked.connect(self._open_all)
        # the batch goes on, in sight: the main window's status bar shows it (``indicator``)
        self.close_button.clicked.connect(self.close)
        self.indicator = BatchIndicator(self)

        out_row = QHBoxLayout()
        out_row.addWidget(QLabel("Output folder"))
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(browse)
        buttons = QHBoxLayout()
        for button in (
            self.start_button,
            self.redo_button,
            self.cancel_button,
            self.open_button,
            self.open_failed_button,
            self.open_all_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.inputs_label)
        layout.addLayout(out_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.resize(820, 520)
        self._inputs: list[Path] = []
        self._options: ExportOptions | None = None
        self._segmenter: SegmenterProvider = lambda: None
        self._update_buttons()

    # ------------------------------------------------------------------ running

    @property
    def running(self) -> bool:
        return self._job is not None

    @property
    def results(self) -> list[FileResult]:
        return list(self._results)

    def reveal(self) -> None:
        self.show()
        self.raise_()
        self.activateWindow()

    @property
    def options(self) -> ExportOptions | None:
        """The export options the run uses (None before :meth:`configure`)."""
        return self._options

    def configure(
        self, inputs: list[Path], out_dir: Path | None, options: ExportOptions, segmenter: SegmenterProvider
    ) -> None:
        """Set up a run; ``segmenter`` is asked for the model when the run starts."""
        if not self.running:  # a new folder starts with an empty table, not the last run's
            self._clear()
        self._inputs = list(inputs)
        self._options = options
        self._segmenter = segmenter
        names = ", ".join(p.name or str(p) for p in inputs[:3]) + (" …" if len(inputs) > 3 else "")
        plate = f" · <b>clean plate:</b> {escape(options.clean_plate.name)}" if options.clean_plate else ""
        self.inputs_label.setText(f"<b>Photos:</b> {escape(names)}{plate}")
        self.output_edit.setText(str(out_dir or default_output(self._inputs)))
        self._update_buttons()

    def _clear(self) -> None:
        self._results.clear()
        self.table.setRowCount(0)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.summary_label.setText("")
        self.summary = None
        self._stale = 0
        self._warnings = []

    def start(self, overwrite: bool = False) -> None:
        if self._job is not None or not self._inputs or self._options is None:
            return
        segmenter = self._segmenter()
        if segmenter is None:
            self.summary_label.setText(
                "No segmentation model is ready: wait until it has loaded, or install it (Help > Install model)."
            )
            return
        out_dir = Path(self.output_edit.text()).expanduser()
        options = dataclasses.replace(self._options, overwrite=True) if overwrite else self._options
        total = len(plan_outputs(self._inputs, out_dir, options).jobs)
        self._clear()
        self.progress.setRange(0, max(total, 1))
        self.summary_label.setText(f"Running: {total} photo(s) → {out_dir}")
        inputs = list(self._inputs)
        self.indicator.follow(0, total)
        if self.indicator.parent() is not None:  # placed in a window (the main window's status bar)
            self.indicator.show()
        self._job = self._lane.submit(
            lambda ctx: batch_job(inputs, out_dir, options, segmenter, ctx),
            name="batch",
            on_done=self._done,
            on_error=self._failed,
            on_progress=self._on_event,
        )
        self._update_buttons()

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.summary_label.setText("Cancelling: photos already in progress are finished…")

    def _on_event(self, event: BatchProgress | str) -> None:
        if isinstance(event, str):  # a warning about the run itself: shown, the run goes on
            self._warnings.append(event)
            self.summary_label.setText(f"{self.summary_label.text()}\n{event}".strip())
            return
        result: FileResult = event.result
        self._results.append(result)
        self.progress.setRange(0, max(event.total, 1))
        self.progress.setValue(event.done)
        self.indicator.follow(event.done, event.total)
        row = self.table.rowCount()
        self.table.insertRow(row)
        values = (result.source.name, result.status, f"{result.seconds:.1f}", result.message)
        for column, value in enumerate(values):
            item = QTableWidgetItem(value)
            item.setToolTip(f"{result.source}\n{result.message}" if result.message else str(result.source))
            if column == 1:
                item.setForeground(QBrush(_STATUS_COLOURS.get(result.status, QColor("white"))))
            item.setData(Qt.ItemDataRole.UserRole, row)
            self.table.setItem(row, column, item)
        self.table.scrollToBottom()

    def _done(self, summary: BatchSummary) -> None:
        self._job = None
        self.indicator.hide()
        self.summary = summary
        lines = summary.lines()
        if summary.stale:  # the core's advice names the command line's flag; here it is a button
            lines[1] = f"{summary.stale} output(s) were made with other settings and were kept: " \
                       "“Redo outdated” replaces them"
        text = "\n".join(lines + self._warnings)
        if summary.cancelled:
            text = "Cancelled. " + text
        self._stale = summary.stale
        self.summary_label.setText(text)
        self._update_buttons()
        self.finished_batch.emit(summary)

    def _failed(self, exc: BaseException) -> None:
        self._job = None
        self.indicator.hide()
        self.summary_label.setText(f"The batch stopped: {exc}")
        self._update_buttons()
        self.finished_batch.emit(None)

    def failures(self) -> list[FileResult]:
        return [r for r in self._results if r.status == "failed"]

    # ------------------------------------------------------------------ opening results

    def _open_selected(self) -> None:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        chosen = [self._results[row] for row in rows if row < len(self._results)]
        if chosen:
            self.open_requested.emit([(r.source, r.output) for r in chosen])

    def _open_failed(self) -> None:
        failed = self.failures()
        if failed:
            self.open_requested.emit([(r.source, r.output) for r in failed])

    def _open_all(self) -> None:
        if self._results:
            self.open_requested.emit([(r.source, r.output) for r in self._results])

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.output_edit.text())
        if folder:
            self.output_edit.setText(folder)

    def _update_buttons(self) -> None:
        running = self._job is not None
        self.start_button.setEnabled(not running and bool(self._inputs))
        self.redo_button.setVisible(bool(self._stale))
        self.redo_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.output_edit.setEnabled(not running)
