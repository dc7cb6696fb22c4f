"""Model › Corrections kept…: the finished photos kept for tuning, as thumbnails with their count
and size; delete the selected ones or all; the opt-in checkbox; a shortcut to Tune."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cutout_studio.core.corrections import CorrectionsSet, format_size

THUMB = 112


class CorrectionsDialog(QDialog):
    tune_requested = Signal()

    def __init__(self, corrections: CorrectionsSet, keep_action: QAction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Corrections kept for tuning")
        self.resize(640, 480)
        self.corrections = corrections
        self._keep_action = keep_action
        layout = QVBoxLayout(self)
        self.keep_box = QCheckBox(keep_action.text().replace("&", ""))
        self.keep_box.setToolTip(keep_action.toolTip())
        self.keep_box.setChecked(keep_action.isChecked())
        # the menu's checkable action is the one switch: the box follows it and drives it
        self.keep_box.toggled.connect(keep_action.setChecked)
        keep_action.toggled.connect(self.keep_box.setChecked)
        layout.addWidget(self.keep_box)
        note = QLabel("Each photo you accept is kept here (shrunk to 1024 px) with its final mask, on this "
                      f"computer only, in {corrections.root}.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        layout.addWidget(self.list, 1)
        self.summary = QLabel()
        layout.addWidget(self.summary)
        row = QHBoxLayout()
        self.delete_button = QPushButton("Delete selected")
        self.delete_all_button = QPushButton("Delete all…")
        self.tune_button = QPushButton("Tune on these…")
        close = QPushButton("Close")
        for button in (self.delete_button, self.delete_all_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.tune_button)
        row.addWidget(close)
        layout.addLayout(row)
        self.delete_button.clicked.connect(self.delete_selected)
        self.delete_all_button.clicked.connect(self.delete_all)
        self.tune_button.clicked.connect(self.tune_requested)
        close.clicked.connect(self.hide)
        self.list.itemSelectionChanged.connect(self._update_buttons)

    def refresh(self) -> None:
        """List what the set holds now (thumbnails read from the kept photos, at most 1024 px each)."""
        self.list.clear()
        entries = self.corrections.entries()
        for entry in entries:
            image = QImage(str(self.corrections.photo_path(entry)))
            item = QListWidgetItem(entry.name)
            if not image.isNull():
                scaled = image.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                      Qt.TransformationMode.SmoothTransformation)
                item.setIcon(QIcon(QPixmap.fromImage(scaled)))
            item.setText(_short(entry.source.rsplit("/", 1)[-1]))
            item.setToolTip(f"{entry.source}\nkept {entry.date}" + (f"\nshoot {entry.shoot}" if entry.shoot else ""))
            item.setData(Qt.ItemDataRole.UserRole, entry.name)
            self.list.addItem(item)
        self.summary.setText(f"{len(entries)} photo(s), {format_size(self.corrections.size_bytes())}")
        self._update_buttons()

    def names(self) -> list[str]:
        """The names listed, in order (what the tests read)."""
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def _update_buttons(self) -> None:
        self.delete_button.setEnabled(bool(self.list.selectedItems()))
        self.delete_all_button.setEnabled(self.list.count() > 0)
        self.tune_button.setEnabled(self.list.count() > 0)

    def delete_selected(self) -> int:
        names = {item.data(Qt.ItemDataRole.UserRole) for item in self.list.selectedItems()}
        removed = self.corrections.delete(names) if names else 0
        self.refresh()
        return removed

    def delete_all(self) -> int:
        if not self.list.count() or not self.confirm(f"Delete all {self.list.count()} kept photo(s)?"):
            return 0
        removed = self.corrections.clear()
        self.refresh()
        return removed

    def confirm(self, question: str) -> bool:
        """Ask before deleting everything (tests replace this)."""
        answer = QMessageBox.question(self, "Delete kept photos", question)
        return answer == QMessageBox.StandardButton.Yes


def _short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
