"""The shoot's photos: a thumbnail, the name (with its folder where names repeat) and the status
of each, a filter (all, unfinished, warnings, failed), an order (the folder's, or worst first:
the automatic masks least to be trusted first) and how many are finished."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cutout_studio.core.shoots import common_folder
from cutout_studio.qt.document import DocStatus, Document
from cutout_studio.qt.render import THUMBNAIL_SIDE

STATUS_COLOURS = {
    DocStatus.WAITING: QColor(150, 150, 150),
    DocStatus.WORKING: QColor(90, 160, 255),
    DocStatus.MASKED: QColor(220, 220, 220),
    DocStatus.EDITED: QColor(255, 200, 60),
    DocStatus.FINISHED: QColor(150, 230, 255),
    DocStatus.EXPORTED: QColor(80, 210, 110),
    DocStatus.WARNING: QColor(255, 150, 40),
    DocStatus.FAILED: QColor(255, 90, 90),
}


#: the filter's choices: label -> which documents it shows
FILTERS: dict[str, Callable[[Document], bool]] = {
    "All photos": lambda doc: True,
    "Unfinished": lambda doc: not doc.finished,
    "Warnings": lambda doc: doc.status is DocStatus.WARNING
    or bool((doc.message or doc.plate_note) and doc.status is not DocStatus.FAILED),
    "Failed": lambda doc: doc.status is DocStatus.FAILED,
}


#: the order's choices: label -> sort worst first
SORTS = {"Sort: folder order": False, "Sort: worst first": True}


def worst_first_key(doc: Document) -> float:
    """Lowest confidence first; photos whose confidence is not known yet last."""
    return doc.confidence if doc.confidence is not None else 2.0


_SORT_ROLE = Qt.ItemDataRole.UserRole + 2
#: rows in worst-first order: confidence (to 1e-4) first, then the folder's order
_CONFIDENCE_STEP = 1e9


class _Row(QListWidgetItem):
    """A filmstrip row that sorts by the number its filmstrip gives it (``_SORT_ROLE``)."""

    def __lt__(self, other: QListWidgetItem) -> bool:
        return float(self.data(_SORT_ROLE)) < float(other.data(_SORT_ROLE))


def label_namesakes(docs: Sequence[Document]) -> None:
    """Show photos that share a name with their folders (``day1/shoe.jpg``, ``day2/shoe.jpg``)."""
    by_name: dict[str, list[Document]] = {}
    for doc in docs:
        by_name.setdefault(doc.name.lower(), []).append(doc)
    for same in by_name.values():
        if len(same) == 1:
            same[0].display_name = ""
            continue
        base = common_folder([d.path.parent for d in same])
        for doc in same:
            parent = doc.path.parent.absolute()
            try:
                relative = parent.relative_to(base) if base is not None else parent
            except ValueError:
                relative = parent
            folder = str(relative) if str(relative) not in ("", ".") else parent.name
            doc.display_name = f"{folder}/{doc.name}"


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
        self.setToolTip("The shoot's photos and their status. PgUp/PgDown switch photos, N the next unfinished.")
        # Clicks select; keys stay with the window's shortcuts (a list with focus would take
        # letters for its own type-ahead search)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._items: dict[int, QListWidgetItem] = {}
        self._docs: dict[int, Document] = {}
        self._order: dict[int, int] = {}  #: the order rows were added in (the folder's)
        self._placeholder = self._blank_icon()
        self._filter = "All photos"
        self._worst_first = False
        self.currentItemChanged.connect(self._on_current_changed)

    def set_filter(self, name: str) -> None:
        """Show only the photos the filter ``name`` (a key of FILTERS) keeps; the photo on
        screen stays listed, so the list never loses the user's place."""
        self._filter = name
        for doc in self._docs.values():
            self._apply_filter(doc)

    def _apply_filter(self, doc: Document) -> None:
        item = self._items.get(id(doc))
        if item is not None:
            keep = FILTERS[self._filter](doc) or item is self.currentItem()
            item.setHidden(not keep)

    def set_sort(self, name: str) -> None:
        """Order the rows as ``name`` (a key of SORTS) says; the documents' own order (what
        next/previous unfinished follow) is not changed, nor the photo on screen."""
        self._worst_first = SORTS[name]
        for doc in self._docs.values():
            self._sort_key(doc)
        self.sortItems(Qt.SortOrder.AscendingOrder)

    def _sort_key(self, doc: Document) -> bool:
        """Give ``doc``'s row its sort key; True when it changed."""
        item = self._items[id(doc)]
        order = self._order[id(doc)]
        key = float(order)
        if self._worst_first:
            key += round(worst_first_key(doc), 4) * _CONFIDENCE_STEP
        if item.data(_SORT_ROLE) == key:
            return False
        item.setData(_SORT_ROLE, key)
        return True

    def add(self, doc: Document) -> None:
        item = _Row(self._placeholder, "")
        item.setData(Qt.ItemDataRole.UserRole, id(doc))
        self._order[id(doc)] = len(self._order)
        item.setSizeHint(QSize(200, THUMBNAIL_SIDE + 8))
        self.addItem(item)
        self._items[id(doc)] = item
        self._docs[id(doc)] = doc
        self.refresh(doc)

    def add_documents(self, docs: Sequence[Document], added: Sequence[Document]) -> None:
        """Add the rows of ``added`` (the newest of ``docs``, every open document); names that
        now repeat get their folders, in new rows and old ones alike."""
        label_namesakes(docs)
        for doc in docs:
            if doc in added:
                self.add(doc)
            else:
                self.refresh(doc)

    def documents(self) -> list[Document]:
        return [self._docs[self.item(row).data(Qt.ItemDataRole.UserRole)] for row in range(self.count())]

    def refresh(self, doc: Document) -> None:
        """Redraw the row of ``doc`` (status text, colour, thumbnail, tooltip)."""
        item = self._items.get(id(doc))
        if item is None:
            return
        item.setText(f"{doc.label}\n{doc.status_text()}")
        item.setForeground(QBrush(STATUS_COLOURS[doc.status]))
        tooltip = f"{doc.path}\nStatus: {doc.status_text()}"
        if doc.message and doc.status not in (DocStatus.FAILED, DocStatus.WARNING):
            tooltip += f"\nNote: {doc.message}"
        if doc.plate_note and doc.status is not DocStatus.FAILED:
            tooltip += f"\n{doc.plate_note[0].upper()}{doc.plate_note[1:]}"
        if doc.output_path is not None:
            tooltip += f"\nOutput: {doc.output_path}"
        if doc.confidence is not None:
            tooltip += f"\nConfidence: {doc.confidence:.2f} (of the automatic mask: low = look at it first)"
        item.setToolTip(tooltip)
        if doc.thumbnail is not None and not item.data(Qt.ItemDataRole.UserRole + 1):
            item.setIcon(QIcon(QPixmap.fromImage(doc.thumbnail)))
            item.setData(Qt.ItemDataRole.UserRole + 1, True)
        self._apply_filter(doc)
        if self._sort_key(doc) and self._worst_first:
            self.sortItems(Qt.SortOrder.AscendingOrder)

    def select(self, doc: Document) -> None:
        item = self._items.get(id(doc))
        if item is not None and self.currentItem() is not item:
            self.setCurrentItem(item)

    def row_text(self, doc: Document) -> str:
        item = self._items.get(id(doc))
        return item.text() if item is not None else ""

    def step(self, delta: int) -> None:
        """Show the next (delta > 0) or previous photo the filter lists."""
        row = self.currentRow()
        while 0 <= row + delta < self.count():
            row += delta
            if not self.item(row).isHidden():
                self.setCurrentRow(row)
                return

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


