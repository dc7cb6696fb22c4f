"""Exporting from the editor, on the jobs lane, through the engine's one export and batch paths.

:class:`~cutout_studio.qt.export_jobs.ExportController` runs the job and reports per file;
:class:`ExportFlow` is the user's side of it: where to write, whether to overwrite, the
progress bar. It works from the
:class:`EditorState` (the preset) and the collaborators it is given, never from the window.

Export (quick export: one key, no dialog) and Export all go through the engine's
:func:`run_batch`, like the command line, into the shoot's output folder: the same planner
names every output from the shoot's inputs (so one photo gets the same name whichever way it
is exported, and the name a batch of the folder would give it), the same lock, manifest and
resume rules apply; photos open in the editor are written from their current masks with
their own edge settings (``prepared``), the others are loaded and masked as a batch would.
Export as… (a name the user chose) writes the one photo through the batch's own last step
(:func:`~cutout_studio.core.batch_steps.write_job`): the same marketplace check, warnings and
result as quick export, Export all and the Batch window, without a folder's plan or manifest.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressBar, QToolButton, QWidget

from cutout_studio.core.batch_results import FileResult
from cutout_studio.core.export import output_suffix
from cutout_studio.core.export.presets import PRESETS
from cutout_studio.qt.document import DocStatus, Document
from cutout_studio.qt.export_dialog import ExportSettingsDialog
from cutout_studio.qt.export_jobs import (
    ExportController,
    ExportItem,
    LoadMask,
    make_folders,
    owner_of,
    remove_empty,
    up_to_date,
)
from cutout_studio.qt.persistence import SettingsKeeper
from cutout_studio.qt.shoot import ShootFlow, shoot_inputs
from cutout_studio.qt.state import EditorState
from cutout_studio.qt.workers import Lane

if TYPE_CHECKING:
    from cutout_studio.core.segmenter import Segmenter

#: the settings' name of the folder the last export went to
EXPORT_DIR = "last_export_dir"


class IdleHooks(Protocol):
    """When queued strokes are applied (the edit pipeline): an export waits for them."""

    def call_when_idle(self, doc: Document, callback: Callable[[], None]) -> None: ...
    def call_when_all_idle(self, callback: Callable[[], None]) -> None: ...


class ExportFlow(QObject):
    """The export commands: choose the destination, ask before overwriting, show progress.

    It takes its collaborators, never the window: the :class:`EditorState` (whose ``export``
    is the preset), the shoot (its output folder, inputs and each photo's edge settings), the
    settings keeper (the last folder of Export as…), the edit pipeline's idle
    hooks (an export waits until queued strokes are applied), the documents, the one on
    screen and the segmenter (callables: they change while the editor runs), and a widget
    to parent its dialogs. What it has to say goes out as ``message`` and ``failed``;
    documents announce their new status themselves (``doc.changed``).
    """

    finished = Signal(int, bool)  #: files written, cancelled
    message = Signal(str, int)  #: a status line and how long to show it (ms)
    failed = Signal(str)  #: an error the user should see

    def __init__(
        self,
        state: EditorState,
        lane: Lane,
        *,
        shoot: ShootFlow,
        folders: SettingsKeeper,
        idle: IdleHooks,
        documents: Callable[[], Sequence[Document]],
        current: Callable[[], Document | None],
        segmenter: Callable[[], Segmenter | None],
        parent: QWidget,
        load: LoadMask | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.shoot = shoot
        self._folders = folders
        self._idle = idle
        self._documents = documents
        self._current = current
        self._segmenter = segmenter
        self._load = load  # photos not in memory keep their saved strokes in Export all
        self._parent = parent
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
        self.controller.failed.connect(self.failed)
        self._written: list[Path] = []
        self._failed: list[str] = []  #: reasons of this export's failed files
        self._checks: list[str] = []  #: the marketplace check of each file written ("Amazon: ok", ...)

    @property
    def running(self) -> bool:
        return self.controller.running

    def edit_settings(self) -> ExportSettingsDialog:
        """Show the export settings (window-modal); accepting them sets the state's preset, which
        the tools panel shows and the settings keeper saves."""
        dialog = ExportSettingsDialog(self.state.export, self._parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: setattr(self.state, "export", dialog.preset()))
        dialog.open()
        return dialog

    def ask_overwrite(self, existing: list[Path], can_skip: bool = False) -> str:
        """'overwrite', 'skip' or 'cancel' for outputs that already exist; ``can_skip``: other
        photos are exported too, so keeping these (even a single one) still writes the rest."""
        names = "\n".join(p.name for p in existing[:8]) + ("\n…" if len(existing) > 8 else "")
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Files exist",
            f"{len(existing)} file(s) already exist:\n{names}",
            parent=self._parent,
        )
        overwrite = box.addButton("Overwrite", QMessageBox.ButtonRole.AcceptRole)
        skip = (
            box.addButton("Keep them (skip)", QMessageBox.ButtonRole.ActionRole)
            if can_skip or len(existing) > 1
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

    def _photo_to_export(self) -> Document | None:
        doc = self._current()
        if doc is None or not doc.ready:
            self.message.emit("Nothing to export yet: open a photo and wait for its mask", 5000)
            return None
        return None if self.running else doc

    def quick_export(self) -> bool:
        """Export the photo on screen into the shoot's output folder under the name Export all
        and a batch give it, without a dialog; False if it did not start.

        Its own earlier output is replaced; a file of that name that is not its own (made by
        hand, or by something else) is replaced only if the user says so."""
        doc = self._photo_to_export()
        folder = self.shoot.output_dir
        if doc is None or folder is None:
            return False
        docs = list(self._documents())
        inputs = shoot_inputs(docs)
        options = self.state.export
        items = ExportController.plan([doc], folder, options, inputs, self.shoot.edges_for)
        if not items:
            self.failed.emit(f"{doc.label}: it is an output of ours or open twice: not exported")
            return False
        source, target = items[0].source, items[0].output
        if target.exists() and owner_of(target, folder) != doc.path.resolve():
            if self.ask_overwrite([target]) != "overwrite":
                return False
        final = dataclasses.replace(options, overwrite=True)
        # Strokes still queued must be in the exported mask: the pixels are taken once they are
        # applied (the name is planned already).
        self._idle.call_when_idle(
            doc,
            lambda: self.controller.export(
                [doc],
                [ExportController.item(doc, source, target, self.shoot.edges_for)],
                folder,
                final,
                self._segmenter(),
                inputs,
            ),
        )
        return True

    def export_current(self, dest: str | os.PathLike[str] | None = None) -> bool:
        """Export as…: the photo on screen to ``dest`` (asks where when None); False if it did
        not start. The dialog proposes the name quick export would use."""
        doc = self._photo_to_export()
        if doc is None:
            return False
        options = self.state.export_for(self.shoot.edges_for(doc))
        confirmed = False
        if dest is None:
            default_dir = Path(self._folders.folder(EXPORT_DIR) or self.shoot.output_dir or doc.path.parent)
            planned = ExportController.plan([doc], default_dir, options, shoot_inputs(list(self._documents())),
                                            self.shoot.edges_for)
            default = planned[0].output if planned else default_dir / f"{doc.path.stem}{output_suffix(options)}"
            if doc.output_path is not None:  # where it went last time, in today's format
                default = doc.output_path.with_suffix(output_suffix(options))
            # The proposal's folder (the shoot's "cutouts", say) may not exist yet: the file dialog
            # would then open in the working folder, and Save write there. Made now; removed
            # again if the user cancels and it stayed empty.
            made = make_folders(default.parent)
            name, _ = QFileDialog.getSaveFileName(self._parent, "Export cutout as", str(default))
            if not name:
                remove_empty(made)
                return False
            dest, confirmed = name, True  # the file dialog already asked about replacing
        target = Path(dest)
        if not target.suffix:
            target = target.with_name(target.name + output_suffix(options))
        if target.exists() and not confirmed and self.ask_overwrite([target]) != "overwrite":
            return False
        options = dataclasses.replace(options, overwrite=target.exists())
        self._folders.remember_folder(EXPORT_DIR, target.parent)
        # Strokes still queued must be in the exported mask: start once they are applied.
        self._idle.call_when_idle(
            doc,
            lambda: self.controller.export(
                [doc],
                [ExportItem(doc.path, target, doc.image, doc.alpha)],
                None,
                options,
                self._segmenter(),
            ),
        )
        return True

    def export_all(self, out_dir: str | os.PathLike[str] | None = None) -> bool:
        """Every photo of the shoot into ``out_dir`` (asks, proposing the shoot's output folder,
        when None); the folder becomes the shoot's output folder."""
        docs = [doc for doc in self._documents() if doc.status is not DocStatus.FAILED or doc.alpha is not None]
        if not docs:
            self.message.emit("No photos to export", 5000)
            return False
        if self.running:
            return False
        options = self.state.export
        if out_dir is None:
            start_dir = str(self.shoot.output_dir or docs[0].path.parent)
            chosen = QFileDialog.getExistingDirectory(self._parent, "Export all photos into", start_dir)
            if not chosen:
                return False
            out_dir = chosen
        folder = Path(out_dir)
        self.shoot.set_output_dir(folder)
        inputs = shoot_inputs(list(self._documents()))

        def start() -> None:
            planned = ExportController.plan(docs, folder, options, inputs, self.shoot.edges_for)
            by_source = {doc.path.resolve(): doc for doc in docs}
            # Up to date (exported from what the photo is now): left as it is. The photo's own
            # older output: replaced. Only a file that is not ours is asked about.
            items = [item for item in planned if not up_to_date(by_source[item.source.resolve()], item.output)]
            foreign = [item.output for item in items if item.output.exists()
                       and owner_of(item.output, folder) != item.source.resolve()]
            answer = self.ask_overwrite(foreign, can_skip=True) if foreign else "overwrite"
            if answer == "cancel":
                return
            if answer == "skip":
                items = [item for item in items if item.output not in foreign]
            if len(items) < len(planned):
                self.message.emit(f"{len(planned) - len(items)} photo(s) already exported as they are now", 6000)
            if items:
                final = dataclasses.replace(options, overwrite=True)
                self.controller.export(docs, items, folder, final, self._segmenter(), inputs, self._load)
            else:
                self.finished.emit(0, False)

        self._idle.call_when_all_idle(start)
        return True

    def _started(self, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(0)
        self.bar.show()
        self.cancel_button.setVisible(total > 1)
        self._written = []
        self._failed = []
        self._checks = []

    def _file_done(self, _doc: Document | None, result: FileResult) -> None:
        self.bar.setValue(self.bar.value() + 1)
        if result.status == "failed":
            self._failed.append(result.message)
            self.message.emit(result.message, 10000)
        elif result.status in ("done", "warning") and result.output is not None:
            self._written.append(result.output)
            options = self.controller.options
            if result.compliance and options is not None and options.preset is not None:
                self._checks.append(f"{PRESETS[options.preset].label}: {result.compliance}")

    def _finished(self, written: int, cancelled: bool) -> None:
        self.bar.hide()
        self.cancel_button.hide()
        if cancelled:
            self.message.emit(f"Export cancelled after {written} file(s)", 8000)
        elif self._failed and not written:
            # nothing was written: say why where it cannot be missed (a status line is replaced
            # by the next one within a second)
            more = f" (and {len(self._failed) - 1} more, see the log)" if len(self._failed) > 1 else ""
            self.failed.emit(f"Nothing was exported: {self._failed[0]}{more}")
        elif self._failed:
            self.message.emit(f"Exported {written} file(s); {len(self._failed)} failed: {self._failed[0]}", 15000)
        elif written == 1 and self._written:
            # one file: its marketplace check on the same line (the photo's row keeps a failed one)
            check = f" · {self._checks[0]}" if self._checks else ""
            self.message.emit(f"Exported {self._written[0]}{check}", 15000 if check else 8000)
        else:
            failing = sum(not c.endswith(": ok") for c in self._checks)
            check = f"; {failing} fail the marketplace check (see each photo)" if failing else ""
            self.message.emit(f"Exported {written} file(s){check}", 15000 if check else 8000)
        self.finished.emit(written, cancelled)
