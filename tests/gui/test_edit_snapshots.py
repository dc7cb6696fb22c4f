"""The edit lane's snapshots and patches follow the box the engine reports (issue 10, item 6).

Each edit job copies into a reused buffer only what the session changed since that buffer's
copy, and recomposes only the box changed since the snapshot on screen. Driven here as the
window drives it (the previous result is the base, its patch applied to the layer) on a real
photo larger than the engine's working copy: every snapshot must equal the session's mask and
every patched layer a full composition of it.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from cutout_studio.core.edge_brush import EdgeEdits
from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.image_io import LoadedImage
from cutout_studio.core.refine import RefineSession
from cutout_studio.qt import workers
from cutout_studio.qt.document import EdgeBrushCommand, EditCommand, HistoryCommand, StrokeCommand
from cutout_studio.qt.editing import Base, EditResult, SnapshotPool, run_edit, snapshot
from cutout_studio.qt.render import ViewSettings, compose
from tests.gui.conftest import TEST_DATA

pytestmark = pytest.mark.gui

NAME = "people-ccp__ccp0003"


def _photo() -> tuple[np.ndarray, np.ndarray]:
    """The photo upscaled to 1600 px (above the 1024-px working copy) and a damaged mask."""
    rgb = cv2.imread(str(TEST_DATA / f"{NAME}.jpg"), cv2.IMREAD_COLOR)[:, :, ::-1]
    truth = cv2.imread(str(TEST_DATA / f"{NAME}.png"), cv2.IMREAD_GRAYSCALE) > 127
    scale = 1600 / max(truth.shape)
    size = (round(truth.shape[1] * scale), round(truth.shape[0] * scale))
    rgb = np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC))
    truth = cv2.resize(truth.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    damaged = truth.copy()
    h, w = truth.shape
    damaged[h // 3 : h // 3 + h // 10, w // 3 : w // 3 + w // 10] ^= True
    return rgb, cv2.GaussianBlur(damaged.astype(np.float32), (0, 0), 2.0)


class _Editor:
    """Runs edit jobs one after the other the way the pipeline and the canvas use them."""

    def __init__(self, session: RefineSession, image: LoadedImage, pool: SnapshotPool) -> None:
        self.session, self.image, self.pool = session, image, pool
        self.view, self.edges = ViewSettings(), EdgeOptions()
        self.ctx = workers.JobContext(workers._JobSignals(), threading.Event())
        self.result: EditResult | None = None
        self.layer = None
        self.edits = EdgeEdits()

    def run(self, *commands: EditCommand) -> EditResult:
        base = Base(self.layer, self.result.alpha, self.result.settings) if self.result is not None else None
        result = run_edit(
            self.session, self.image, list(commands), self.edges, self.view, 0, self.ctx,
            edits=self.edits, base=base, pool=self.pool,
        )  # fmt: skip
        if result.patch is not None:
            assert result.layer is self.layer
            self.layer.apply_patch(result.patch)
        else:
            self.layer = result.layer
        self.result = result  # what the document holds (doc.alpha, doc.layer_alpha)
        return result


def test_snapshots_and_patches_follow_the_box_the_engine_reports():
    rgb, auto = _photo()
    h, w = auto.shape
    image = LoadedImage(rgb)
    session = RefineSession(rgb, auto)
    pool = SnapshotPool()
    editor = _Editor(session, image, pool)
    editor.run()  # the first picture: a full composition
    fg = StrokeCommand("fg", ((w * 0.36, h * 0.38), (w * 0.4, h * 0.4)), 6.0)
    steps: list[tuple[EditCommand, ...]] = [
        (fg,),
        (StrokeCommand("bg", ((w * 0.1, h * 0.1), (w * 0.12, h * 0.5)), 8.0),),
        (StrokeCommand("erase", fg.points, 9.0),),
        (HistoryCommand("undo"),),
        (HistoryCommand("undo"), HistoryCommand("undo")),
        (HistoryCommand("redo"),),
        (EdgeBrushCommand(((w * 0.5, h * 0.2), (w * 0.55, h * 0.2)), 10.0, 0.5),),  # patches over the mask
        (fg,),
        (HistoryCommand("undo"), HistoryCommand("undo")),  # the edge patch undone: a plain mask again
        (StrokeCommand("fg", ((w * 0.7, h * 0.7),), 5.0),),
        (HistoryCommand("reset"),),
        (HistoryCommand("undo"),),
    ]
    in_place = 0
    for commands in steps:
        before, layer = np.array(editor.result.alpha), editor.layer
        result = editor.run(*commands)
        in_place += editor.layer is layer
        expected = editor.edits.apply(session.refine())
        assert np.array_equal(result.alpha, expected), commands
        full = compose(image, result.alpha, editor.edges, editor.view)
        assert np.array_equal(editor.layer.buffer, full.buffer), commands
        if result.patch is not None:
            y0, y1, x0, x1 = result.patch.box
            differs = np.argwhere(result.alpha != before)
            if len(differs):
                assert differs[:, 0].min() >= y0 and differs[:, 0].max() < y1
                assert differs[:, 1].min() >= x0 and differs[:, 1].max() < x1
    assert in_place == len(steps)
    assert pool.allocations <= 3  # buffers reused, not a fresh 4-byte-per-pixel copy each time


def test_a_pool_buffer_is_not_taken_for_another_sessions_mask():
    """Two photos of one size (or a new automatic mask): a buffer that held one session's mask
    at some version is copied afresh for another session at the same version, never patched."""
    rgb, auto = _photo()
    pool, edits = SnapshotPool(), EdgeEdits()
    first, second = RefineSession(rgb, auto), RefineSession(rgb, 1.0 - auto)
    for session in (first, second, first, second):
        session.add_stroke("fg", [(100.0, 100.0 + 50 * session.version)], 6.0)
        alpha = snapshot(session, session.refine(), edits, pool)
        assert np.array_equal(alpha, session.refine())
        del alpha  # nobody holds it any more: the next snapshot reuses its buffer
    assert pool.allocations == 1