class FilmstripPanel(QWidget):
    """The filmstrip with its filter above and the shoot's progress below."""

    def __init__(self, filmstrip: Filmstrip, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.filmstrip = filmstrip
        self.filter_combo = QComboBox()
        self.filter_combo.addItems(list(FILTERS))
        self.filter_combo.setToolTip("Which photos the list shows")
        self.filter_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # single-key shortcuts stay the canvas's
        self.filter_combo.currentTextChanged.connect(filmstrip.set_filter)
        self.sort_combo = QComboBox()
        self.sort_combo.addItems(list(SORTS))
        self.sort_combo.setToolTip("Worst first: the photos whose automatic mask is least to be trusted first")
        self.sort_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.sort_combo.currentTextChanged.connect(filmstrip.set_sort)
        self.progress_label = QLabel("")
        self.progress_label.setToolTip("Photos accepted or exported (and not changed since)")
        self.masking_label = QLabel("")
        self.masking_label.setToolTip("Photos of the shoot whose automatic mask is still to compute")
        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self.filter_combo, 1)
        top.addWidget(self.sort_combo, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress_label, 1)
        bottom.addWidget(self.masking_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(filmstrip, 1)
        layout.addLayout(bottom)

    def set_progress(self, finished: int, total: int) -> None:
        self.progress_label.setText(f"{finished} of {total} finished" if total else "")

    def set_backlog(self, remaining: int) -> None:
        self.masking_label.setText(f"masking: {remaining} to do" if remaining else "")
