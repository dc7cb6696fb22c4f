"""Issue 15, item 7: split view shows the real cutout right of the divider, in every view, and
the divider is grabbed (resize cursor, drag) rather than painted over."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest

from cutout_studio.qt.render import VIEW_MODES
from cutout_studio.qt.state import EditorState
from tests.gui.conftest import MASK_TIMEOUT_MS, TEDDY, open_and_wait_for_mask

pytestmark = pytest.mark.gui

CHECKER_GREYS = (150, 204)  #: the checkerboard's dark and light squares (painting.py)


def _screen(canvas) -> QImage:
    image = canvas.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    assert image.width() == canvas.viewport().width()  # one screen pixel per image pixel
    return image


def _at(image: QImage, canvas, xy: tuple[int, int]) -> tuple[int, int, int]:
    point = canvas.mapFromScene(QPointF(xy[0] + 0.5, xy[1] + 0.5))
    color = image.pixelColor(point)
    return color.red(), color.green(), color.blue()


def _inside(alpha: np.ndarray, value: float, x_range: tuple[float, float]) -> tuple[int, int]:
    """A pixel whose 41×41 neighbourhood is all ``value`` (far from the edge and the outline),
    with x in the given fraction of the width."""
    h, w = alpha.shape
    for y in range(30, h - 30, 10):
        for x in range(int(w * x_range[0]) + 30, int(w * x_range[1]) - 30, 10):
            if (alpha[y - 20 : y + 21, x - 20 : x + 21] == value).all():
                return x, y
    raise AssertionError(f"no pixel deep inside alpha == {value} in {x_range}")


def _is_checker(rgb: tuple[int, int, int]) -> bool:
    return rgb[0] == rgb[1] == rgb[2] and rgb[0] in CHECKER_GREYS


def _toggle_split(qtbot, window) -> None:
    """Press S (with the canvas focused) and wait for the picture made for the new view."""
    window.canvas.setFocus()
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        QTest.keyClick(window.canvas, Qt.Key.Key_S)


def test_the_after_side_shows_the_cutout_in_the_overlay_colour_and_original_views(qtbot, make_window):
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, TEDDY)
    canvas, state = window.canvas, window.state
    alpha = np.asarray(doc.alpha)
    assert state.view_mode == "overlay"
    left_bg = _inside(alpha, 0.0, (0.0, 0.5))
    right_bg = _inside(alpha, 0.0, (0.5, 1.0))
    right_fg = _inside(alpha, 1.0, (0.5, 1.0))

    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        state.view_mode = "original"
    photo = _screen(canvas)  # what the photo looks like on screen, at this zoom
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        state.view_mode = "overlay"
    overlay = _screen(canvas)
    assert _at(overlay, canvas, right_bg) != _at(photo, canvas, right_bg)  # tinted by the overlay

    _toggle_split(qtbot, window)
    assert state.split and window.actions_.split.isChecked() and canvas.split
    assert state.view_mode == "overlay"  # the chosen view stays; only the layer is the cutout
    assert canvas.layer_mode == "checker" and canvas.shown_mode == "checker"
    assert canvas.layer_item.image.pixelColor(*right_bg).alpha() == 0
    split = _screen(canvas)
    assert _at(split, canvas, left_bg) == _at(photo, canvas, left_bg)  # before: the photo itself
    assert _is_checker(_at(split, canvas, right_bg)), _at(split, canvas, right_bg)  # after: cut out
    fg, fg_photo = _at(split, canvas, right_fg), _at(photo, canvas, right_fg)
    assert np.abs(np.subtract(fg, fg_photo)).max() <= 3  # the subject kept as it is

    # "Cutout on colour": the after side is on the chosen colour.
    state.cutout_color = "#ff00ff"
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        state.view_mode = "color"
    assert canvas.shown_mode == "color"
    split = _screen(canvas)
    assert _at(split, canvas, right_bg) == (255, 0, 255)
    assert _at(split, canvas, left_bg) == _at(photo, canvas, left_bg)

    # The original photo chosen: split view still compares it with the cutout.
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        state.view_mode = "original"
    assert canvas.layer_item.isVisible() and canvas.shown_mode == "checker"
    split = _screen(canvas)
    assert _is_checker(_at(split, canvas, right_bg))
    assert _at(split, canvas, left_bg) == _at(photo, canvas, left_bg)

    # Split off: the chosen view again (the overlay made anew for it).
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        state.view_mode = "overlay"
    _toggle_split(qtbot, window)
    assert not state.split and not window.actions_.split.isChecked()
    assert canvas.layer_mode == "overlay" and canvas.photo_item.clip is None
    # (points away from the brush cursor and the busy label, which a loaded machine may paint)
    for point in (left_bg, right_bg, right_fg):
        assert _at(_screen(canvas), canvas, point) == _at(overlay, canvas, point)


def test_the_divider_shows_a_resize_cursor_and_a_drag_moves_it_without_painting(qtbot, make_window):
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, TEDDY)
    canvas = window.canvas
    viewport = canvas.viewport()
    strokes: list[object] = []
    canvas.stroke_finished.connect(lambda *args: strokes.append(args))
    _toggle_split(qtbot, window)
    h, w = doc.image.rgb.shape[:2]
    assert canvas.brushes_enabled and canvas.tool == "fg"

    def view_point(x: float, y: float) -> QPoint:
        return canvas.mapFromScene(QPointF(x, y))

    divider = view_point(w / 2, h / 2)
    QTest.mouseMove(viewport, divider + QPoint(3, 0))  # within a few screen pixels
    assert viewport.cursor().shape() == Qt.CursorShape.SplitHCursor
    assert not canvas._cursor.isVisible()  # no brush circle over the divider
    away = view_point(w * 0.7, h / 2)
    QTest.mouseMove(viewport, away)
    assert viewport.cursor().shape() == Qt.CursorShape.CrossCursor and canvas._cursor.isVisible()
    QTest.mouseMove(viewport, divider - QPoint(4, 0))
    assert viewport.cursor().shape() == Qt.CursorShape.SplitHCursor

    # Dragging the divider to a quarter of the width: it follows, and nothing is painted.
    target = view_point(w / 4, h * 0.6)
    QTest.mousePress(
        viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, divider - QPoint(4, 0)
    )
    for step in range(1, 6):
        QTest.mouseMove(viewport, divider - QPoint(4, 0) + (target - divider) * step / 5)
        assert viewport.cursor().shape() == Qt.CursorShape.SplitHCursor
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, target)
    scene_x = canvas.mapToScene(target - QPoint(4, 0)).x()
    assert canvas.divider.fraction == pytest.approx(scene_x / w, abs=2 / canvas.zoom / w)
    assert canvas.divider.fraction < 0.3
    assert canvas.layer_item.clip.left() == pytest.approx(canvas.divider.fraction * w)
    assert canvas.photo_item.clip.right() == pytest.approx(canvas.divider.fraction * w)
    assert strokes == [] and canvas.pending_stroke_previews == 0
    assert not np.asarray(doc.session.labels).any() and not doc.can_undo

    # Away from the divider the brush paints as before.
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, away)
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, away)
    assert len(strokes) == 1 and np.asarray(doc.session.labels).any()


def test_split_is_not_offered_over_the_photo_while_the_pan_tool_is_chosen(qtbot, make_window):
    """The pan tool pans from anywhere (it comes first): the divider shows the hand there."""
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, TEDDY)
    canvas = window.canvas
    _toggle_split(qtbot, window)
    h, w = doc.image.rgb.shape[:2]
    divider = canvas.mapFromScene(QPointF(w / 2, h / 2))
    window.actions_.tools["pan"].trigger()
    QTest.mouseMove(canvas.viewport(), divider)
    assert canvas.viewport().cursor().shape() == Qt.CursorShape.OpenHandCursor
    window.actions_.tools["fg"].trigger()
    QTest.mouseMove(canvas.viewport(), divider + QPoint(1, 0))
    assert canvas.viewport().cursor().shape() == Qt.CursorShape.SplitHCursor


def test_split_asks_the_edit_lane_for_the_cutout_whatever_view_is_chosen(qtbot):
    state = EditorState()
    seen: list[bool] = []
    state.split_changed.connect(seen.append)
    for mode in VIEW_MODES:
        state.view_mode = mode
        assert state.view_settings().mode == mode
    state.split = True
    assert seen == [True]
    wanted = {
        "overlay": "checker",
        "checker": "checker",
        "color": "color",
        "mask": "checker",
        "original": "checker",
    }
    for mode, cutout in wanted.items():
        state.view_mode = mode
        assert state.view_settings().mode == cutout and state.view_mode == mode
    with pytest.raises(ValueError, match="True or False"):
        state.split = "yes"
    assert state.split
