"""Small dialogs: keyboard shortcuts, about, errors, and installing the segmentation model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

import cutout_studio
from cutout_studio.core.errors import CancelledError
from cutout_studio.qt.workers import Job, JobContext, Lane

if TYPE_CHECKING:  # the models package imports torch: only the type checker loads it here
    from cutout_studio.core.models import InstalledModel, ModelCard


def shortcut_rows(
    actions: Sequence[tuple[str, QAction]], gestures: Sequence[tuple[str, str]]
) -> list[tuple[str, str, str]]:
    """(group, keys, what it does) for every action that has a shortcut, then the mouse gestures."""
    rows = []
    for menu, action in actions:
        keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())
        if keys:
            rows.append((menu, keys, action.text().replace("&", "").rstrip("…")))
    rows.extend(("Mouse", keys, what) for keys, what in gestures)
    return rows


class ShortcutsDialog(QDialog):
    """Every shortcut, generated from the window's QActions so that it cannot go stale."""

    def __init__(
        self,
        actions: Sequence[tuple[str, QAction]],
        gestures: Sequence[tuple[str, str]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.rows = shortcut_rows(actions, gestures)
        self.table = QTableWidget(len(self.rows), 3)
        self.table.setHorizontalHeaderLabels(["Group", "Keys", "Action"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, values in enumerate(self.rows):
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 620)


class AboutDialog(QDialog):
    def __init__(self, model_text: str, device_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Cutout Studio")
        self.text = (
            f"<h3>Cutout Studio {cutout_studio.__version__}</h3>"
            "<p>Cut products out of photos: automatic mask, brush refinement, clean edges, "
            "transparent PNG/WebP export.</p>"
            f"<p><b>Model:</b> {model_text}<br><b>Device:</b> {device_text}</p>"
        )
        label = QLabel(self.text)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(buttons)


class Popups:
    """A window's non-modal dialogs, kept alive while they are open, and its one error box."""

    def __init__(self, parent: QWidget) -> None:
        self._parent = parent
        self.open: list[QWidget] = []
        self._error_box: QMessageBox | None = None

    def keep(self, dialog: QWidget) -> None:
        """Hold ``dialog`` until it is closed (then it is deleted)."""
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.open.append(dialog)
        dialog.destroyed.connect(lambda _obj=None, d=dialog: self.open.remove(d) if d in self.open else None)

    def error(self, message: str) -> None:
        """Show ``message`` in a warning box that does not block (reused for the next error)."""
        if self._error_box is None:
            self._error_box = QMessageBox(
                QMessageBox.Icon.Warning, "Cutout Studio", message, parent=self._parent
            )
            self._error_box.setModal(False)
        else:
            self._error_box.setText(message)
        self._error_box.show()


def ask_quit(parent: QWidget, risks: Sequence[str]) -> bool:
    """ "Quit anyway?" naming what would be lost; True to quit. No is the default button."""
    answer = QMessageBox.question(
        parent,
        "Quit Cutout Studio?",
        "Quitting now would lose work:\n\n" + "\n".join(f"• {r}" for r in risks),
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def model_description(card: ModelCard) -> str:
    """A one-line description of a model card for the About dialog and the status bar."""
    return f"{card.name} ({card.architecture}, {card.licence}) — {card.provenance}"


def install_model(model: str, ctx: JobContext) -> InstalledModel:
    """Install the model's weights (worker thread); progress goes to the dialog."""
    from cutout_studio.core.models import install

    return install(
        model, progress=lambda fraction, message: ctx.progress((fraction, message)), cancelled=ctx.cancelled
    )


class ModelInstallDialog(QDialog):
    """Installs the model on the jobs lane with a progress bar; cancellable."""

    installed = Signal(object)

    def __init__(
        self,
        lane: Lane,
        model: str,
        reason: str,
        parent: QWidget | None = None,
        installer: Callable[[str, JobContext], object] = install_model,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Install the segmentation model")
        self._lane = lane
        self._model = model
        self._installer = installer
        self._job: Job | None = None
        self.message = QLabel(
            f"{reason}.<br>Cutout Studio needs its segmentation model to make automatic masks. "
            "Install it now? (It is downloaded from the Python package registry and verified.)"
        )
        self.message.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.status = QLabel("")
        self.install_button = QPushButton("Install")
        self.install_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        buttons = QDialogButtonBox()
        buttons.addButton(self.install_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.install_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self._cancel)
        layout = QVBoxLayout(self)
        for widget in (self.message, self.progress, self.status, buttons):
            layout.addWidget(widget)
        self.resize(460, 200)

    @property
    def running(self) -> bool:
        return self._job is not None

    def start(self) -> None:
        if self._job is not None:
            return
        self.install_button.setEnabled(False)
        self.status.setText("Starting…")
        model, installer = self._model, self._installer
        self._job = self._lane.submit(
            lambda ctx: installer(model, ctx),
            name=f"install {model}",
            on_done=self._done,
            on_error=self._failed,
            on_progress=self._progress,
        )

    def _progress(self, value: tuple[float, str]) -> None:
        fraction, message = value
        self.progress.setValue(round(100 * fraction))
        self.status.setText(message)

    def _done(self, result: object) -> None:
        self._job = None
        self.progress.setValue(100)
        self.status.setText("Installed.")
        self.installed.emit(result)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._job = None
        self.install_button.setEnabled(True)
        if isinstance(exc, CancelledError):
            self.status.setText("Installation cancelled.")
            self.progress.setValue(0)
        else:
            self.status.setText(f"Installation failed: {exc}")

    def _cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.status.setText("Cancelling…")
        else:
            self.reject()

    def reject(self) -> None:
        if self._job is not None:
            self._job.cancel()  # the dialog may close; the job stops at its next check
        super().reject()


class ModelBanner(QFrame):
    """Shown above the canvas when no model is installed: says so and offers to install it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet("ModelBanner { background: #5a4513; } QLabel { color: #fff; }")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.install_button = QPushButton("Install model…")
        layout = QHBoxLayout(self)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.install_button)
        self.hide()
