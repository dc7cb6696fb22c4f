"""The main window: lays out the canvas, the filmstrip and the tools, and wires them together.

Nothing long runs here: loading and masking happen on the mask lane (:mod:`masking`), strokes
and previews on the edit lane (:mod:`editing`), exports, batches and the model install on
the jobs lane. The user's choices live in one :class:`EditorState` (:mod:`state`) that the
panels bind to and :mod:`persistence` saves; opening files is :mod:`opening`'s, the model's
label and banner :mod:`model_status`'s. This module only decides what to ask for and shows
what comes back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QProgressBar,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from cutout_studio.core.export import ExportOptions
from cutout_studio.core.mask_cache import MaskCache
from cutout_studio.core.session_store import SessionStore
from cutout_studio.core.settings import Settings, load_settings
from cutout_studio.qt.actions import Actions
from cutout_studio.qt.autosave import Autosaver
from cutout_studio.qt.batch_dialog import BatchDialog
from cutout_studio.qt.binding import canvas_follows_state
from cutout_studio.qt.brushes import GESTURES
from cutout_studio.qt.canvas import Canvas
from cutout_studio.qt.compliance import ComplianceCheck
from cutout_studio.qt.dialogs import AboutDialog, Popups, ShortcutsDialog, ask_quit, model_description
from cutout_studio.qt.document import Document
from cutout_studio.qt.editing import EditPipeline
from cutout_studio.qt.exporting import ExportFlow
from cutout_studio.qt.filmstrip import Filmstrip, FilmstripPanel
from cutout_studio.qt.masking import MaskScheduler
from cutout_studio.qt.model_status import ModelStatus
from cutout_studio.qt.opening import FileOpener, dropped_paths
from cutout_studio.qt.persistence import SettingsKeeper, restore_geometry, save_geometry
from cutout_studio.qt.photo_view import PhotoView
from cutout_studio.qt.plate import CleanPlateControl
from cutout_studio.qt.recipe_files import RecipeFiles
from cutout_studio.qt.render import warm_up
from cutout_studio.qt.review import open_review
from cutout_studio.qt.shoot import ShootFlow
from cutout_studio.qt.state import EditorState
from cutout_studio.qt.thumbnails import ThumbnailLoader
from cutout_studio.qt.tools_panel import ToolsPanel
from cutout_studio.qt.tuning import TuningFlow
from cutout_studio.qt.workers import Lanes

if TYPE_CHECKING:
    from cutout_studio.core.segmenter import Segmenter

_log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    #: a document's automatic mask arrived (or its load failed: check doc.status)
    mask_ready = Signal(object)
    #: the canvas shows a fresh layer for the document on screen
    view_updated = Signal(object)
    #: a document was put on screen
    document_shown = Signal(object)
    #: an export finished: (files written, cancelled)
    export_finished = Signal(int, bool)

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Cutout Studio")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else load_settings()
        self.state = EditorState(self)
        self.keeper = SettingsKeeper(self.state, self.settings, self)
        self.docs: list[Document] = []
        self.popups = Popups(self)
        self._warmed_up = False

        self.lanes = Lanes(self)
        self.actions_ = Actions(self)
        self.store = SessionStore()
        self.mask_cache = MaskCache()
        self.masks = MaskScheduler(
            self.lanes.mask, self.settings.model, self, self.store, self.mask_cache,
            when_idle=lambda doc, callback: self.pipeline.call_when_idle(doc, callback),
        )
        self.shoot = ShootFlow(
            self.state, lambda: self.docs, lambda: self.view.current, lambda doc: self.view.show(doc), parent=self
        )
        self.thumbs = ThumbnailLoader(self.lanes.thumbs, self)
        self.pipeline = EditPipeline(
            self.lanes.edit,
            lambda: self.view.current,
            self.state.view_settings,
            lambda: self.state.edges,
            self,
        )
        self.autosave = Autosaver(self.lanes.save, self.store, self.pipeline.intended_history, self)
        self.exports = ExportFlow(
            self.state,
            self.lanes.jobs,
            shoot=self.shoot,
            folders=self.keeper,
            idle=self.pipeline,
            documents=lambda: self.docs,
            current=lambda: self.view.current,
            segmenter=lambda: self.masks.segmenter,
            parent=self,
            load=self.masks.export_mask,
        )
        self.batch_dialog: BatchDialog | None = None
        self.opener = FileOpener(self.settings, self)
        self.model_status = ModelStatus(
            self.masks, self.lanes.jobs, self.settings.model, self.statusBar(), self.popups.keep, self
        )
        self.banner = self.model_status.banner
        self.model_label = self.model_status.label

        self._build_widgets()
        self.view = PhotoView(
            self,
            self.canvas,
            self.filmstrip,
            self.actions_,
            self.busy_bar,
            self.masks,
            self.pipeline,
            self.autosave,
            self.docs,
        )
        self.recipes = RecipeFiles(self.state, lambda: self.settings.model, self.statusBar(), self)
        self.plate = CleanPlateControl(self.state, self.lanes.thumbs, self.masks, self.shoot, self)
        self.compliance = ComplianceCheck(  # the marketplace check of the photo on screen
            self.state, self.lanes.jobs, self.tools.compliance_label, current=lambda: self.view.current,
            edges_of=self.shoot.edges_for, changed=(self.view.view_updated, self.view.document_shown), parent=self)
        self.tuning = TuningFlow(self)  # keeping finished photos, the model in use, personal tunes
        self._build_menus()
        self._connect()
        canvas_follows_state(self.state, self.canvas, self.actions_, self.view.refresh)
        restore_geometry(self)
        QApplication.instance().installEventFilter(self)  # type: ignore[union-attr]
        self.masks.load_model()
        store, cache = self.store, self.mask_cache
        self.lanes.save.submit(lambda _ctx: (store.prune(), cache.prune()), name="prune saved edits and masks")

    # ------------------------------------------------------------------ construction

    def _build_widgets(self) -> None:
        self.canvas = Canvas()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.canvas, 1)
        self.setCentralWidget(central)

        self.filmstrip = Filmstrip()
        self.filmstrip_panel = FilmstripPanel(self.filmstrip)
        self._dock("Photos", "photos_dock", self.filmstrip_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.tools = ToolsPanel(self.actions_, self.state)
        scroll = QScrollArea()
        scroll.setWidget(self.tools)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._dock("Tools", "tools_dock", scroll, Qt.DockWidgetArea.RightDockWidgetArea)

        status = self.statusBar()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(140)
        self.busy_bar.setToolTip("Working…")
        self.busy_bar.hide()
        self.zoom_label = QLabel("")
        for widget in (self.busy_bar, self.exports.bar, self.exports.cancel_button, self.zoom_label, self.model_label):
            status.addPermanentWidget(widget)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState() keys the docks by name
        dock.setWidget(widget)
        self.addDockWidget(area, dock)

    def _build_menus(self) -> None:
        a = self.actions_
        menus = {name: self.menuBar().addMenu(f"&{name}") for name in a.menu_names()}
        for menu_name, action in a.all():
            menu = menus[menu_name]
            if action in (a.export, a.quit, a.apply_edges, a.accept_next):
                menu.addSeparator()
            menu.addAction(action)
            if action is a.open_folder:
                self.opener.attach_recent_shoots(menu.addMenu("Recent &shoots"), self.shoot.store)
                self.recent_menu = menu.addMenu("Open &recent")
                self.opener.attach_recent(self.recent_menu)
            self.addAction(action)  # shortcuts work wherever the focus is in the window
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, a.shoot_toolbar(self))
        self.tuning.attach_menu(menus["Model"])

    def _connect(self) -> None:
        a = self.actions_
        a.open.triggered.connect(self.opener.choose_files)
        a.open_folder.triggered.connect(self.opener.choose_folder)
        self.opener.requested.connect(self.open_paths)
        a.export.triggered.connect(lambda: self.exports.quick_export())
        a.export_as.triggered.connect(lambda: self.export_current())
        a.export_all.triggered.connect(lambda: self.export_all())
        a.apply_edges.triggered.connect(self.shoot.apply_to_unfinished)
        a.accept_next.triggered.connect(self.shoot.accept_and_next)
        a.next_unfinished.triggered.connect(lambda: self.shoot.step_unfinished(1))
        a.previous_unfinished.triggered.connect(lambda: self.shoot.step_unfinished(-1))
        a.review.triggered.connect(lambda: open_review(self))
        a.export_settings.triggered.connect(self.exports.edit_settings)
        a.save_recipe.triggered.connect(lambda: self.recipes.save())
        a.load_recipe.triggered.connect(lambda: self.recipes.load())
        a.set_plate.triggered.connect(lambda: self.plate.choose())
        a.clear_plate.triggered.connect(lambda: self.plate.clear())
        self.plate.message.connect(self.statusBar().showMessage)
        self.plate.refused.connect(self.show_error)
        self.state.export_changed.connect(lambda options: a.clear_plate.setEnabled(options.clean_plate is not None))
        a.clear_plate.setEnabled(self.state.export.clean_plate is not None)
        a.quit.triggered.connect(self.close)
        a.undo.triggered.connect(lambda: self.view.history("undo"))
        a.redo.triggered.connect(lambda: self.view.history("redo"))
        a.reset.triggered.connect(lambda: self.view.history("reset"))
        a.brush_smaller.triggered.connect(lambda: self.state.step_brush(-1))
        a.brush_bigger.triggered.connect(lambda: self.state.step_brush(1))
        a.zoom_in.triggered.connect(lambda: self.canvas.zoom_by(1.25))
        a.zoom_out.triggered.connect(lambda: self.canvas.zoom_by(0.8))
        a.fit.triggered.connect(self.canvas.fit)
        a.actual_size.triggered.connect(self.canvas.actual_size)
        a.split.toggled.connect(lambda on: setattr(self.state, "split", on))
        a.outline.toggled.connect(self.canvas.set_show_outline)
        a.compare.triggered.connect(lambda: self.canvas.set_comparing(True))
        a.next_photo.triggered.connect(lambda: self.filmstrip.step(1))
        a.previous_photo.triggered.connect(lambda: self.filmstrip.step(-1))
        a.batch.triggered.connect(self._choose_batch_folder)
        a.shortcuts.triggered.connect(self.show_shortcuts)
        a.about.triggered.connect(self.show_about)
        a.install_model.triggered.connect(lambda: self.offer_model_install("Install or reinstall the model"))

        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.canvas.brush_resize_requested.connect(self.state.step_brush)
        self.tools.keyboard_released.connect(lambda: self.canvas.setFocus(Qt.FocusReason.OtherFocusReason))
        self.view.mask_ready.connect(self.mask_ready)
        self.view.view_updated.connect(self.view_updated)
        self.view.document_shown.connect(self.document_shown)

        self.view.before_show.append(self.shoot.showing)
        for signal in (self.state.tool_changed, self.state.edges_changed):
            signal.connect(lambda _value: self._warm_up_matting())
        self.shoot.message.connect(self.statusBar().showMessage)
        self.shoot.progress_changed.connect(self.filmstrip_panel.set_progress)
        self.masks.backlog_changed.connect(self.filmstrip_panel.set_backlog)
        self.masks.surveyed.connect(self.shoot.doc_changed)
        self.masks.prepared.connect(self.shoot.doc_changed)  # it was "computing mask" until now
        self.masks.segmenter_ready.connect(self._on_segmenter_ready)
        self.masks.model_missing.connect(lambda _message: self.view.update_busy())
        self.masks.model_failed.connect(lambda _message: self.view.update_busy())
        self.thumbs.ready.connect(self.view.on_thumbnail)
        self.autosave.errors_changed.connect(self._on_autosave_errors)
        self.pipeline.failed.connect(lambda doc, msg: self.show_error(f"{doc.name}: the edit failed: {msg}"))
        self.exports.finished.connect(self.export_finished)
        self.exports.message.connect(self.statusBar().showMessage)
        self.exports.failed.connect(self.show_error)
        self.keeper.save_failed.connect(
            lambda reason: self.statusBar().showMessage(f"Could not save the settings: {reason}", 8000)
        )
        self.view.update_actions()

    # ------------------------------------------------------------------ opening

    def open_paths(self, items: Sequence[str | os.PathLike[str]]) -> list[Document]:
        """Add photos (and the photos inside folders) to the filmstrip; shows the first new one."""
        self.shoot.opened(items)
        added = self.opener.new_documents(items, self.docs, self.shoot.store.plates())
        for doc in added:
            for slot in (self.view.doc_changed, self.autosave.mark, self.shoot.doc_changed):
                doc.changed.connect(slot)
        self.docs.extend(added)
        self.filmstrip.add_documents(self.docs, added)
        self.thumbs.add(added)
        self.shoot.update_progress()
        if added:
            self.filmstrip.select(added[0])
            self.statusBar().showMessage(f"Opened {len(added)} photo(s)", 4000)
        elif items:
            self.statusBar().showMessage("No new photos to open", 4000)
        self.view.update_actions()
        return added

    def open_results(self, results: Sequence[tuple[Path, Path | None]]) -> None:
        """Open batch results in the editor: the source photo, remembering where its cutout went."""
        self.open_paths([source for source, _ in results])
        by_path = {doc.path.resolve(): doc for doc in self.docs}
        for source, output in results:
            doc = by_path.get(Path(source).resolve())
            if doc is not None and output is not None:
                doc.output_path = Path(output)
                self.filmstrip.refresh(doc)
        first = by_path.get(Path(results[0][0]).resolve()) if results else None
        if first is not None:
            self.filmstrip.select(first)
        self.raise_()
        self.activateWindow()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        self.dragMoveEvent(event)  # a QDragEnterEvent is a QDragMoveEvent

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        """Photos open in the editor; folders run the batch with the current export settings."""
        local = dropped_paths(event.mimeData())
        if not local:
            event.ignore()
            return
        event.acceptProposedAction()
        files = [p for p in local if not p.is_dir()]
        folders = [p for p in local if p.is_dir()]
        if files:
            self.open_paths(files)
        if folders:
            self.run_batch_on(folders)

    # ------------------------------------------------------------------ model

    @property
    def current(self) -> Document | None:
        """The document on screen."""
        return self.view.current

    def show_document(self, doc: Document) -> None:
        self.view.show(doc)

    def _on_segmenter_ready(self, segmenter: Segmenter) -> None:
        _log.info("model %s ready (%s, %s)", segmenter.card.name, segmenter.device_label, segmenter.precision)
        self.view.want_masks()
        self.view.update_busy()
        self._warm_up_matting()

    def _warm_up_matting(self) -> None:
        """Only matting and the refine-edge brush need pymatting's numba kernels (compiled once
        per installation, tens of seconds): load them when either is chosen, while the user
        looks at the photo, not on the first preview or stroke."""
        if not self._warmed_up and (self.state.edges.matting or self.state.tool == "refine"):
            self._warmed_up = True
            self.lanes.thumbs.submit(lambda _ctx: warm_up(), name="warm up matting")

    def offer_model_install(self, reason: str) -> QWidget:
        return self.model_status.offer_install(reason)

    # ------------------------------------------------------------------ view

    def set_brush_size(self, size: float) -> None:
        self.state.brush_size = size

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        # "Show original (hold)": its action turns the comparison on; the key's release ends it.
        if isinstance(event, QKeyEvent) and event.type() == QEvent.Type.KeyRelease and self.canvas.comparing:
            if not event.isAutoRepeat() and event.key() == Qt.Key.Key_Backslash:
                self.canvas.set_comparing(False)
        return False

    # ------------------------------------------------------------------ export

    def export_current(self, dest: str | os.PathLike[str] | None = None) -> bool:
        """Export the photo on screen (asks where when ``dest`` is None); False if it did not start."""
        return self.exports.export_current(dest)

    def export_all(self, out_dir: str | os.PathLike[str] | None = None) -> bool:
        """Export every loaded photo into a folder (asks which when ``out_dir`` is None)."""
        return self.exports.export_all(out_dir)

    def export_options(self) -> ExportOptions:
        """The batch's options: the preset with the edge settings on the panel."""
        return self.state.export_for()

    # ------------------------------------------------------------------ batch

    def _choose_batch_folder(self) -> None:
        if self.batch_dialog is not None and self.batch_dialog.running:
            self.batch_dialog.show()
            self.batch_dialog.raise_()
            return
        folder = QFileDialog.getExistingDirectory(
            self, "Run the batch on a folder", self.settings.last_batch_dir
        )
        if folder:
            self.run_batch_on([Path(folder)], start=False)

    def run_batch_on(
        self, inputs: Sequence[Path], out_dir: Path | None = None, *, start: bool = True
    ) -> BatchDialog:
        """Show the batch window for ``inputs`` with the current export settings (and start it)."""
        options = self.export_options()
        dialog = self.batch_dialog
        if dialog is None:
            dialog = self.batch_dialog = BatchDialog(self.lanes.jobs, self, quit_action=self.actions_.quit)
            dialog.open_requested.connect(self.open_results)
            dialog.finished_batch.connect(self._on_batch_finished)
            self.statusBar().addPermanentWidget(dialog.indicator)  # a closed Batch window's run stays in sight
        if dialog.running:
            self.show_error("A batch is already running: wait for it or cancel it first")
            dialog.show()
            return dialog
        if options is not None:
            self.keeper.remember_folder("last_batch_dir", inputs[0])
            dialog.configure(list(inputs), out_dir, options, lambda: self.masks.segmenter)
        dialog.show()
        dialog.raise_()
        if start and options is not None:
            dialog.start()
        return dialog

    def _on_batch_finished(self, summary: object) -> None:
        dialog = self.batch_dialog
        if dialog is not None and not dialog.isVisible():  # its window was closed: say it here
            self.statusBar().showMessage(f"Batch: {dialog.summary_label.text().splitlines()[0]}", 15000)

    # ------------------------------------------------------------------ help and errors

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(self.actions_.all(), GESTURES, self)
        self.popups.keep(dialog)
        dialog.show()
        return dialog

    def show_about(self) -> AboutDialog:
        segmenter = self.masks.segmenter
        model = model_description(segmenter.card) if segmenter is not None else self.model_status.text
        device = f"{segmenter.device_label}, {segmenter.precision}" if segmenter is not None else "—"
        dialog = AboutDialog(model, device, self)
        self.popups.keep(dialog)
        dialog.show()
        return dialog

    def show_error(self, message: str) -> None:
        """An error the user should see: in the status bar and in a (non-blocking) dialog."""
        self.statusBar().showMessage(message, 15000)
        self.popups.error(message)

    def save_settings(self) -> None:
        """Write the settings now (they are also written a second after each change of the state)."""
        self.keeper.save()

    # ------------------------------------------------------------------ autosave and quitting

    def _on_autosave_errors(self) -> None:
        for doc, reason in list(self.autosave.errors.values())[:1]:
            self.statusBar().showMessage(f"Could not autosave the edits of {doc.name}: {reason}", 15000)

    def quit_risks(self) -> list[str]:
        """What quitting now would lose, one line each (empty: quit without asking)."""
        risks = [f"edits not saved: {line}" for line in self.autosave.flush(self.docs)]
        if self.exports.running:
            risks.append("an export is running: it will be cancelled")
        if self.batch_dialog is not None and self.batch_dialog.running:
            risks.append("a batch is running: it will be cancelled (finished photos are kept)")
        risks += self.tuning.risks()
        return risks

    def confirm_quit(self, risks: Sequence[str]) -> bool:
        """Ask whether to quit anyway (tests replace this)."""
        return ask_quit(self, risks)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        risks = self.quit_risks()
        if risks and not self.confirm_quit(risks):
            event.ignore()
            return
        if self.exports.running:
            self.exports.controller.cancel()
        if self.batch_dialog is not None and self.batch_dialog.running:
            self.batch_dialog.cancel()
        self.keeper.save()
        save_geometry(self)
        QApplication.instance().removeEventFilter(self)  # type: ignore[union-attr]
        self.tuning.shutdown()
        self.lanes.shutdown()
        super().closeEvent(event)
