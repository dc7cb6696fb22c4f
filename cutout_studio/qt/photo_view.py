"""The photo on screen: which document it is, and what the canvas, the filmstrip, the actions
and the busy indicator show for it while its mask, edits and pictures arrive from the lanes.

Strokes and history commands from the canvas and the menus go to the edit pipeline for this
document; a picture that arrives for another document (the user moved on) is not shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QMainWindow, QProgressBar

from cutout_studio.core.refine import StrokeKind
from cutout_studio.qt.actions import Actions
from cutout_studio.qt.autosave import Autosaver
from cutout_studio.qt.canvas import Canvas
from cutout_studio.qt.document import (
    DocStatus,
    Document,
    EdgeBrushCommand,
    EditCommand,
    HistoryCommand,
    StrokeCommand,
)
from cutout_studio.qt.editing import EditPipeline, EditResult
from cutout_studio.qt.filmstrip import Filmstrip
from cutout_studio.qt.masking import PREFETCH, MaskScheduler


class PhotoView(QObject):
    #: a document's automatic mask arrived (or its load failed: check doc.status)
    mask_ready = Signal(object)
    #: the canvas shows a fresh layer for the document on screen
    view_updated = Signal(object)
    #: a document was put on screen
    document_shown = Signal(object)

    def __init__(
        self,
        window: QMainWindow,
        canvas: Canvas,
        filmstrip: Filmstrip,
        actions: Actions,
        busy_bar: QProgressBar,
        masks: MaskScheduler,
        pipeline: EditPipeline,
        autosave: Autosaver,
        docs: list[Document],
    ) -> None:
        super().__init__(window)
        self.window = window
        self.canvas = canvas
        self.filmstrip = filmstrip
        self.actions = actions
        self.busy_bar = busy_bar
        self.masks = masks
        self.pipeline = pipeline
        self.autosave = autosave
        self.docs = docs  #: the window's list of open documents, in filmstrip order
        self.current: Document | None = None
        #: called with the document on screen as it goes on screen (before its picture is asked
        #: for) and again when its saved state (edge settings) arrives with its mask
        self.before_show: list[Callable[[Document], None]] = []
        masks.prepared.connect(self._on_prepared)
        masks.surveyed.connect(self.filmstrip.refresh)
        canvas.viewport().installEventFilter(self)  # a press starts a stroke: hold the surveys
        masks.decoded.connect(self._on_decoded)
        masks.failed.connect(self._on_prepare_failed)
        masks.started.connect(self._on_prepare_started)
        masks.remasked.connect(self._on_remasked)
        masks.plate_changed.connect(self.update_busy)
        pipeline.rendered.connect(self._on_rendered)
        pipeline.previewed.connect(self._on_previewed)
        pipeline.busy_changed.connect(lambda _busy: self.update_busy())
        canvas.stroke_finished.connect(self.stroke)
        filmstrip.document_selected.connect(self.show)

    def _status(self, message: str, ms: int) -> None:
        self.window.statusBar().showMessage(message, ms)

    def show(self, doc: Document) -> None:
        if doc is self.current and self.canvas.has_photo:
            return
        self.canvas.set_comparing(False)
        self.current = doc
        for hook in self.before_show:
            hook(doc)
        self.filmstrip.select(doc)
        self.window.setWindowTitle(f"{doc.label} — Cutout Studio")
        self.canvas.set_photo(doc.photo)
        self._show_last_layer(doc)
        self._update_placeholder()
        if doc.ready:
            self.pipeline.request(doc)
        self.want_masks()
        self.update_actions()
        self.update_busy()
        if doc.status is DocStatus.FAILED:
            self._status(f"{doc.name}: {doc.message}", 8000)
        elif doc.plate_note:
            self._status(f"{doc.name}: {doc.plate_note}", 10000)
        self.document_shown.emit(doc)

    def refresh(self) -> None:
        """Ask for a fresh picture of the photo on screen (the view or the edge options changed)."""
        if self.current is not None and self.current.ready:
            self.pipeline.request(self.current)
            self.update_busy()

    def want_masks(self) -> None:
        """The photo on screen and the next ones first; then the whole shoot, nearest first."""
        if self.current is None:
            return
        index = self.docs.index(self.current)
        ahead = self.docs[index + 1 : index + 1 + PREFETCH]
        nearest = sorted(range(len(self.docs)), key=lambda i: (abs(i - index), i < index))
        self.masks.want([self.current, *ahead], [self.docs[i] for i in nearest])

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.MouseButtonPress:
            self.masks.hold()
        return False

    # ------------------------------------------------------------------ edits

    def can_paint(self, doc: Document | None) -> bool:
        """Brushes work once the photo is decoded: marks made before its mask wait for it."""
        if doc is None or doc.image is None or doc.status is DocStatus.FAILED:
            return False
        return doc.ready or not self.masks.model_unavailable

    def stroke(self, kind: str, points: list[tuple[float, float]], radius: float, hardness: float = 1.0) -> None:
        doc = self.current
        if not self.can_paint(doc):
            self.canvas.clear_stroke_previews()
            return
        assert doc is not None
        self.masks.hold()  # the stroke's refinement gets the cores, not a survey of another photo
        xy = tuple((float(x), float(y)) for x, y in points)
        command: EditCommand
        if kind == "refine":
            command = EdgeBrushCommand(xy, float(radius), float(hardness))
        else:
            # the canvas paints only its brush tools: "fg", "bg", "erase" and "refine"
            command = StrokeCommand(cast(StrokeKind, kind), xy, float(radius))
        self.pipeline.push(doc, command)
        if doc.ready:  # marks made before the mask are saved once it arrives (_on_prepared)
            self.autosave.mark(doc)
        self.update_actions()
        self.update_busy()

    def history(self, action: str) -> None:
        doc = self.current
        if doc is None or not doc.ready:
            return
        self.pipeline.push(doc, HistoryCommand(action))
        self.autosave.mark(doc)
        self.update_busy()

    # ------------------------------------------------------------------ what arrives

    def on_thumbnail(self, doc: Document) -> None:
        self.filmstrip.refresh(doc)
        if doc is self.current and doc.status is DocStatus.FAILED:
            self._status(f"{doc.name}: {doc.message}", 10000)
            self._update_placeholder()
            self.update_busy()

    def doc_changed(self, doc: Document) -> None:
        self.filmstrip.refresh(doc)
        if doc is self.current:
            self.update_actions()

    def _on_prepare_started(self, doc: Document) -> None:
        self.filmstrip.refresh(doc)
        self.update_busy()

    def _on_prepared(self, doc: Document) -> None:
        # What the store holds is settled; marks painted while the mask was computed are due.
        waiting, doc.pending = doc.pending, []
        self.autosave.settle(doc)
        doc.pending = waiting
        if waiting:
            self.autosave.mark(doc)
        self.filmstrip.refresh(doc)
        if doc is self.current:
            for hook in self.before_show:
                hook(doc)
            if doc.photo is not None and self.canvas.photo_item.layer is not doc.photo:
                self.canvas.set_photo(doc.photo)
                self._show_last_layer(doc)
            if doc.ready:
                self.pipeline.request(doc)
            notes = [*(doc.image.notes if doc.image is not None else []), *([doc.plate_note] if doc.plate_note else [])]
            if notes:
                self._status(f"{doc.name}: {'; '.join(notes)}", 10000)
        self.update_actions()
        self.update_busy()
        if doc.alpha is not None:
            self.mask_ready.emit(doc)

    def _on_remasked(self, doc: Document) -> None:
        """``doc`` was masked again with the shoot's clean plate: its new picture (live preview)."""
        self.filmstrip.refresh(doc)
        if doc is self.current:
            if doc.ready:
                self.pipeline.request(doc)
            if doc.plate_note:
                self._status(f"{doc.name}: {doc.plate_note}", 10000)
        self.update_actions()
        self.update_busy()

    def _on_decoded(self, doc: Document) -> None:
        if doc is self.current and doc.photo is not None and self.canvas.photo_item.layer is not doc.photo:
            self.canvas.set_photo(doc.photo)
            self._show_last_layer(doc)
        self.filmstrip.refresh(doc)
        self.update_actions()

    def _on_prepare_failed(self, doc: Document) -> None:
        self.filmstrip.refresh(doc)
        if doc is self.current:
            self.canvas.set_photo(None)
            self._update_placeholder()
            self._status(f"{doc.name}: {doc.message}", 10000)
        self.update_actions()
        self.update_busy()
        self.mask_ready.emit(doc)

    def _show_last_layer(self, doc: Document) -> None:
        """Until a fresh picture arrives, the canvas shows the photo's last one, not a bare photo."""
        if doc.layer is not None:
            self.canvas.set_layer(doc.layer, doc.layer_mode)
        self.canvas.set_outline(doc.outline)

    def _on_previewed(self, doc: Document, result: EditResult) -> None:
        if doc is self.current and result.layer is not None:
            self.canvas.set_layer(result.layer, result.mode)

    def _on_rendered(self, doc: Document, result: EditResult) -> None:
        if doc is not self.current:
            return
        if result.layer is not None:
            if result.layer is doc.layer and result.patch is not None:
                # The layer of this photo, patched: only the changed box is written and repainted.
                result.layer.apply_patch(result.patch)
            if result.layer is doc.layer and self.canvas.layer_item.layer is doc.layer:
                if result.patch is not None:
                    self.canvas.update_layer(result.patch.box)
            else:
                doc.layer, doc.layer_mode = result.layer, result.mode
                self.canvas.set_layer(result.layer, result.mode)
            doc.layer_alpha, doc.layer_settings = result.alpha, result.settings
        if result.outline is not None:
            if result.outline_replace:
                doc.outline = {}
            doc.outline.update(result.outline)
            self.canvas.set_outline(doc.outline)
        # (the original photo needs no layer: the last one stays for when the view comes back)
        self.canvas.clear_stroke_previews()
        self.update_busy()
        self.view_updated.emit(doc)

    # ------------------------------------------------------------------ indicators

    def _update_placeholder(self) -> None:
        doc = self.current
        if doc is not None and doc.status is DocStatus.FAILED:
            self.canvas.set_placeholder(f"Cannot open this photo.\n{doc.message}")
        elif doc is not None:
            self.canvas.set_placeholder(f"Loading {doc.name}…")
        else:
            self.canvas.set_placeholder(None)

    def update_actions(self) -> None:
        doc = self.current
        ready = doc is not None and doc.ready
        a = self.actions
        a.export.setEnabled(ready)
        a.export_as.setEnabled(ready)
        a.accept_next.setEnabled(ready)
        a.next_unfinished.setEnabled(bool(self.docs))
        a.previous_unfinished.setEnabled(bool(self.docs))
        a.export_all.setEnabled(bool(self.docs))
        a.undo.setEnabled(ready and doc is not None and doc.can_undo)
        a.redo.setEnabled(ready and doc is not None and doc.can_redo)
        a.reset.setEnabled(ready)
        self.canvas.set_brushes_enabled(self.can_paint(doc))

    def update_busy(self) -> None:
        doc = self.current
        remasking = doc is not None and doc.remasking
        masking = doc is not None and doc.status is DocStatus.WORKING or remasking
        editing = doc is not None and self.pipeline.is_busy(doc)
        loading_model = self.masks.segmenter is None and not self.masks.model_unavailable
        if remasking:
            self.canvas.set_busy("Masking again with the clean plate…")
        elif masking:
            self.canvas.set_busy("Computing the automatic mask…")
        elif loading_model and doc is not None:
            self.canvas.set_busy("Loading the model…")
        elif editing:
            self.canvas.set_busy("Updating…")
        else:
            self.canvas.set_busy(None)
        self.busy_bar.setVisible(masking or editing or loading_model)
