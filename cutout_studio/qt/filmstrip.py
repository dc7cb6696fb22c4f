"""The list of loaded photos: a thumbnail, the name and the status of each."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from cutout_studio.qt.document import DocStatus, Document
from cutout_studio.qt.render import THUMBNAIL_SIDE

STATUS_COLOURS = {
    DocStatus.WAITING: QColor(150, 150, 150),
    DocStatus.WORKING: QColor(90, 160, 255),
    DocStatus.MASKED: QColor(220, 220, 220),
    DocStatus.EDITED: QColor(255, 200, 60),
    DocStatus.EXPORTED: QColor(80, 210, 110),
    DocStatus.WARNING: QColor(255, 150, 40),
    DocStatus.FAILED: QColor(255, 90, 90),
}


class Filmstrip(QListWidget):
    """One row per document; selecting a row asks the window to show that photo."""

    document_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setIconSize(QSize(THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setSpacing(2)
        self.setMinimumWidth(220)
        self.setToolTip("Loaded photos and their status. PgUp/PgDown switch photos.")
        self._items: dict[int, QListWidgetItem] = {}
        self._docs: dict[int, Document] = {}
        self._placeholder = self._blank_icon()
        self.currentItemChanged.connect(self._on_current_changed)

    def add(self, doc: Document) -> None:
        item = QListWidgetItem(self._placeholder, "")
        item.setData(Qt.ItemDataRole.UserRole, id(doc))
        item.setSizeHint(QSize(200, THUMBNAIL_SIDE + 8))
        self.addItem(item)
        self._items[id(doc)] = item
        self._docs[id(doc)] = doc
        self.refresh(doc)

    def documents(self) -> list[Document]:
        return [self._docs[self.item(row).data(Qt.ItemDataRole.UserRole)] for row in range(self.count())]

    def refresh(self, doc: Document) -> None:
        """Redraw the row of ``doc`` (status text, colour, thumbnail, tooltip)."""
        item = self._items.get(id(doc))
        if item is None:
            return
        item.setText(f"{doc.name}\n{doc.status_text()}")
        item.setForeground(QBrush(STATUS_COLOURS[doc.status]))
        tooltip = f"{doc.path}\nStatus: {doc.status_text()}"
        if doc.message and doc.status not in (DocStatus.FAILED, DocStatus.WARNING):
            tooltip += f"\nNote: {doc.message}"
        if doc.output_path is not None:
            tooltip += f"\nOutput: {doc.output_path}"
        item.setToolTip(tooltip)
        if doc.thumbnail is not None and not item.data(Qt.ItemDataRole.UserRole + 1):
            item.setIcon(QIcon(QPixmap.fromImage(doc.thumbnail)))
            item.setData(Qt.ItemDataRole.UserRole + 1, True)

    def select(self, doc: Document) -> None:
        item = self._items.get(id(doc))
        if item is not None and self.currentItem() is not item:
            self.setCurrentItem(item)

    def row_text(self, doc: Document) -> str:
        item = self._items.get(id(doc))
        return item.text() if item is not None else ""

    def step(self, delta: int) -> None:
        if self.count():
            row = min(max(self.currentRow() + delta, 0), self.count() - 1)
            self.setCurrentRow(row)

    def _on_current_changed(self, current: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if current is not None:
            self.document_selected.emit(self._docs[current.data(Qt.ItemDataRole.UserRole)])

    @staticmethod
    def _blank_icon() -> QIcon:
        pixmap = QPixmap(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setPen(QColor(110, 110, 110))
        painter.drawRect(4, 12, THUMBNAIL_SIDE - 9, THUMBNAIL_SIDE - 25)
        painter.end()
        return QIcon(pixmap)
