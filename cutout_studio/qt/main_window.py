"""The main window: wires the canvas, the filmstrip, the tools and the workers together.

Nothing long runs here: loading and masking happen on the mask lane (:mod:`masking`), strokes
and previews on the edit lane (:mod:`editing`), exports, batches and the model install on
the jobs lane. This module only decides what to ask for and shows what comes back.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QColor, QDragEnterEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from cutout_studio.core import paths
from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.image_io import IMAGE_SUFFIXES
from cutout_studio.core.session_store import SessionStore
from cutout_studio.core.settings import Settings, load_settings, save_settings
from cutout_studio.qt.actions import Actions
from cutout_studio.qt.autosave import Autosaver
from cutout_studio.qt.batch_dialog import BatchDialog
from cutout_studio.qt.canvas import GESTURES, Canvas
from cutout_studio.qt.dialogs import (
    AboutDialog,
    ModelBanner,
    ModelInstallDialog,
    ShortcutsDialog,
    ask_quit,
    model_description,
)
from cutout_studio.qt.document import DocStatus, Document, HistoryCommand, StrokeCommand, scan_paths
from cutout_studio.qt.editing import EditPipeline, EditResult
from cutout_studio.qt.export_dialog import describe
from cutout_studio.qt.exporting import ExportFlow
from cutout_studio.qt.filmstrip import Filmstrip
from cutout_studio.qt.masking import PREFETCH, MaskScheduler, ThumbnailLoader
from cutout_studio.qt.render import ViewSettings, warm_up
from cutout_studio.qt.tools_panel import MAX_BRUSH, MIN_BRUSH, ToolsPanel, step_brush_size
from cutout_studio.qt.workers import Lanes

_log = logging.getLogger(__name__)
WINDOW_STATE_FILE = "window.ini"


def window_state_store() -> QSettings:
    """Window geometry lives in an INI file beside the settings (never the system registry)."""
    return QSettings(str(paths.config_dir() / WINDOW_STATE_FILE), QSettings.Format.IniFormat)


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
        self.docs: list[Document] = []
        self.current: Document | None = None
        self.model_label_text = "loading…"
        self._error_box: QMessageBox | None = None
        self._dialogs: list[QWidget] = []
        self._warmed_up = False

        self.lanes = Lanes(self)
        self.actions_ = Actions(self)
        self.store = SessionStore()
        self.masks = MaskScheduler(self.lanes.mask, self.settings.model, self, self.store)
        self.thumbs = ThumbnailLoader(self.lanes.thumbs, self)
        self.pipeline = EditPipeline(
            self.lanes.edit, lambda: self.current, self.view_settings, self.edge_options, self
        )
        self.autosave = Autosaver(self.lanes.save, self.store, self.pipeline.intended_history, self)
        # Settings (edge preset included) are saved soon after they change, not only at close.
        self._settings_timer = QTimer(self)
        self._settings_timer.setSingleShot(True)
        self._settings_timer.setInterval(1000)
        self._settings_timer.timeout.connect(self.save_settings)
        self.exports = ExportFlow(self, self.lanes.jobs)
        self.batch_dialog: BatchDialog | None = None

        self._build_widgets()
        self._build_menus()
        self._connect()
        self._apply_settings()
        self._restore_geometry()
        QApplication.instance().installEventFilter(self)
        self.masks.load_model()
        store = self.store
        self.lanes.save.submit(lambda _ctx: store.prune(), name="prune saved edits")

    # ------------------------------------------------------------------ construction

    def _build_widgets(self) -> None:
        self.canvas = Canvas()
        self.banner = ModelBanner()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.canvas, 1)
        self.setCentralWidget(central)

        self.filmstrip = Filmstrip()
        photos = QDockWidget("Photos", self)
        photos.setObjectName("photos_dock")
        photos.setWidget(self.filmstrip)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, photos)

        self.tools = ToolsPanel(self.actions_)
        scroll = QScrollArea()
        scroll.setWidget(self.tools)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        tools = QDockWidget("Tools", self)
        tools.setObjectName("tools_dock")
        tools.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, tools)

        status = self.statusBar()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(140)
        self.busy_bar.setToolTip("Working…")
        self.busy_bar.hide()
        self.zoom_label = QLabel("")
        self.model_label = QLabel("Model: loading…")
        for widget in (
            self.busy_bar,
            self.exports.bar,
            self.exports.cancel_button,
            self.zoom_label,
            self.model_label,
        ):
            status.addPermanentWidget(widget)

    def _build_menus(self) -> None:
        menus = {name: self.menuBar().addMenu(f"&{name}") for name in self.actions_.menu_names()}
        self.recent_menu = None
        for menu_name, action in self.actions_.all():
            menu = menus[menu_name]
            if action is self.actions_.export:
                menu.addSeparator()
            if action is self.actions_.quit:
                menu.addSeparator()
            menu.addAction(action)
            if action is self.actions_.open_folder:
                self.recent_menu = menu.addMenu("Open &recent")
                self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
            self.addAction(action)  # shortcuts work wherever the focus is in the window

    def _connect(self) -> None:
        a = self.actions_
        a.open.triggered.connect(self._choose_files)
        a.open_folder.triggered.connect(self._choose_folder)
        a.export.triggered.connect(lambda: self.export_current())
        a.export_all.triggered.connect(lambda: self.export_all())
        a.export_settings.triggered.connect(self.exports.edit_settings)
        a.quit.triggered.connect(self.close)
        a.undo.triggered.connect(lambda: self._history("undo"))
        a.redo.triggered.connect(lambda: self._history("redo"))
        a.reset.triggered.connect(lambda: self._history("reset"))
        for tool, action in a.tools.items():
            action.triggered.connect(lambda _checked=False, t=tool: self.canvas.set_tool(t))
        a.brush_smaller.triggered.connect(lambda: self.step_brush(-1))
        a.brush_bigger.triggered.connect(lambda: self.step_brush(1))
        a.zoom_in.triggered.connect(lambda: self.canvas.zoom_by(1.25))
        a.zoom_out.triggered.connect(lambda: self.canvas.zoom_by(0.8))
        a.fit.triggered.connect(self.canvas.fit)
        a.actual_size.triggered.connect(self.canvas.actual_size)
        for mode, action in a.modes.items():
            action.triggered.connect(lambda _checked=False, m=mode: self.set_view_mode(m))
        a.split.toggled.connect(self.canvas.set_split)
        a.compare.triggered.connect(lambda: self.canvas.set_comparing(True))
        a.next_photo.triggered.connect(lambda: self.filmstrip.step(1))
        a.previous_photo.triggered.connect(lambda: self.filmstrip.step(-1))
        a.batch.triggered.connect(self._choose_batch_folder)
        a.shortcuts.triggered.connect(self.show_shortcuts)
        a.about.triggered.connect(self.show_about)
        a.install_model.triggered.connect(lambda: self.offer_model_install("Install or reinstall the model"))

        self.canvas.stroke_finished.connect(self._on_stroke)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.canvas.brush_resize_requested.connect(self.step_brush)
        self.filmstrip.document_selected.connect(self.show_document)
        self.tools.brush_size_changed.connect(self._brush_size_from_panel)
        self.tools.view_mode_changed.connect(self.set_view_mode)
        self.tools.overlay_changed.connect(self._overlay_changed)
        self.tools.cutout_color_changed.connect(self._cutout_color_changed)
        self.tools.edges_changed.connect(self._edges_changed)
        self.banner.install_button.clicked.connect(lambda: self.offer_model_install(self.banner.label.text()))

        self.masks.prepared.connect(self._on_prepared)
        self.masks.failed.connect(self._on_prepare_failed)
        self.masks.started.connect(self._on_prepare_started)
        self.masks.segmenter_ready.connect(self._on_segmenter_ready)
        self.masks.model_missing.connect(self._on_model_missing)
        self.masks.model_failed.connect(self._on_model_failed)
        self.thumbs.ready.connect(self._on_thumbnail)
        self.pipeline.rendered.connect(self._on_rendered)
        self.pipeline.previewed.connect(self._on_previewed)
        self.pipeline.changed.connect(self._on_doc_changed)
        self.pipeline.changed.connect(self.autosave.mark)
        self.autosave.errors_changed.connect(self._on_autosave_errors)
        self.pipeline.failed.connect(lambda doc, msg: self.show_error(f"{doc.name}: the edit failed: {msg}"))
        self.pipeline.busy_changed.connect(lambda _b: self._update_busy())
        self.exports.finished.connect(self.export_finished)
        self.exports.finished.connect(self._mark_exported)
        self._update_actions()

    def _apply_settings(self) -> None:
        editor = self.settings.editor
        self.set_brush_size(editor.brush_size)
        color = QColor(editor.overlay_color)
        self.tools.set_overlay(color if color.isValid() else QColor("#4f6bff"), editor.overlay_opacity)
        cutout = QColor(editor.cutout_color)
        self.tools.cutout_button.set_color(cutout if cutout.isValid() else QColor("white"))
        self.canvas.set_cutout_color(self.tools.cutout_button.color)
        preset = self.settings.export
        edges = preset.edges
        self.tools.set_edges(edges.feather, edges.shift, edges.matting, edges.decontaminate)
        self.tools.export_summary.setText(describe(preset))
        self.set_view_mode(editor.view_mode if editor.view_mode in self.actions_.modes else "overlay")

    def _restore_geometry(self) -> None:
        store = window_state_store()
        geometry = store.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        state = store.value("state")
        if state is not None:
            self.restoreState(state)

    # ------------------------------------------------------------------ opening

    def open_paths(self, items: Sequence[str | os.PathLike[str]]) -> list[Document]:
        """Add photos (and the photos inside folders) to the filmstrip; shows the first new one."""
        known = {doc.path.resolve() for doc in self.docs}
        added: list[Document] = []
        for path in scan_paths(items):
            if path.resolve() in known:
                continue
            known.add(path.resolve())
            doc = Document(path)
            if not path.is_file():
                doc.status = DocStatus.FAILED
                doc.message = (
                    f"{path.name}: file not found" if not path.exists() else f"{path.name}: not a file"
                )
            self.docs.append(doc)
            self.filmstrip.add(doc)
            added.append(doc)
        for item in items:
            self.settings.add_recent(Path(item).expanduser().absolute())
        if items:
            # Absolute: the next launch may start in another working directory.
            first = Path(items[0]).expanduser().resolve()
            self.settings.last_open_dir = str(first if first.is_dir() else first.parent)
        self.thumbs.add(added)
        if added:
            self.filmstrip.select(added[0])
            self.statusBar().showMessage(f"Opened {len(added)} photo(s)", 4000)
        elif items:
            self.statusBar().showMessage("No new photos to open", 4000)
        self._update_actions()
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

    def _choose_files(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
        names, _ = QFileDialog.getOpenFileNames(
            self, "Open photos", self.settings.last_open_dir, f"Photos ({patterns});;All files (*)"
        )
        if names:
            self.open_paths(names)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open a folder of photos", self.settings.last_open_dir
        )
        if folder:
            self.open_paths([folder])

    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        for entry in self.settings.recent_files:
            action = menu.addAction(entry)
            action.triggered.connect(lambda _checked=False, p=entry: self.open_paths([p]))
        if not self.settings.recent_files:
            menu.addAction("(none)").setEnabled(False)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        """Photos open in the editor; folders run the batch with the current export settings."""
        local = [
            Path(url.toLocalFile())
            for url in event.mimeData().urls()
            if isinstance(url, QUrl) and url.isLocalFile()
        ]
        folders = [p for p in local if p.is_dir()]
        files = [p for p in local if not p.is_dir()]
        if not local:
            event.ignore()
            return
        event.acceptProposedAction()
        if files:
            self.open_paths(files)
        if folders:
            self.run_batch_on(folders)

    # ------------------------------------------------------------------ showing a photo

    def show_document(self, doc: Document) -> None:
        if doc is self.current and self.canvas.has_photo:
            return
        self.canvas.set_comparing(False)
        self.current = doc
        self.filmstrip.select(doc)
        self.setWindowTitle(f"{doc.name} — Cutout Studio")
        self.canvas.set_photo(doc.photo)
        self._show_last_layer(doc)
        self._update_placeholder()
        if doc.ready:
            self.pipeline.request(doc)
        self._want_masks()
        self._update_actions()
        self._update_busy()
        if doc.status is DocStatus.FAILED:
            self.statusBar().showMessage(f"{doc.name}: {doc.message}", 8000)
        self.document_shown.emit(doc)

    def _want_masks(self) -> None:
        if self.current is None:
            return
        index = self.docs.index(self.current)
        ahead = self.docs[index + 1 : index + 1 + PREFETCH]
        self.masks.want([self.current, *ahead])

    def _update_placeholder(self) -> None:
        doc = self.current
        if doc is not None and doc.status is DocStatus.FAILED:
            self.canvas.set_placeholder(f"Cannot open this photo.\n{doc.message}")
        elif doc is not None:
            self.canvas.set_placeholder(f"Loading {doc.name}…")
        else:
            self.canvas.set_placeholder(None)

    def _on_thumbnail(self, doc: Document) -> None:
        self.filmstrip.refresh(doc)
        if doc is self.current and doc.status is DocStatus.FAILED:
            self.statusBar().showMessage(f"{doc.name}: {doc.message}", 10000)
            self._update_placeholder()
            self._update_busy()

    def _on_prepare_started(self, doc: Document) -> None:
        self.filmstrip.refresh(doc)
        self._update_busy()

    def _on_prepared(self, doc: Document) -> None:
        self.autosave.settle(doc)
        self.filmstrip.refresh(doc)
        if doc is self.current:
            if doc.photo is not None and self.canvas.photo_item.layer is not doc.photo:
                self.canvas.set_photo(doc.photo)
                self._show_last_layer(doc)
            if doc.ready:
                self.pipeline.request(doc)
            if doc.image is not None and doc.image.notes:
                self.statusBar().showMessage(f"{doc.name}: {'; '.join(doc.image.notes)}", 8000)
        self._update_actions()
        self._update_busy()
        if doc.alpha is not None:
            self.mask_ready.emit(doc)

    def _on_prepare_failed(self, doc: Document) -> None:
        self.filmstrip.refresh(doc)
        if doc is self.current:
            self.canvas.set_photo(None)
            self._update_placeholder()
            self.statusBar().showMessage(f"{doc.name}: {doc.message}", 10000)
        self._update_actions()
        self._update_busy()
        self.mask_ready.emit(doc)

    def _show_last_layer(self, doc: Document) -> None:
        """Until a fresh picture arrives, the canvas shows the photo's last one, not a bare photo."""
        if doc.layer is not None:
            self.canvas.set_layer(doc.layer, doc.layer_mode)

    def _on_previewed(self, doc: Document, result: EditResult) -> None:
        if doc is self.current and result.layer is not None:
            self.canvas.set_layer(result.layer, result.mode)

    def _on_rendered(self, doc: Document, result: EditResult) -> None:
        if doc is not self.current:
            return
        if result.layer is not None:
            doc.layer, doc.layer_mode = result.layer, result.mode
            self.canvas.set_layer(result.layer, result.mode)
        # (the original photo needs no layer: the last one stays for when the view comes back)
        self.canvas.clear_stroke_previews()
        self._update_busy()
        self.view_updated.emit(doc)

    def _on_doc_changed(self, doc: Document) -> None:
        self.filmstrip.refresh(doc)
        if doc is self.current:
            self._update_actions()

    # ------------------------------------------------------------------ model

    def _on_segmenter_ready(self, segmenter) -> None:
        self.banner.hide()
        self.model_label_text = f"{segmenter.model_name} on {segmenter.device_label}"
        self.model_label.setText(f"Model: {self.model_label_text}")
        self.model_label.setToolTip(model_description(segmenter.card))
        self.statusBar().showMessage(f"Model {segmenter.model_name} ready on {segmenter.device_label}", 4000)
        self._want_masks()
        self._update_busy()
        if not self._warmed_up and self.settings.export.edges.matting:
            # only matting needs pymatting's numba kernels (compiled once per installation):
            # load them while the user looks at the photos, not on the first preview
            self._warmed_up = True
            self.lanes.thumbs.submit(lambda _ctx: warm_up(), name="warm up matting")

    def _on_model_missing(self, message: str) -> None:
        self.model_label_text = "not installed"
        self.model_label.setText("Model: not installed")
        self.banner.label.setText(
            f"No segmentation model is installed ({message}). Photos open, but there is no automatic mask."
        )
        self.banner.show()
        self._update_busy()

    def _on_model_failed(self, message: str) -> None:
        self.model_label_text = "unavailable"
        self.model_label.setText("Model: unavailable")
        self.banner.label.setText(f"The segmentation model cannot be loaded: {message}")
        self.banner.show()
        self._update_busy()

    def offer_model_install(self, reason: str) -> ModelInstallDialog:
        dialog = ModelInstallDialog(self.lanes.jobs, self.settings.model, reason.rstrip("."), self)
        dialog.installed.connect(lambda _m: self._model_installed())
        self._keep(dialog)
        dialog.show()
        return dialog

    def _model_installed(self) -> None:
        self.masks.segmenter = None
        self.masks.load_model()

    # ------------------------------------------------------------------ brushes and history

    def _on_stroke(self, kind: str, points: list, radius: float) -> None:
        doc = self.current
        if doc is None or not doc.ready:
            self.canvas.clear_stroke_previews()
            return
        command = StrokeCommand(kind, tuple((float(x), float(y)) for x, y in points), float(radius))
        self.pipeline.push(doc, command)
        self.autosave.mark(doc)
        self._update_actions()
        self._update_busy()

    def _history(self, action: str) -> None:
        doc = self.current
        if doc is None or not doc.ready:
            return
        self.pipeline.push(doc, HistoryCommand(action))
        self.autosave.mark(doc)
        self._update_busy()

    def set_brush_size(self, size: float) -> None:
        size = float(min(max(round(size), MIN_BRUSH), MAX_BRUSH))
        if size == self.settings.editor.brush_size and self.tools.brush_size == size:
            self.canvas.set_brush_radius(size / 2)
            return
        self.settings.editor.brush_size = size
        self.tools.set_brush_size(size)
        self.canvas.set_brush_radius(size / 2)

    def step_brush(self, direction: int) -> None:
        """``]`` / ``[`` and Ctrl+wheel: one step bigger (> 0) or smaller (< 0)."""
        self.set_brush_size(step_brush_size(self.settings.editor.brush_size, direction))

    def _brush_size_from_panel(self, size: float) -> None:
        self.settings.editor.brush_size = size
        self.canvas.set_brush_radius(size / 2)

    # ------------------------------------------------------------------ view and edges

    def view_settings(self) -> ViewSettings:
        editor = self.settings.editor
        color = QColor(editor.overlay_color)
        return ViewSettings(
            editor.view_mode, (color.red(), color.green(), color.blue()), editor.overlay_opacity
        )

    def edge_options(self) -> EdgeOptions:
        return self.settings.export.edges

    def set_view_mode(self, mode: str) -> None:
        self.settings.editor.view_mode = mode
        self.actions_.modes[mode].setChecked(True)
        self.tools.set_view_mode(mode)
        if self.canvas.mode != mode:
            self.canvas.set_mode(mode)
            self._refresh_view()

    def _overlay_changed(self, color: QColor, opacity: float) -> None:
        self.settings.editor.overlay_color = color.name()
        self.settings.editor.overlay_opacity = opacity
        self._refresh_view()

    def _cutout_color_changed(self, color: QColor) -> None:
        self.settings.editor.cutout_color = color.name()
        self.canvas.set_cutout_color(color)

    def _edges_changed(self) -> None:
        feather, shift, matting, decontaminate = self.tools.edges()
        edges = EdgeOptions(feather=feather, shift=shift, matting=matting, decontaminate=decontaminate)
        self.settings.export = dataclasses.replace(self.settings.export, edges=edges)
        self.tools.export_summary.setText(describe(self.settings.export))
        self._settings_timer.start()
        self._refresh_view()

    def _refresh_view(self) -> None:
        if self.current is not None and self.current.ready:
            self.pipeline.request(self.current)
            self._update_busy()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        # "Show original (hold)": its action turns the comparison on; the key's release ends it.
        if event.type() == QEvent.Type.KeyRelease and self.canvas.comparing:
            key_event: QKeyEvent = event  # type: ignore[assignment]
            if not key_event.isAutoRepeat() and key_event.key() == Qt.Key.Key_Backslash:
                self.canvas.set_comparing(False)
        return False

    # ------------------------------------------------------------------ export

    def export_current(self, dest: str | os.PathLike[str] | None = None) -> bool:
        """Export the photo on screen (asks where when ``dest`` is None); False if it did not start."""
        return self.exports.export_current(dest)

    def export_all(self, out_dir: str | os.PathLike[str] | None = None) -> bool:
        """Export every loaded photo into a folder (asks which when ``out_dir`` is None)."""
        return self.exports.export_all(out_dir)

    def export_options(self):
        """The engine's options: the stored preset itself (checked when it was built)."""
        return self.settings.export

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
        if dialog.running:
            self.show_error("A batch is already running: wait for it or cancel it first")
            dialog.show()
            return dialog
        if options is not None:
            self.settings.last_batch_dir = str(Path(inputs[0]).resolve())
            dialog.configure(list(inputs), out_dir, options, self.masks.segmenter)
        dialog.show()
        dialog.raise_()
        if start and options is not None:
            dialog.start()
        return dialog

    # ------------------------------------------------------------------ help and errors

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(self.actions_.all(), GESTURES, self)
        self._keep(dialog)
        dialog.show()
        return dialog

    def show_about(self) -> AboutDialog:
        segmenter = self.masks.segmenter
        model = model_description(segmenter.card) if segmenter is not None else self.model_label_text
        device = f"{segmenter.device_label}, {segmenter.precision}" if segmenter is not None else "—"
        dialog = AboutDialog(model, device, self)
        self._keep(dialog)
        dialog.show()
        return dialog

    def show_error(self, message: str) -> None:
        """An error the user should see: in the status bar and in a (non-blocking) dialog."""
        self.statusBar().showMessage(message, 15000)
        if self._error_box is None:
            self._error_box = QMessageBox(QMessageBox.Icon.Warning, "Cutout Studio", message, parent=self)
            self._error_box.setModal(False)
        else:
            self._error_box.setText(message)
        self._error_box.show()

    def _keep(self, dialog: QWidget) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self._dialogs.append(dialog)
        dialog.destroyed.connect(
            lambda _obj=None, d=dialog: self._dialogs.remove(d) if d in self._dialogs else None
        )

    # ------------------------------------------------------------------ state

    def _update_actions(self) -> None:
        doc = self.current
        ready = doc is not None and doc.ready
        a = self.actions_
        a.export.setEnabled(ready)
        a.export_all.setEnabled(bool(self.docs))
        a.undo.setEnabled(ready and doc.can_undo)
        a.redo.setEnabled(ready and doc.can_redo)
        a.reset.setEnabled(ready)
        self.canvas.set_brushes_enabled(ready)

    def _update_busy(self) -> None:
        doc = self.current
        masking = doc is not None and doc.status is DocStatus.WORKING
        editing = doc is not None and self.pipeline.is_busy(doc)
        loading_model = self.masks.segmenter is None and not self.masks.model_unavailable
        if masking:
            self.canvas.set_busy("Computing the automatic mask…")
        elif loading_model and doc is not None:
            self.canvas.set_busy("Loading the model…")
        elif editing:
            self.canvas.set_busy("Updating…")
        else:
            self.canvas.set_busy(None)
        self.busy_bar.setVisible(masking or editing or loading_model)

    def save_settings(self) -> None:
        settings = self.settings
        for name in ("last_open_dir", "last_export_dir", "last_batch_dir", "last_batch_output"):
            value = getattr(settings, name)
            if value and not Path(value).is_absolute():  # relative to where we were launched
                setattr(settings, name, str(Path(value).resolve()))
        try:
            save_settings(settings)
        except OSError as exc:
            self.statusBar().showMessage(f"Could not save the settings: {exc}", 8000)

    # ------------------------------------------------------------------ autosave and quitting

    def _mark_exported(self) -> None:
        for doc in self.docs:
            if doc.output_path is not None:
                self.autosave.mark(doc)

    def _on_autosave_errors(self) -> None:
        if self.autosave.errors:
            doc, reason = next(iter(self.autosave.errors.values()))
            self.statusBar().showMessage(f"Could not autosave the edits of {doc.name}: {reason}", 15000)

    def quit_risks(self) -> list[str]:
        """What quitting now would lose, one line each (empty: quit without asking)."""
        risks = [f"edits not saved: {line}" for line in self.autosave.flush(self.docs)]
        if self.exports.running:
            risks.append("an export is running: it will be cancelled")
        if self.batch_dialog is not None and self.batch_dialog.running:
            risks.append("a batch is running: it will be cancelled (finished photos are kept)")
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
        self._settings_timer.stop()
        self.save_settings()
        store = window_state_store()
        store.setValue("geometry", self.saveGeometry())
        store.setValue("state", self.saveState())
        store.sync()
        QApplication.instance().removeEventFilter(self)
        self.lanes.shutdown()
        super().closeEvent(event)
