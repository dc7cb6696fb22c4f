"""Issue 15: a whole shoot in the editor (quick export, the folder masked in the background, the
filmstrip's story, the keyboard flow, edge settings per photo, reopening the shoot)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.planner import plan_outputs
from cutout_studio.core.session_store import History, SessionRecord, SessionStore, Step, content_key
from cutout_studio.qt.document import DocStatus
from tests.gui.conftest import MASK_TIMEOUT_MS, PERSON, TEDDY

pytestmark = pytest.mark.gui
DATA = Path(__file__).resolve().parents[1] / "data"
HYDRANT = DATA / "objects-coco__fire_hydrant02_000000020107.jpg"
TV = DATA / "objects-coco__tv02_000000063740.jpg"


def _shoot(tmp_path: Path) -> Path:
    """shoot/day1/{shoe,bag}.jpg and shoot/day2/{shoe,lamp}.jpg: four real photos, two namesakes."""
    shoot = tmp_path / "shoot"
    for day, files in (("day1", {"shoe.jpg": TEDDY, "bag.jpg": HYDRANT}), ("day2", {"shoe.jpg": PERSON, "lamp.jpg": TV})):
        (shoot / day).mkdir(parents=True)
        for name, source in files.items():
            shutil.copy(source, shoot / day / name)
    return shoot


def _open_shoot(qtbot, window, shoot: Path):
    """Open the folder and wait until every photo's status is known (masked in the background)."""
    window.open_paths([shoot])
    qtbot.waitUntil(lambda: window.current is not None and window.current.ready, timeout=MASK_TIMEOUT_MS)
    qtbot.waitUntil(lambda: all(doc.surveyed for doc in window.docs), timeout=4 * MASK_TIMEOUT_MS)
    return window.docs


