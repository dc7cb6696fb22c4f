"""Issue 15, item 4: single-key shortcuts work whenever no text is being typed.

Every key here is a real key event sent where the keyboard is (the application's focus
widget), through Qt's shortcut handling, as a user's key press would be.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QStyle,
    QStyleOptionSpinBox,
)

from tests.gui.conftest import PERSON, TEDDY

pytestmark = pytest.mark.gui


def _focused_window(qtbot, make_window):
    window = make_window()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    window.canvas.setFocus()
    qtbot.waitUntil(window.canvas.hasFocus)
    return window


def _press(key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """A key press and release where the keyboard is now."""
    target = QApplication.focusWidget()
    assert target is not None
    QTest.keyClick(target, key, modifier)


def _type(text: str) -> None:
    target = QApplication.focusWidget()
    assert target is not None
    QTest.keyClicks(target, text)


def _click_field(spin: QAbstractSpinBox) -> None:
    """Click into the spin box's text and select it all, as a user about to type a value."""
    QTest.mouseClick(spin.lineEdit(), Qt.MouseButton.LeftButton)
    assert QApplication.focusWidget() is spin
    _press(Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)


def test_a_value_typed_into_shift_edge_is_committed_by_enter_and_then_1_changes_the_view(qtbot, make_window):
    window = _focused_window(qtbot, make_window)
    spin, state = window.tools.shift_spin, window.state
    state.view_mode = "checker"

    _click_field(spin)
    _type("-3")
    assert state.edges.shift == 0.0  # typing is not committing: no preview per keystroke
    _press(Qt.Key.Key_Return)
    assert state.edges.shift == -3.0
    assert window.canvas.hasFocus()

    _press(Qt.Key.Key_1)  # the "overlay" view's key reaches its action, not the field
    assert state.view_mode == "overlay"
    assert state.edges.shift == -3.0 and spin.value() == -3.0

    # The same with the keypad's Enter and the brush size field.
    _click_field(window.tools.brush_spin)
    _type("40")
    _press(Qt.Key.Key_Enter)
    assert state.brush_size == 40 and window.canvas.hasFocus()
    _press(Qt.Key.Key_3)
    assert state.view_mode == "color" and state.brush_size == 40


def test_esc_in_a_field_puts_the_committed_value_back_and_gives_the_canvas_the_focus(qtbot, make_window):
    window = _focused_window(qtbot, make_window)
    spin, state = window.tools.feather_spin, window.state
    state.set_edge(feather=1.5)

    _click_field(spin)
    _type("7")
    _press(Qt.Key.Key_Escape)
    assert window.canvas.hasFocus()
    assert state.edges.feather == 1.5 and spin.value() == 1.5
    assert spin.text() == spin.textFromValue(1.5) + spin.suffix()

    _press(Qt.Key.Key_S)  # and the keys are shortcuts again
    assert state.split and window.actions_.split.isChecked()


def _arrow_point(spin: QAbstractSpinBox, control: QStyle.SubControl) -> QPoint:
    option = QStyleOptionSpinBox()
    option.initFrom(spin)
    option.subControls = QStyle.SubControl.SC_SpinBoxUp | QStyle.SubControl.SC_SpinBoxDown
    option.buttonSymbols = spin.buttonSymbols()
    option.stepEnabled = (
        QAbstractSpinBox.StepEnabledFlag.StepUpEnabled | QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
    )
    option.frame = spin.hasFrame()
    rect = spin.style().subControlRect(QStyle.ComplexControl.CC_SpinBox, option, control, spin)
    assert rect.isValid() and not rect.isEmpty()
    return rect.center()


def test_a_step_by_the_arrows_or_the_wheel_gives_the_canvas_the_focus_back(qtbot, make_window):
    window = _focused_window(qtbot, make_window)
    spin, state = window.tools.shift_spin, window.state

    QTest.mouseClick(spin, Qt.MouseButton.LeftButton, pos=_arrow_point(spin, QStyle.SubControl.SC_SpinBoxUp))
    assert state.edges.shift == spin.singleStep()
    qtbot.waitUntil(window.canvas.hasFocus)

    centre = QPointF(spin.rect().center())
    wheel = QWheelEvent(
        centre,
        QPointF(spin.mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(spin, wheel)
    assert state.edges.shift == 2 * spin.singleStep()
    qtbot.waitUntil(window.canvas.hasFocus)
    _press(Qt.Key.Key_2)
    assert state.view_mode == "checker" and state.edges.shift == 2 * spin.singleStep()


def test_sliders_buttons_and_lists_of_the_tools_panel_never_take_the_keyboard(qtbot, make_window):
    window = _focused_window(qtbot, make_window)
    panel = window.tools
    controls = [
        w
        for w in panel.findChildren(QAbstractSlider)
        + panel.findChildren(QAbstractButton)
        + panel.findChildren(QComboBox)
    ]
    assert len(controls) >= 15
    assert all(w.focusPolicy() == Qt.FocusPolicy.NoFocus for w in controls), [
        type(w).__name__ for w in controls if w.focusPolicy() != Qt.FocusPolicy.NoFocus
    ]
    # Clicked, they still work, and the canvas keeps the keyboard.
    slider = panel.opacity_slider
    before = slider.value()
    QTest.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(slider.width() - 3, slider.height() // 2))
    assert slider.value() > before and window.state.overlay_opacity == pytest.approx(slider.value() / 100)
    decontaminate = window.state.edges.decontaminate
    QTest.mouseClick(panel.decontaminate_check, Qt.MouseButton.LeftButton)
    assert window.state.edges.decontaminate is not decontaminate
    qtbot.waitUntil(window.canvas.hasFocus)


def test_pgdown_after_moving_a_slider_shows_the_next_photo(qtbot, make_window):
    window = _focused_window(qtbot, make_window)
    first, second = window.open_paths([TEDDY, PERSON])
    assert window.current is first
    slider = window.tools.brush_slider
    before = slider.value()
    QTest.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(slider.width() - 3, slider.height() // 2))
    assert slider.value() != before
    # The canvas kept the keyboard: Space (hold to pan) and the arrows reach it, not the slider.
    qtbot.waitUntil(window.canvas.hasFocus)
    _press(Qt.Key.Key_PageDown)
    assert window.current is second
    _press(Qt.Key.Key_PageUp)
    assert window.current is first


def test_the_canvas_takes_the_focus_when_clicked(qtbot, make_window):
    window = _focused_window(qtbot, make_window)
    _click_field(window.tools.feather_spin)
    _type("2")
    QTest.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton)
    assert window.canvas.hasFocus()
    assert window.state.edges.feather == 2.0  # leaving a field commits what was typed in it
    _press(Qt.Key.Key_4)
    assert window.state.view_mode == "mask"


def test_a_click_into_a_field_selects_its_value_so_that_typing_replaces_it(qtbot, make_window):
    """Found by hand: the click put the caret after " px", where every key was refused."""
    window = _focused_window(qtbot, make_window)
    spin = window.tools.shift_spin
    field = spin.lineEdit()
    QTest.mouseClick(field, Qt.MouseButton.LeftButton, pos=QPoint(field.width() - 3, field.height() // 2))
    assert QApplication.focusWidget() is spin
    qtbot.waitUntil(lambda: field.hasSelectedText())
    _type("-2")
    _press(Qt.Key.Key_Return)
    assert window.state.edges.shift == -2.0 and window.canvas.hasFocus()
