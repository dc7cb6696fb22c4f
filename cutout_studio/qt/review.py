"""Worst-first review: the shoot's unreviewed photos as a grid of cutouts, least trusted first.

The grid holds every photo that is neither finished nor failed, ordered by the confidence of
its automatic mask (:mod:`~cutout_studio.core.confidence`; unknown last, then the folder's
order). Keys: **A** accepts the selected photo (it becomes *finished*, as accept-and-next
makes the photo on screen) and selects the next unreviewed one; **N** selects the next
unreviewed photo without accepting; **Enter** opens the selected photo in the editor to fix it
(the review window steps aside; the Review action brings it back, refreshed); arrows move in
the grid.

The cutouts are small (:data:`REVIEW_SIDE`) and made on a worker lane, one at a time: from the
photo and mask in memory when the photo is loaded (its current mask, edits included), else
decoded again with the automatic mask from the mask cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QKeyEvent, QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QListView, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from cutout_studio.core.errors import CancelledError
from cutout_studio.core.image_io import load_image
from cutout_studio.core.mask_cache import MaskCache
from cutout_studio.qt.document import DocStatus, Document
from cutout_studio.qt.filmstrip import worst_first_key
from cutout_studio.qt.shoot import ShootFlow
from cutout_studio.qt.workers import Job, Lane

if TYPE_CHECKING:
    from cutout_studio.qt.main_window import MainWindow

#: Long side of a review cutout (px): small, so that a screenful costs little to make.
REVIEW_SIDE = 150
_CHECKER = 8  #: checkerboard square (px) behind the cutouts
_ACCEPTED = QColor(120, 200, 120)


def unreviewed(docs: Sequence[Document]) -> list[Document]:
    """The photos still to review (neither finished nor failed), worst first, then in order."""
    todo = [d for d in docs if not d.finished and d.status is not DocStatus.FAILED]
    return sorted(todo, key=worst_first_key)  # stable: ties keep the shoot's order


def cutout_thumbnail(rgb: np.ndarray, alpha: np.ndarray | None, side: int = REVIEW_SIDE) -> QImage:
    """The photo reduced to fit ``side`` px, cut out over a checkerboard, centred in a transparent
    ``side``×``side`` square so that the grid lines up (worker thread); without ``alpha``, the
    photo itself."""
    height, width = rgb.shape[:2]
    scale = min(1.0, side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    if alpha is not None:
        a = cv2.resize(np.asarray(alpha, np.float32), size, interpolation=cv2.INTER_AREA)[:, :, None]
        ys, xs = np.indices((size[1], size[0]))
        board = np.where(((ys // _CHECKER + xs // _CHECKER) % 2 == 0)[:, :, None], 235.0, 200.0)
        small = small * a + board * (1.0 - a)
    square = np.zeros((side, side, 4), np.uint8)  # transparent around the photo
    top, left = (side - size[1]) // 2, (side - size[0]) // 2
    square[top : top + size[1], left : left + size[0], :3] = np.clip(small + 0.5, 0, 255).astype(np.uint8)
    square[top : top + size[1], left : left + size[0], 3] = 255
    # copy(): the QImage must own its pixels once ``square`` goes away
    return QImage(square.data, side, side, square.strides[0], QImage.Format.Format_RGBA8888).copy()


def _make_thumbnail(doc: Document, cache: MaskCache, model: str) -> Callable[[object], QImage]:
    """The job that makes ``doc``'s review cutout (what it reads is taken now, on the GUI thread)."""
    image, alpha, path, key = doc.image, doc.alpha, doc.path, doc.key

    def job(_ctx: object) -> QImage:
        if image is not None and alpha is not None:
            return cutout_thumbnail(image.rgb, alpha)
        rgb = load_image(path).rgb
        height, width = rgb.shape[:2]
        mask = cache.load(key, model, (width, height)) if key and model else None
        return cutout_thumbnail(rgb, mask)

    return job


class _Grid(QListWidget):
    """The grid of cutouts; A, N and Enter are the review's keys, arrows move the selection."""

    key_pressed = Signal(int)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_A, Qt.Key.Key_N, Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        ):
            self.key_pressed.emit(event.key())
            event.accept()
            return
        super().keyPressEvent(event)