def _key(window, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A real key press to the canvas (where the focus is while the user works)."""
    window.canvas.setFocus()
    QTest.keyClick(window.canvas, key, modifier)


def test_the_whole_folder_is_masked_in_the_background_into_the_cache(qtbot, make_window, gui_home, tmp_path):
    window = make_window()
    docs = _open_shoot(qtbot, window, _shoot(tmp_path))
    assert len(docs) == 4 and window.current is docs[0]
    # never shown, yet masked: their masks are in the cache and their status says so
    assert all(doc.status is DocStatus.MASKED for doc in docs)
    cached = list((gui_home / "data" / "masks").glob("*.png")) if (gui_home / "data").is_dir() else []
    cached = cached or list(window.mask_cache.root.glob("*.png"))
    assert len(cached) == 4
    assert window.masks.backlog == 0 and window.filmstrip_panel.masking_label.text() == ""
    # a photo far from the first is shown from its cached mask, without running the model
    far = docs[-1]
    assert far.image is None  # surveyed, not kept in memory
    calls = []
    segmenter = window.masks.segmenter
    original = segmenter.predict_lowres  # the model's pass (the editor's masks are made as the batch's)
    segmenter.predict_lowres = lambda rgbs: calls.append(1) or original(rgbs)
    with qtbot.waitSignal(window.mask_ready, timeout=MASK_TIMEOUT_MS, check_params_cb=lambda d: d is far):
        window.filmstrip.select(far)
    assert far.ready and calls == []


def test_painting_holds_the_background_masking(qtbot, make_window, tmp_path):
    window = make_window()
    window.open_paths([_shoot(tmp_path)])
    qtbot.waitUntil(lambda: window.current is not None and window.current.ready, timeout=MASK_TIMEOUT_MS)
    window.masks.hold(60)  # what a mouse press on the canvas does (for 1.5 s)
    qtbot.wait(300)
    # the one job that may have been running before the hold finishes; none starts after it
    qtbot.waitUntil(lambda: window.masks._running is None, timeout=MASK_TIMEOUT_MS)
    surveyed = sum(doc.surveyed for doc in window.docs)
    qtbot.wait(1500)
    assert sum(doc.surveyed for doc in window.docs) == surveyed < 4
    assert "to do" in window.filmstrip_panel.masking_label.text()


def test_quick_export_names_like_export_all_and_the_batch_without_a_dialog(qtbot, make_window, tmp_path):
    shoot = _shoot(tmp_path)
    window = make_window()
    window.state.export = ExportOptions(naming="{stem}_cutout")
    docs = _open_shoot(qtbot, window, shoot)
    first = docs[0]
    with qtbot.waitSignal(window.export_finished, timeout=MASK_TIMEOUT_MS):
        _key(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    out = shoot / "cutouts"
    planned = {job.source.resolve(): job.output for job in plan_outputs([shoot], out, window.state.export).jobs}
    assert first.output_path == planned[first.path.resolve()]
    assert first.output_path.relative_to(out).as_posix() == f"{first.path.parent.name}/{first.path.stem}_cutout.png"
    assert first.status is DocStatus.EXPORTED and first.finished
    # again, after a stroke: its own output is replaced without asking
    window.exports.ask_overwrite = lambda existing, **_: pytest.fail(f"asked about its own output {existing}")
    before = first.output_path.stat().st_mtime_ns
    h, w = first.image.rgb.shape[:2]
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        window.view.stroke("bg", [(w * 0.05, h * 0.05), (w * 0.1, h * 0.06)], 8.0)
    assert first.status is DocStatus.EDITED and not first.finished
    with qtbot.waitSignal(window.export_finished, timeout=MASK_TIMEOUT_MS):
        window.actions_.export.trigger()
    assert first.output_path.stat().st_mtime_ns > before and first.status is DocStatus.EXPORTED
    # Export all writes the others under the same plan, without asking about the first's file
    # (up to date: left as quick export wrote it)
    written = first.output_path.stat().st_mtime_ns
    with qtbot.waitSignal(window.export_finished, timeout=4 * MASK_TIMEOUT_MS):
        window.export_all(out)
    assert first.output_path.stat().st_mtime_ns == written
    for doc in docs:
        assert doc.output_path == planned[doc.path.resolve()] and doc.output_path.is_file()
    assert len(list(out.rglob("*.png"))) == 4
    # a stroke on an exported photo: Export all replaces its (own, outdated) output, unasked
    second = docs[1]
    window.filmstrip.select(second)
    qtbot.waitUntil(lambda: second.ready, timeout=MASK_TIMEOUT_MS)
    h, w = second.image.rgb.shape[:2]
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        window.view.stroke("bg", [(w * 0.05, h * 0.05), (w * 0.1, h * 0.06)], 8.0)
    before_second = second.output_path.stat().st_mtime_ns
    with qtbot.waitSignal(window.export_finished, timeout=4 * MASK_TIMEOUT_MS):
        window.export_all(out)
    assert second.output_path.stat().st_mtime_ns > before_second and second.status is DocStatus.EXPORTED
    assert first.output_path.stat().st_mtime_ns == written


def test_a_file_that_is_not_the_photos_own_output_is_replaced_only_when_the_user_says_so(
    qtbot, make_window, tmp_path
):
    shoot = _shoot(tmp_path)
    window = make_window()
    docs = _open_shoot(qtbot, window, shoot)
    target = shoot / "cutouts" / docs[0].path.parent.name / f"{docs[0].path.stem}.png"
    target.parent.mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(target)
    asked = []
    window.exports.ask_overwrite = lambda existing, **_: asked.append(existing) or "cancel"
    assert not window.exports.quick_export()
    assert asked == [[target]] and Image.open(target).size == (8, 8)


def test_the_filmstrip_tells_folders_apart_filters_and_counts(qtbot, make_window, tmp_path):
    window = make_window()
    docs = _open_shoot(qtbot, window, _shoot(tmp_path))
    rows = {doc.path.relative_to(tmp_path / "shoot").as_posix(): window.filmstrip.row_text(doc) for doc in docs}
    assert rows["day1/shoe.jpg"].startswith("day1/shoe.jpg\n") and rows["day2/shoe.jpg"].startswith("day2/shoe.jpg\n")
    assert rows["day1/bag.jpg"].startswith("bag.jpg\n")  # a unique name stays short
    assert window.filmstrip_panel.progress_label.text() == "0 of 4 finished"
    _key(window, Qt.Key.Key_A)  # accept and next
    assert docs[0].status is DocStatus.FINISHED and window.current is docs[1]
    assert window.filmstrip_panel.progress_label.text() == "1 of 4 finished"
    window.filmstrip_panel.filter_combo.setCurrentText("Unfinished")
    hidden = [window.filmstrip.item(row).isHidden() for row in range(window.filmstrip.count())]
    assert hidden == [True, False, False, False]
    window.filmstrip_panel.filter_combo.setCurrentText("All photos")
    docs[2].status, docs[2].message = DocStatus.FAILED, "lamp.jpg: cannot decode"
    window.filmstrip.refresh(docs[2])
    item = window.filmstrip.item(2)
    assert "cannot decode" in item.toolTip() and "failed" in item.text()
    window.filmstrip_panel.filter_combo.setCurrentText("Failed")
    assert [window.filmstrip.item(r).isHidden() for r in range(4)] == [True, False, False, True]  # current stays


def test_accept_and_next_and_unfinished_navigation_by_keyboard(qtbot, make_window, tmp_path):
    window = make_window()
    docs = _open_shoot(qtbot, window, _shoot(tmp_path))
    _key(window, Qt.Key.Key_N)  # next unfinished
    assert window.current is docs[1]
    qtbot.waitUntil(lambda: docs[1].ready, timeout=MASK_TIMEOUT_MS)
    _key(window, Qt.Key.Key_A)
    assert docs[1].status is DocStatus.FINISHED and window.current is docs[2]
    _key(window, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)  # previous unfinished skips docs[1]
    assert window.current is docs[0]
    # the shortcuts dialog lists the flow with its keys
    dialog = window.show_shortcuts()
    rows = {what: keys for _group, keys, what in dialog.rows}
    assert rows.get("Accept and next", "").startswith("A") and rows.get("Next unfinished") == "N"
    assert rows.get("Export photo", "").startswith("Ctrl+S") and rows.get("Export photo as") == "Ctrl+Alt+S"


def test_edge_settings_belong_to_each_photo_and_apply_to_all_unfinished(qtbot, make_window, tmp_path):
    window = make_window()
    docs = _open_shoot(qtbot, window, _shoot(tmp_path))
    window.tools.feather_spin.setValue(2.5)
    assert docs[0].edges is not None and docs[0].edges.feather == 2.5
    window.filmstrip.select(docs[1])
    qtbot.waitUntil(lambda: docs[1].ready, timeout=MASK_TIMEOUT_MS)
    assert window.state.edges.feather == 0.0 and docs[1].edges is None  # its own: the shoot's default
    window.filmstrip.select(docs[0])
    assert window.tools.feather_spin.value() == 2.5
    # exported, then the edge changed: the photo is changed again (its output does not show it)
    with qtbot.waitSignal(window.export_finished, timeout=MASK_TIMEOUT_MS):
        window.exports.quick_export()
    assert docs[0].status is DocStatus.EXPORTED
    window.tools.shift_spin.setValue(-2.0)
    assert docs[0].status is DocStatus.EDITED
    # apply to all unfinished: the others (even those not in memory) and the shoot default
    window.actions_.apply_edges.trigger()
    assert all(doc.edges == window.state.edges for doc in docs)
    assert window.shoot.shoot.edges == window.state.edges
    # a photo not in memory has its edges saved, its strokes (none) untouched
    far = docs[-1]
    qtbot.waitUntil(lambda: SessionStore().load(content_key(far.path)) is not None, timeout=5000)
    assert SessionStore().load(content_key(far.path)).edges == window.state.edges


def test_reopening_the_shoot_brings_back_every_photo_with_its_state(qtbot, make_window, tmp_path):
    shoot = _shoot(tmp_path)
    first = make_window()
    first.confirm_quit = lambda risks: True
    docs = _open_shoot(qtbot, first, shoot)
    first.tools.feather_spin.setValue(1.5)
    h, w = docs[0].image.rgb.shape[:2]
    with qtbot.waitSignal(first.view_updated, timeout=MASK_TIMEOUT_MS):
        first.view.stroke("bg", [(w * 0.05, h * 0.05), (w * 0.1, h * 0.06)], 8.0)
    _key(first, Qt.Key.Key_A)  # photo 1 finished, photo 2 on screen
    qtbot.waitUntil(lambda: docs[1].ready, timeout=MASK_TIMEOUT_MS)
    with qtbot.waitSignal(first.export_finished, timeout=MASK_TIMEOUT_MS):
        first.exports.quick_export()
    first.close()

    second = make_window()
    recent = second.shoot.store.recent()
    assert recent and recent[0].folder == shoot.absolute()
    again = _open_shoot(qtbot, second, shoot)
    by_path = {doc.path: doc for doc in again}
    one, two = by_path[docs[0].path], by_path[docs[1].path]
    assert one.status is DocStatus.FINISHED and one.edges is not None and one.edges.feather == 1.5
    assert two.status is DocStatus.EXPORTED and two.output_path == docs[1].output_path
    assert second.filmstrip_panel.progress_label.text() == "2 of 4 finished"
    # photo 1 (on screen first) came back with its strokes replayed and its edges on the panel
    assert second.current is one and one.ready
    assert len(one.history.done) == 1 and one.status is DocStatus.FINISHED and second.state.edges.feather == 1.5


def test_a_photo_accepted_before_autosave_wrote_it_stays_finished_when_it_loads(qtbot, make_window, tmp_path):
    """The review accepts photos not in memory; loading one at once (before the half-second
    autosave) restored its older record's "edited" over the acceptance."""
    shoot = _shoot(tmp_path)
    far_path = sorted(shoot.rglob("*.jpg"))[-1]
    size = Image.open(far_path).size
    stroke = Step("bg", ((5.0, 5.0), (20.0, 6.0)), 4.0)
    SessionStore().save(SessionRecord(content_key(far_path), str(far_path), size, History((stroke,)), None, "edited"))
    window = make_window()
    docs = _open_shoot(qtbot, window, shoot)
    far = next(doc for doc in docs if doc.path == far_path)
    assert far.status is DocStatus.EDITED and far.image is None
    far.status = DocStatus.FINISHED  # what the review's A does
    far.notify_changed()
    window.filmstrip.select(far)
    qtbot.waitUntil(lambda: far.ready, timeout=MASK_TIMEOUT_MS)
    assert far.status is DocStatus.FINISHED and len(far.history.done) == 1


def test_edges_given_to_photos_not_yet_surveyed_are_kept_and_saved(qtbot, make_window, tmp_path):
    """"Apply to all unfinished" reached photos whose key was not known yet: their edges were
    never saved, and a saved record's edges replaced them when the survey got there."""
    shoot = _shoot(tmp_path)
    far_path = sorted(shoot.rglob("*.jpg"))[-1]
    SessionStore().save(SessionRecord(content_key(far_path), str(far_path), (0, 0), History(), None, "masked",
                                      edges=EdgeOptions(feather=4.0)))
    window = make_window()
    window.open_paths([shoot])
    window.masks.hold(600)  # no survey starts: the far photo stays unknown for now
    qtbot.waitUntil(lambda: window.current is not None and window.current.ready, timeout=MASK_TIMEOUT_MS)
    far = next(doc for doc in window.docs if doc.path == far_path)
    assert not far.surveyed and far.key is None
    window.tools.shift_spin.setValue(-2.0)
    window.actions_.apply_edges.trigger()
    assert far.edges == window.state.edges
    window.masks._hold_until = 0.0  # the painting is over
    window.masks._next()
    qtbot.waitUntil(lambda: far.surveyed, timeout=4 * MASK_TIMEOUT_MS)
    assert far.edges == window.state.edges  # not the record's feather of 4
    qtbot.waitUntil(lambda: SessionStore().load(content_key(far_path)).edges == window.state.edges, timeout=5000)
