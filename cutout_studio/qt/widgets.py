"""Small widgets shared by the panels and dialogs."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSlider,
    QAbstractSpinBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QPushButton,
    QSpinBox,
    QWidget,
)


class ColorButton(QPushButton):
    """A button showing a colour swatch; clicking it opens a colour picker."""

    color_changed = Signal(QColor)

    def __init__(self, color: QColor, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = title
        self._color = QColor(color)
        self.setFixedWidth(56)
        self.clicked.connect(self._pick)
        self._paint()

    @property
    def color(self) -> QColor:
        return QColor(self._color)

    def set_color(self, color: QColor) -> None:
        if color.isValid() and color != self._color:
            self._color = QColor(color)
            self._paint()
            self.color_changed.emit(QColor(color))

    def _paint(self) -> None:
        self.setStyleSheet(
            f"QPushButton {{ background: {self._color.name()}; border: 1px solid #777; min-height: 18px; }}"
        )

    def _pick(self) -> None:
        self.set_color(QColorDialog.getColor(self._color, self, self._title))


class KeyboardReturner(QObject):
    """Keeps a panel's controls from holding on to the keyboard, so that single-key shortcuts
    work whenever no text is being typed.

    :meth:`adopt` makes the panel's sliders, buttons, check boxes and combo boxes take no focus
    at all (the mouse still works them), and its spin boxes keep the focus only while they are
    typed in: the typed value is committed by Enter (or by leaving the field), Esc puts the
    committed one back, and both, like a step by the arrows or the mouse wheel, end with
    :attr:`released`, which the window answers by giving its canvas the focus. A click on
    the panel elsewhere (a control or its background) ends with :attr:`released` too: Qt
    gives a click's focus to the nearest parent that takes it, which would otherwise be the
    scroll area around the panel, so the panel takes it and hands it on.
    """

    released = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._root: QWidget | None = None

    def adopt(self, root: QWidget) -> None:
        self._root = root
        root.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        root.installEventFilter(self)
        for widget in root.findChildren(QWidget):
            if isinstance(widget, QAbstractSpinBox):
                widget.setKeyboardTracking(False)  # a value is committed, not every keystroke
                widget.installEventFilter(self)
            elif isinstance(widget, (QAbstractSlider, QAbstractButton, QComboBox)):
                widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        kind = event.type()
        if watched is self._root:
            if kind == QEvent.Type.FocusIn:
                # later: not while Qt is still moving the focus (this object is the timer's
                # context, so a timer due after the panel is gone does nothing)
                QTimer.singleShot(0, self, self.released.emit)
            return False
        if not isinstance(watched, QAbstractSpinBox):
            return False
        if kind == QEvent.Type.KeyPress:
            key_event: QKeyEvent = event  # type: ignore[assignment]
            key = key_event.key()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                watched.interpretText()
                self.released.emit()
                return True
            if key == Qt.Key.Key_Escape:
                if isinstance(watched, QSpinBox):
                    watched.setValue(watched.value())  # the committed value, shown again
                elif isinstance(watched, QDoubleSpinBox):
                    watched.setValue(watched.value())
                self.released.emit()
                return True
        elif kind == QEvent.Type.FocusIn:
            # A click into the field puts the caret where it lands, often after the " px"
            # suffix, where typing is refused (found by hand): select the number instead, as
            # Tab does, so that typing replaces it.
            QTimer.singleShot(0, watched, watched.selectAll)
        elif kind in (QEvent.Type.MouseButtonRelease, QEvent.Type.Wheel):
            # Mouse events reach the spin box itself only over its arrows (the text field is
            # its child); the wheel reaches it from either. Hand back once the step is done.
            QTimer.singleShot(0, self, self.released.emit)
        return False
