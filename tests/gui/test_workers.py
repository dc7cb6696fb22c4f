"""Latest-wins scheduling: edits are never lost, pictures of stale requests are never shown."""

from __future__ import annotations

import numpy as np
import pytest

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.refine import RefineSession, stroke_mask
from cutout_studio.qt import editing
from cutout_studio.qt.document import DocStatus, Document, HistoryCommand, StrokeCommand
from cutout_studio.qt.editing import EditPipeline
from cutout_studio.qt.render import ViewSettings
from cutout_studio.qt.workers import Lane
from tests.gui.conftest import MASK_TIMEOUT_MS, PERSON, TEDDY

pytestmark = pytest.mark.gui


def _synthetic_document(tmp_path) -> Document:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 40, (120, 160, 3), dtype=np.uint8)
    rgb[30:90, 40:120] = 200
    alpha = np.zeros((120, 160), np.float32)
    alpha[30:90, 40:120] = 1.0
    doc = Document(tmp_path / "synthetic.png", status=DocStatus.MASKED)
    from cutout_studio.core.image_io import LoadedImage

    doc.image = LoadedImage(rgb=rgb)
    doc.session = RefineSession(rgb, alpha)
    doc.auto_alpha = doc.alpha = alpha
    return doc


def test_edits_all_apply_but_only_the_newest_picture_is_shown(qtbot, tmp_path, monkeypatch):
    doc = _synthetic_document(tmp_path)
    lane = Lane("edit")
    jobs: list[int] = []
    real_run_edit = editing.run_edit

    def counting_run_edit(*args, **kwargs):
        jobs.append(len(args[2]))  # commands drained by this job
        return real_run_edit(*args, **kwargs)

    monkeypatch.setattr(editing, "run_edit", counting_run_edit)
    pipeline = EditPipeline(lane, lambda: doc, lambda: ViewSettings(), lambda: EdgeOptions())
    shown: list[int] = []
    pipeline.rendered.connect(lambda _doc, result: shown.append(result.generation))

    strokes = [StrokeCommand("bg", ((10.0 + 12 * i, 10.0), (10.0 + 12 * i, 20.0)), 3.0) for i in range(6)]
    with qtbot.waitSignal(
        pipeline.busy_changed, timeout=MASK_TIMEOUT_MS, check_params_cb=lambda busy: not busy
    ):
        for stroke in strokes:
            pipeline.push(doc, stroke)
        for _ in range(5):
            pipeline.request(doc)  # e.g. an edge slider dragged while strokes are pending

    # Every edit was applied, in order, by at most two jobs: the first, then one with the rest.
    expected = np.zeros((120, 160), bool)
    for stroke in strokes:
        expected |= stroke_mask(np.array(stroke.points), stroke.radius, 0, 0, 160, 120)
    assert np.array_equal(np.array(doc.session.labels) == 2, expected)
    assert sum(jobs) == len(strokes) and len(jobs) <= 2
    # Only the picture of the newest request reached the canvas.
    assert shown == [doc.generation]
    assert doc.status is DocStatus.EDITED and doc.can_undo

    with qtbot.waitSignal(pipeline.rendered, timeout=MASK_TIMEOUT_MS):
        for _ in strokes:
            pipeline.push(doc, HistoryCommand("undo"))
    assert not np.array(doc.session.labels).any()
    assert doc.status is DocStatus.MASKED
    lane.wait()


def test_switching_photos_drops_the_stale_photo_and_masks_the_new_one_first(qtbot, make_window):
    window = make_window()
    qtbot.waitUntil(lambda: window.masks.segmenter is not None, timeout=MASK_TIMEOUT_MS)
    shown: list[str] = []
    window.view_updated.connect(lambda doc: shown.append(doc.path.name))
    window.open_paths([TEDDY, PERSON])
    first, second = window.docs
    assert window.current is first and first.status is DocStatus.WORKING
    with qtbot.waitSignal(
        window.view_updated, timeout=MASK_TIMEOUT_MS, check_params_cb=lambda d: d is second
    ):
        window.actions_.next_photo.trigger()
    assert window.current is second and second.ready
    assert shown == [PERSON.name]  # nothing of the photo we left was drawn
    assert window.canvas.photo_item.layer is second.photo


def test_shutdown_does_not_wait_for_a_job_that_cannot_stop_and_its_end_is_clean(qtbot, capfd):
    """Issue 8, case 14: closing during an update took ~7 s and printed
    "RuntimeError: Signal source has been deleted" when the job ended after the window."""
    import gc
    import threading
    import time

    from cutout_studio.qt.workers import Lanes, wait_detached

    lanes = Lanes()
    started, release = threading.Event(), threading.Event()
    results: list[str] = []

    def solve(_ctx):  # like a matting solve: it cannot notice the cancel flag
        started.set()
        release.wait(10)
        return "late"

    lanes.edit.submit(solve, on_done=results.append, on_error=lambda exc: results.append(repr(exc)))
    queued = lanes.edit.submit(lambda _ctx: "never", on_done=results.append, on_error=lambda exc: None)
    assert started.wait(10)
    begin = time.perf_counter()
    lanes.shutdown()
    assert time.perf_counter() - begin < 1.0
    assert queued.is_cancelled
    del lanes  # the window and its lanes are gone while the job still runs
    gc.collect()
    release.set()
    assert wait_detached(10_000)
    qtbot.wait(50)  # let the late result's queued signal arrive: it is dropped
    assert results == []
    assert "Signal source has been deleted" not in capfd.readouterr().err


def test_closing_the_editor_during_a_matting_update_is_fast(qtbot, make_window, capfd):
    import time

    from cutout_studio.qt.workers import wait_detached

    window = make_window()
    window.tools.matting_check.setChecked(True)
    with qtbot.waitSignal(window.pipeline.previewed, timeout=MASK_TIMEOUT_MS):
        window.open_paths([PERSON])  # the quick picture is shown: the matting solve is running
    assert window.pipeline.busy
    begin = time.perf_counter()
    window.close()
    assert time.perf_counter() - begin < 1.5
    assert wait_detached(MASK_TIMEOUT_MS)
    assert "Traceback" not in capfd.readouterr().err
