"""Issue 10 in the editor: screen-pixel brushes, the refine-edge brush, the edge outline,
marks painted before the mask arrives, and edits that recompose only the changed box."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.image_io import load_image
from cutout_studio.core.refine import stroke_mask
from cutout_studio.qt.render import ViewSettings, changed_box, compose, compose_patch, photo_layer
from tests.gui.conftest import MASK_TIMEOUT_MS, PERSON, TEDDY, open_and_wait_for_mask

pytestmark = pytest.mark.gui


def _drag(viewport, points: list[QPoint]) -> None:
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[0])
    for point in points[1:]:
        QTest.mouseMove(viewport, point)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[-1])


def _image_points(canvas, view_points: list[QPoint]) -> np.ndarray:
    """The photo-pixel (x, y) the canvas gives the engine for these view positions."""
    return np.array([canvas.scene_to_image(canvas.mapToScene(p)) for p in view_points])


def _on_outline(alpha: np.ndarray, path) -> np.ndarray:
    """For each vertex of the outline path, and every pixel along its straight segments (a tile
    seam drawn across the subject has its ends on the outline but not its middle): is it a
    subject pixel with a background 4-neighbour?"""
    hard = np.pad(alpha >= 0.5, 1, constant_values=False)
    edge = hard[1:-1, 1:-1] & ~(hard[:-2, 1:-1] & hard[2:, 1:-1] & hard[1:-1, :-2] & hard[1:-1, 2:])
    points = []
    for i in range(path.elementCount()):
        e = path.elementAt(i)
        points.append((e.x, e.y))
        if e.isLineTo() and i > 0:  # the pixels between this vertex and the previous one
            p = path.elementAt(i - 1)
            steps = int(max(abs(e.x - p.x), abs(e.y - p.y)))
            points += [(p.x + (e.x - p.x) * k / steps, p.y + (e.y - p.y) * k / steps) for k in range(1, steps)]
    if not points:
        return np.ones(0, bool)
    cols, rows = np.floor(np.array(points) - 0.5 + 1e-6).astype(int).T  # pixel centres are at col + 0.5
    return edge[rows, cols]


def test_brush_size_is_in_screen_pixels_at_any_zoom(qtbot, make_window):
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, TEDDY)
    canvas = window.canvas
    window.actions_.tools["bg"].trigger()
    window.set_brush_size(30)
    strokes: list[float] = []
    canvas.stroke_finished.connect(lambda kind, points, radius, hardness: strokes.append(radius))
    centre = canvas.viewport().rect().center()
    on_screen = []
    for zoom in (canvas.zoom, canvas.zoom * 3):
        canvas.set_zoom(zoom)
        canvas.centerOn(QPointF(doc.image.width / 2, doc.image.height / 2))
        QTest.mouseMove(canvas.viewport(), centre)
        cursor = canvas.mapFromScene(canvas._cursor.rect()).boundingRect()  # the brush circle on screen
        on_screen.append(cursor.width())
        with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
            _drag(canvas.viewport(), [centre, centre + QPoint(6, 0)])
    # The same 30 px on screen at both zooms; the strokes got 15 screen px in photo pixels.
    assert on_screen[0] == pytest.approx(30, abs=2) and on_screen[1] == pytest.approx(30, abs=2)
    assert strokes[0] == pytest.approx(3 * strokes[1])
    assert strokes[1] == pytest.approx(15 / canvas.zoom)
    # Remembered as screen pixels.
    assert window.settings.editor.brush_size == 30


def test_the_outline_draws_no_tile_seams_across_the_subject():
    """Found by hand: the outline is traced per 512-px tile, and OpenCV closes each tile's
    contours along the tile's border; zoomed out, those closing edges drew a grid across the
    subject. A real mask (DAVIS, upscaled 3x to 2562x1440) crosses several tile seams."""
    from pathlib import Path

    from cutout_studio.qt.outline import OUTLINE_TILE, trace_outline

    mask = Image.open(Path(__file__).resolve().parents[1] / "data" / "davis__davis032.png").convert("L")
    alpha = np.asarray(mask.resize((mask.width * 3, mask.height * 3), Image.Resampling.NEAREST)) / np.float32(255)
    hard = alpha >= 0.5
    seams = hard[:, OUTLINE_TILE - 1 : OUTLINE_TILE + 1].all(axis=1).sum()
    assert seams > 50  # the subject really runs across a tile seam
    for path in trace_outline(alpha).values():
        assert _on_outline(alpha, path).all()


def test_outline_view_draws_the_mask_boundary_and_follows_edits(qtbot, make_window):
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, TEDDY)
    canvas = window.canvas
    assert window.actions_.outline.isChecked() and canvas.outline_visible  # on by default
    path = canvas.outline_item.path()
    assert path.elementCount() > 20
    assert _on_outline(doc.alpha, path).all()
    hard = doc.alpha >= 0.5
    rows, cols = np.nonzero(hard)
    bounds = path.boundingRect()
    assert bounds.left() == pytest.approx(cols.min() + 0.5) and bounds.right() == pytest.approx(cols.max() + 0.5)
    assert bounds.top() == pytest.approx(rows.min() + 0.5) and bounds.bottom() == pytest.approx(rows.max() + 0.5)

    # A background stroke through the bear: the outline is re-traced where the mask changed.
    window.actions_.tools["bg"].trigger()
    window.set_brush_size(20)
    h, w = doc.image.rgb.shape[:2]
    points = [canvas.mapFromScene(QPointF(w * x, h * 0.5)) for x in (0.45, 0.5, 0.55)]
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        _drag(canvas.viewport(), points)
    assert not np.array_equal(doc.alpha >= 0.5, hard)
    path = canvas.outline_item.path()
    assert _on_outline(doc.alpha, path).all()

    window.actions_.outline.trigger()
    assert not canvas.outline_visible
    window.actions_.outline.trigger()
    window.actions_.modes["original"].trigger()
    assert not canvas.outline_visible  # the original photo shows no outline


def test_an_edit_recomposes_only_the_changed_box_of_the_layer_on_screen(qtbot, make_window):
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, PERSON)
    canvas = window.canvas
    layer = canvas.layer_item.layer
    before = layer.buffer.copy()
    results = []
    window.pipeline.rendered.connect(lambda d, result: results.append(result))
    window.actions_.tools["bg"].trigger()
    window.set_brush_size(16)
    h, w = doc.image.rgb.shape[:2]
    points = [canvas.mapFromScene(QPointF(w * x, h * 0.4)) for x in (0.45, 0.5)]
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        _drag(canvas.viewport(), points)
    result = results[-1]
    # The same layer, patched in place in a box, equal to a full composition of the new mask.
    assert canvas.layer_item.layer is layer and result.patch is not None
    y0, y1, x0, x1 = result.patch.box
    assert (y1 - y0) * (x1 - x0) < 0.5 * h * w
    full = compose(doc.image, doc.alpha, window.state.edges, window.state.view_settings())
    assert np.array_equal(layer.buffer, full.buffer)
    changed = np.argwhere((layer.buffer != before).any(axis=2))
    assert len(changed) and changed[:, 0].min() >= y0 and changed[:, 0].max() < y1
    for (_scale, _image, level), (_s, _i, expected) in zip(layer.levels, full.levels, strict=True):
        assert np.abs(level.astype(int) - expected).max() <= 1


def test_refine_edge_brush_mattes_only_where_painted_and_undoes(qtbot, make_window):
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, PERSON)
    canvas = window.canvas
    before = np.array(doc.alpha)
    window.actions_.tools["refine"].trigger()
    assert window.state.tool == "refine"
    # choosing the brush loads the matting kernels in the background (compiled the first time
    # ever: tens of seconds on a fresh installation), so that the first stroke does not wait
    assert window._warmed_up
    qtbot.waitUntil(lambda: not window.lanes.thumbs.busy, timeout=4 * MASK_TIMEOUT_MS)
    window.set_brush_size(24)
    window.tools.hardness_slider.setValue(100)  # the tools panel's slider is bound to the state
    assert window.state.brush_hardness == 1.0 and window.canvas.brush_hardness == 1.0
    assert window.settings.editor.brush_hardness == 1.0  # remembered with the settings
    # Across the top of the head (hair), where the mask's outline is.
    rows = np.flatnonzero((before >= 0.5).any(axis=1))
    top = int(rows[0]) + 3
    cols = np.flatnonzero(before[top] >= 0.5)
    mid = float(cols[len(cols) // 2])
    scene = [QPointF(mid - 15 + 0.5, top - 2 + 0.5), QPointF(mid + 15 + 0.5, top - 2 + 0.5)]
    view_points = [canvas.mapFromScene(p) for p in scene]
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        _drag(canvas.viewport(), view_points)
    h, w = before.shape
    footprint = stroke_mask(_image_points(canvas, view_points), canvas.image_radius + 1, 0, 0, w, h)
    changed = doc.alpha != before
    assert changed.sum() > 20 and not (changed & ~footprint).any()
    assert doc.edited and doc.can_undo and not np.array_equal(doc.session.labels, 1)
    # the stroke is saved with the photo's edits (it used to be kept in memory only): a new
    # window restores it, undoable
    painted = np.array(doc.alpha)
    window.confirm_quit = lambda risks: pytest.fail(f"asked: {risks}")
    window.close()
    again = make_window()
    restored = open_and_wait_for_mask(qtbot, again, PERSON)
    assert len(restored.edge_edits.patches) == 1 and np.array_equal(restored.alpha, painted)
    assert restored.history.done[-1].kind == "refine" and restored.can_undo
    with qtbot.waitSignal(again.view_updated, timeout=MASK_TIMEOUT_MS):
        again.actions_.undo.trigger()
    assert np.array_equal(restored.alpha, before)


def test_marks_painted_before_the_mask_arrives_are_applied_when_it_does(qtbot, make_window):
    window = make_window()
    with qtbot.waitSignal(window.masks.segmenter_ready, timeout=MASK_TIMEOUT_MS):
        pass
    segmenter = window.masks.segmenter
    # Hold the real model back until the stroke is painted (the photo is on screen meanwhile).
    gate = threading.Event()
    predict = segmenter.predict_lowres  # (the model's pass, with or without a clean plate)
    segmenter.predict_lowres = lambda rgbs: (gate.wait(MASK_TIMEOUT_MS / 1000), predict(rgbs))[1]
    with qtbot.waitSignal(window.masks.decoded, timeout=MASK_TIMEOUT_MS):
        window.open_paths([TEDDY])
    doc = window.current
    canvas = window.canvas
    assert doc.image is not None and not doc.ready
    assert canvas.has_photo and canvas.brushes_enabled
    window.actions_.tools["bg"].trigger()
    window.set_brush_size(12)
    h, w = doc.image.rgb.shape[:2]
    view_points = [canvas.mapFromScene(QPointF(w * x, h * 0.5)) for x in (0.5, 0.56)]
    _drag(canvas.viewport(), view_points)
    assert len(doc.pending) == 1 and not doc.ready
    assert canvas.pending_stroke_previews == 1  # the painted stroke stays on screen meanwhile
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        gate.set()
    qtbot.waitUntil(lambda: not doc.pending and bool(doc.history.done), timeout=MASK_TIMEOUT_MS)
    expected = stroke_mask(_image_points(canvas, view_points), canvas.image_radius, 0, 0, w, h)
    labels = np.array(doc.session.labels)
    assert np.array_equal(labels == 2, expected)
    assert (doc.alpha[expected] == 0).all() and doc.can_undo


@pytest.mark.parametrize("edges", [{"feather": 3.0}, {"shift": -2.5, "feather": 1.0}, {}])
@pytest.mark.parametrize("mode", ["overlay", "mask"])
def test_a_patch_equals_the_whole_layer_recomposed_with_edge_settings(qtbot, edges, mode):
    """The box a patch recomposes carries the edge settings' reach: no seam at its border."""

    image = load_image(PERSON)
    alpha = (np.asarray(Image.open(PERSON.with_suffix(".png")).convert("L")) > 127).astype(np.float32)
    # Upscaled 4×: big enough for two reduced copies, which the patch must update too.
    image = dataclasses.replace(image, rgb=np.ascontiguousarray(np.kron(image.rgb, np.ones((4, 4, 1), np.uint8))))
    alpha = np.kron(alpha, np.ones((4, 4), np.float32))
    assert photo_layer(image.rgb).levels  # the layer has reduced copies
    options, view = EdgeOptions(**edges), ViewSettings(mode=mode)
    layer = compose(image, alpha, options, view)
    edited = alpha.copy()
    edited[700:760, 500:620] = 1.0 - edited[700:760, 500:620]
    box = changed_box(alpha, edited)
    patch = compose_patch(image, edited, options, view, box, len(layer.levels))
    assert patch is not None
    layer.apply_patch(patch)
    full = compose(image, edited, options, view)
    assert np.array_equal(layer.buffer, full.buffer)
    for (_s, _i, level), (_s2, _i2, expected) in zip(layer.levels, full.levels, strict=True):
        assert np.abs(level.astype(int) - expected).max() <= 1
