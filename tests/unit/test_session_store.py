"""The session store: records keyed by content, written atomically, replayed into a RefineSession."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cutout_studio.core import paths
from cutout_studio.core.edge_brush import EdgeEdits
from cutout_studio.core.edits import apply_step, replay, undo_step
from cutout_studio.core.refine import RefineSession
from cutout_studio.core.session_store import (
    History,
    SessionRecord,
    SessionStore,
    Step,
    content_key,
)

TEDDY = Path(__file__).resolve().parents[1] / "data" / "objects-coco__teddy_bear04_000000325527.jpg"


def _scene() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 50, (120, 160, 3), dtype=np.uint8)
    rgb[30:90, 40:120] = 210
    alpha = np.zeros((120, 160), np.float32)
    alpha[35:85, 45:115] = 1.0  # the "model" missed the rim of the bright block
    return rgb, alpha


STROKES = (
    Step("fg", ((42.0, 32.0), (118.0, 32.0)), 4.0),
    Step("bg", ((10.0, 100.0), (60.0, 110.0)), 6.0),
    Step("reset"),
    Step("fg", ((41.5, 88.25), (119.0, 88.0)), 3.0),
    Step("erase", ((80.0, 88.0),), 5.0),
)


def test_content_key_follows_the_bytes_not_the_name(tmp_path):
    copy = tmp_path / "renamed.jpg"
    shutil.copy(TEDDY, copy)
    assert content_key(copy) == content_key(TEDDY)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a retouch in the middle: same size, same head and tail
    copy.write_bytes(bytes(data))
    assert content_key(copy) != content_key(TEDDY)


def test_replaying_a_saved_history_rebuilds_the_mask_and_its_undo(tmp_path):
    rgb, alpha = _scene()
    live, edits = RefineSession(rgb, alpha), EdgeEdits()
    history = History()
    for step in STROKES:
        assert apply_step(live, edits, rgb, step)
        history = history.add(step)
    undo_step(live, edits)
    history = history.undo()  # the erase is undone: it must come back as a redo
    store = SessionStore(tmp_path / "sessions")
    key = "ab" * 32
    store.save(SessionRecord(key, source="x.jpg", size=(160, 120), history=history, output=None))

    record = store.load(key)
    assert record is not None and record.history == history and record.size == (160, 120)
    fresh = RefineSession(rgb, alpha)
    replay(record.history, fresh, rgb)
    assert np.array_equal(fresh.refine(), live.refine())
    assert np.array_equal(fresh.labels, live.labels)
    assert fresh.can_undo and fresh.can_redo
    fresh.redo()
    live.redo()
    assert np.array_equal(fresh.refine(), live.refine())


def test_refine_edge_strokes_are_saved_and_replayed_in_their_undo_order(tmp_path):
    """Issue 15 (reopen a shoot) / issue 10 item 5: a refine-edge stroke was kept in memory only,
    so a reopened photo lost its matted hair."""
    photo = Path(__file__).resolve().parents[1] / "data" / "people-ccp__ccp0041.jpg"
    from PIL import Image

    rgb = np.asarray(Image.open(photo).convert("RGB")).copy()
    alpha = np.asarray(Image.open(photo.with_suffix(".png")).convert("L"), np.float32) / 255.0
    h, w = alpha.shape
    ys, xs = np.nonzero(alpha > 0.5)
    top = int(ys.min())
    centre = float(xs[ys == top].mean())
    hair = Step("refine", ((centre - 30.0, top + 2.0), (centre + 30.0, top + 2.0)), 14.0, 0.6)
    steps = (Step("bg", ((5.0, h - 10.0), (40.0, h - 12.0)), 6.0), hair, Step("fg", ((centre, top + 60.0),), 5.0))
    live, edits = RefineSession(rgb, alpha), EdgeEdits()
    history = History()
    for step in steps:
        assert apply_step(live, edits, rgb, step), step.kind
        history = history.add(step)
    assert len(edits.patches) == 1
    undo_step(live, edits)  # the last fg stroke
    history = history.undo()
    want = edits.apply(live.refine())

    store = SessionStore(tmp_path)
    store.save(SessionRecord("cd" * 32, "p.jpg", (w, h), history))
    back = store.load("cd" * 32)
    assert back is not None and back.history.done[1] == hair  # hardness kept to the last bit
    fresh = RefineSession(rgb, alpha)
    fresh_edits = replay(back.history, fresh, rgb)
    assert np.array_equal(fresh_edits.apply(fresh.refine()), want)
    # undoing next removes the hair patch (the shared order), as in the live session
    undo_step(fresh, fresh_edits)
    undo_step(live, edits)
    assert fresh_edits.empty and np.array_equal(fresh_edits.apply(fresh.refine()), edits.apply(live.refine()))


def test_history_follows_undo_redo_and_a_new_stroke_drops_the_redo_stack():
    a, b, c = STROKES[0], STROKES[1], STROKES[3]
    history = History().add(a).add(b).undo()
    assert history == History((a,), (b,))
    assert history.redo() == History((a, b), ())
    assert history.add(c) == History((a, c), ())
    assert History().undo() == History() and History().redo() == History()
    assert History().then("reset") == History((Step("reset"),), ())


def test_the_store_lives_in_the_data_folder_and_writes_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("CUTOUT_STUDIO_HOME", str(tmp_path / "home"))
    store = SessionStore()
    record = SessionRecord("cd" * 32, size=(4, 3), history=History((STROKES[0],)))
    path = store.save(record)
    assert path.parent == paths.data_dir() / "sessions" and path.parent.parent == tmp_path / "home" / "data"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    assert json.loads(path.read_text())["history"]["done"][0]["kind"] == "fg"
    store.delete(record.key)
    assert store.load(record.key) is None


def test_a_corrupt_or_foreign_record_is_set_aside_not_replayed(tmp_path):
    store = SessionStore(tmp_path)
    key = "ef" * 32
    store.path_for(key).write_text(
        '{"version": 1, "key": "' + key + '", "history": {"done": [{"kind": "fg"}]}}'
    )
    assert store.load(key) is None
    assert not store.path_for(key).exists() and store.path_for(key).with_suffix(".corrupt").exists()
    other = "12" * 32
    store.save(SessionRecord(other))
    store.path_for(other).rename(store.path_for(key))  # a file under the wrong name
    assert store.load(key) is None
    with pytest.raises(ValueError):
        store.path_for("../settings")


def test_a_failed_write_raises_and_keeps_the_previous_record(tmp_path):
    store = SessionStore(tmp_path / "sessions")
    key = "aa" * 32
    store.save(SessionRecord(key, size=(1, 1), history=History((STROKES[0],))))
    bad = SessionRecord(key, size=(1, 1), history=History((Step("fg", ((float("nan"), 1.0),), 2.0),)))
    with pytest.raises(ValueError):  # NaN is not JSON: refused before anything is written
        store.save(bad)
    assert store.load(key).history.done == (STROKES[0],)
    assert [p.suffix for p in (tmp_path / "sessions").iterdir()] == [".json"]


def test_prune_removes_only_records_not_written_for_a_long_time(tmp_path):
    import os
    import time

    store = SessionStore(tmp_path)
    old, fresh = "0a" * 32, "0b" * 32
    for key in (old, fresh):
        store.save(SessionRecord(key, size=(1, 1), history=History((STROKES[0],))))
    year_ago = time.time() - 400 * 86400
    os.utime(store.path_for(old), (year_ago, year_ago))
    assert store.prune() == 1
    assert store.load(old) is None and store.load(fresh) is not None