class ReviewDialog(QDialog):
    """The review window (see the module docstring)."""

    #: the user pressed Enter on a photo: open it in the editor to fix it
    open_requested = Signal(object)

    def __init__(
        self,
        documents: Callable[[], Sequence[Document]],
        shoot: ShootFlow,
        lane: Lane,
        cache: MaskCache,
        model: Callable[[], str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Review worst first")
        self._documents = documents
        self._shoot = shoot
        self._lane = lane
        self._cache = cache
        self._model = model
        self.grid = _Grid()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setIconSize(QSize(REVIEW_SIDE, REVIEW_SIDE))
        self.grid.setGridSize(QSize(REVIEW_SIDE + 24, REVIEW_SIDE + 48))
        self.grid.setUniformItemSizes(True)
        self.grid.setWordWrap(True)
        self.grid.key_pressed.connect(self._on_key)
        self.grid.itemActivated.connect(lambda item: self.open_selected())
        self.status = QLabel("")
        help_line = QLabel("A accept · N next unreviewed · Enter open in the editor to fix · arrows move")
        help_line.setStyleSheet("color: gray")
        layout = QVBoxLayout(self)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.status)
        layout.addWidget(help_line)
        self.resize(5 * (REVIEW_SIDE + 24) + 40, 2 * (REVIEW_SIDE + 48) + 90)
        self.docs: list[Document] = []
        self._items: dict[int, QListWidgetItem] = {}
        self._thumbs: dict[int, tuple[object, QImage]] = {}  #: id(doc) -> (its alpha then, cutout)
        self._queue: list[Document] = []
        self._job: Job | None = None
        self._placeholder = QPixmap(REVIEW_SIDE, REVIEW_SIDE // 2)
        self._placeholder.fill(QColor(80, 80, 80))

    # ------------------------------------------------------------------ the grid

    def refill(self) -> None:
        """List the photos still to review, worst first, and queue their cutouts."""
        self.grid.clear()
        self._items.clear()
        self.docs = unreviewed(self._documents())
        for doc in self.docs:
            item = QListWidgetItem(QIcon(self._placeholder), "")
            item.setData(Qt.ItemDataRole.UserRole, id(doc))
            item.setSizeHint(QSize(REVIEW_SIDE + 20, REVIEW_SIDE + 44))
            self.grid.addItem(item)
            self._items[id(doc)] = item
            self._label(doc)
            if self._fresh(doc):
                item.setIcon(QIcon(QPixmap.fromImage(self._thumbs[id(doc)][1])))
        self._queue = [d for d in self.docs if not self._fresh(d)]
        self._next_thumbnail()
        if self.docs:
            self.grid.setCurrentRow(0)
        self._update_status()

    def _fresh(self, doc: Document) -> bool:
        """Its cutout is made, from the mask it has now (a loaded photo's edits change it)."""
        done = self._thumbs.get(id(doc))
        return done is not None and done[0] is doc.alpha

    def _label(self, doc: Document) -> None:
        item = self._items[id(doc)]
        trust = "confidence …" if doc.confidence is None else f"confidence {doc.confidence:.2f}"
        mark = "✓ " if doc.finished else ""
        if doc.status in (DocStatus.EDITED, DocStatus.EXPORTED, DocStatus.WARNING):
            trust += f" · {doc.status.value}"  # (unloaded and edited: the automatic mask is shown)
        item.setText(f"{mark}{doc.label}\n{trust}")
        item.setToolTip(f"{doc.path}\nStatus: {doc.status_text()}")
        if doc.finished:
            item.setForeground(QBrush(_ACCEPTED))

    def current_document(self) -> Document | None:
        row = self.grid.currentRow()
        if row < 0:
            return None
        key = self.grid.item(row).data(Qt.ItemDataRole.UserRole)
        return next((d for d in self.docs if id(d) == key), None)

    def _select(self, doc: Document) -> None:
        self.grid.setCurrentItem(self._items[id(doc)])

    # ------------------------------------------------------------------ the keys

    def _on_key(self, key: int) -> None:
        if key == Qt.Key.Key_A:
            self.accept_selected()
        elif key == Qt.Key.Key_N:
            self.next_unreviewed()
        else:
            self.open_selected()

    def accept_selected(self) -> bool:
        """Mark the selected photo finished and select the next unreviewed one."""
        doc = self.current_document()
        if doc is None:
            return False
        # its automatic mask is known once its confidence is (surveyed, or being loaded again)
        if doc.status is DocStatus.FAILED or (doc.alpha is None and doc.confidence is None):
            reason = doc.message if doc.status is DocStatus.FAILED else "wait for its mask"
            self.status.setText(f"{doc.label} cannot be accepted: {reason}")
            return False
        self._shoot.mark_finished(doc)  # as accept-and-next does; autosave and the shoot follow
        self._label(doc)
        self.next_unreviewed()
        self._update_status()
        return True

    def next_unreviewed(self) -> bool:
        """Select the next photo of the grid that is not finished (wrapping around)."""
        if not self.docs:
            return False
        current = self.current_document()
        start = self.docs.index(current) if current in self.docs else -1
        for offset in range(1, len(self.docs) + 1):
            doc = self.docs[(start + offset) % len(self.docs)]
            if not doc.finished:
                self._select(doc)
                return True
        self.status.setText("Every photo of the review is accepted")
        return False

    def open_selected(self) -> Document | None:
        """Open the selected photo in the editor (the review steps aside)."""
        doc = self.current_document()
        if doc is not None:
            self.hide()
            self.open_requested.emit(doc)
        return doc

    def _update_status(self) -> None:
        finished, total = self._shoot.progress()
        left = sum(1 for d in self.docs if not d.finished)
        self.status.setText(f"{left} to review · {finished} of {total} finished")

    # ------------------------------------------------------------------ cutouts (worker lane)

    def _next_thumbnail(self) -> None:
        if self._job is not None or not self._queue or not self.isVisible():
            return
        doc = self._queue.pop(0)
        alpha = doc.alpha
        self._job = self._lane.submit(
            _make_thumbnail(doc, self._cache, self._model()),
            name=f"review cutout {doc.name}",
            on_done=lambda thumb: self._thumbnail_done(doc, alpha, thumb),
            on_error=lambda exc: self._thumbnail_failed(doc, exc),
        )

    def _thumbnail_done(self, doc: Document, alpha: object, thumb: QImage | None) -> None:
        self._job = None
        if thumb is not None:
            self._thumbs[id(doc)] = (alpha, thumb)
            item = self._items.get(id(doc))
            if item is not None:
                item.setIcon(QIcon(QPixmap.fromImage(thumb)))
        self._next_thumbnail()

    def _thumbnail_failed(self, doc: Document, exc: BaseException) -> None:
        if isinstance(exc, CancelledError):  # the review was hidden: made when shown again
            self._queue.insert(0, doc)
            self._job = None
            return
        self._thumbnail_done(doc, None, None)  # unreadable now: the placeholder stays

    @property
    def pending_thumbnails(self) -> int:
        """Cutouts still to make (tests wait for 0)."""
        return len(self._queue) + (self._job is not None)

    def showEvent(self, event: object) -> None:  # noqa: N802
        super().showEvent(event)  # type: ignore[arg-type]
        self._next_thumbnail()

    def hideEvent(self, event: object) -> None:  # noqa: N802
        if self._job is not None:
            self._job.cancel()  # the rest waits until the review is shown again
        super().hideEvent(event)  # type: ignore[arg-type]


def open_review(window: MainWindow) -> ReviewDialog:
    """Show the window's review (made on first use), refilled with what is still to review."""
    dialog = window.findChild(ReviewDialog)
    if dialog is None:
        masks = window.masks

        def model() -> str:  # the cached masks are named by the model (and clean plate) that made them
            return masks.mask_variant

        dialog = ReviewDialog(lambda: window.docs, window.shoot, window.lanes.thumbs, window.mask_cache, model, window)

        def fix(doc: Document) -> None:
            window.show_document(doc)
            window.raise_()
            window.activateWindow()
            window.statusBar().showMessage(f"Fix {doc.label}, then Review worst first again "
                                           f"({window.actions_.review.shortcut().toString()})", 10000)

        dialog.open_requested.connect(fix)
    dialog.refill()
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()  # its keys, not the editor's (A there accepts the photo on screen)
    dialog.grid.setFocus()
    return dialog
