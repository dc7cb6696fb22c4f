"""Issue 8, case 12: the editor never throws edits away (autosave, restore, asking before quitting)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from cutout_studio.core.session_store import SessionStore, content_key
from cutout_studio.qt.document import DocStatus
from cutout_studio.qt.workers import wait_detached
from tests.gui.conftest import MASK_TIMEOUT_MS, PERSON, TEDDY, open_and_wait_for_mask, shoot_folder

pytestmark = pytest.mark.gui


def _paint(qtbot, window, kind: str, fractions: list[tuple[float, float]], size: float = 15) -> None:
    """A real mouse drag on the canvas, waiting until its picture is shown."""
    canvas = window.canvas
    doc = window.current
    window.actions_.tools[kind].trigger()
    window.set_brush_size(size)
    h, w = doc.image.rgb.shape[:2]
    points = [canvas.mapFromScene(QPointF(w * fx, h * fy)) for fx, fy in fractions]
    viewport = canvas.viewport()
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[0])
        for point in points[1:]:
            QTest.mouseMove(viewport, point)
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[-1])


def _never_ask(risks) -> bool:
    pytest.fail(f"quitting asked although nothing could be lost: {risks}")


def test_a_stroke_still_queued_at_quit_after_an_export_is_saved_as_edited(qtbot, make_window, tmp_path):
    """Found by hand: export, paint, Ctrl+Q at once: after a relaunch the photo still said
    "exported", though the exported file predates the stroke."""
    window = make_window()
    window.confirm_quit = _never_ask
    doc = open_and_wait_for_mask(qtbot, window, TEDDY)
    with qtbot.waitSignal(window.export_finished, timeout=MASK_TIMEOUT_MS):
        assert window.export_current(tmp_path / "teddy.png")
    assert doc.status is DocStatus.EXPORTED
    h, w = doc.image.rgb.shape[:2]
    window.view.stroke("bg", [(w * 0.3, h * 0.8), (w * 0.35, h * 0.82)], 6.0)  # queued, not applied
    QTest.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    record = SessionStore().load(content_key(TEDDY))
    assert record is not None and len(record.history.done) == 1
    assert record.status == DocStatus.EDITED.value and record.output == str((tmp_path / "teddy.png").absolute())


def test_edits_come_back_after_closing_the_window_and_stay_undoable(qtbot, make_window, tmp_path):
    first = make_window()
    first.confirm_quit = _never_ask
    doc = open_and_wait_for_mask(qtbot, first, TEDDY)
    auto = np.array(doc.alpha)
    _paint(qtbot, first, "bg", [(0.55, 0.45), (0.6, 0.5), (0.66, 0.52)])
    _paint(qtbot, first, "fg", [(0.1, 0.1), (0.2, 0.12)], size=9)
    edited, labels = np.array(doc.alpha), np.array(doc.session.labels)
    assert not np.array_equal(edited, auto) and (labels == 1).any() and (labels == 2).any()
    # One more stroke, still queued when the window closes (Ctrl+Q right after the drag).
    h, w = doc.image.rgb.shape[:2]
    first.view.stroke("bg", [(w * 0.3, h * 0.8), (w * 0.35, h * 0.82)], 6.0)
    QTest.keyClick(first, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert not first.isVisible()
    record = SessionStore().load(content_key(TEDDY))
    assert record is not None and len(record.history.done) == 3 and record.size == (w, h)

    # A new window (a relaunch); the same photo, copied under another name, finds its edits.
    copy = tmp_path / "card" / "renamed.jpg"
    copy.parent.mkdir()
    shutil.copy(TEDDY, copy)
    second = make_window()
    second.confirm_quit = _never_ask
    again = open_and_wait_for_mask(qtbot, second, copy)
    assert again.status is DocStatus.EDITED and "edited" in second.filmstrip.row_text(again)
    assert len(again.history.done) == 3
    assert second.actions_.undo.isEnabled() and not second.actions_.redo.isEnabled()

    # Undo the stroke that was still queued: exactly the mask the first window showed.
    with qtbot.waitSignal(second.view_updated, timeout=MASK_TIMEOUT_MS):
        QTest.keyClick(second, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(again.alpha, edited)
    assert np.array_equal(np.array(again.session.labels), labels)
    for _ in range(2):
        with qtbot.waitSignal(second.view_updated, timeout=MASK_TIMEOUT_MS):
            QTest.keyClick(second, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(again.alpha, auto)
    assert again.status is DocStatus.MASKED and second.actions_.redo.isEnabled()
    second.close()

    # The undos were saved too: a third window shows the automatic mask, with three redos.
    third = make_window()
    restored = open_and_wait_for_mask(qtbot, third, TEDDY)
    assert np.array_equal(restored.alpha, auto) and len(restored.history.undone) == 3
    with qtbot.waitSignal(third.view_updated, timeout=MASK_TIMEOUT_MS):
        third.actions_.redo.trigger()
    assert (np.array(restored.session.labels) == 2).any()


def test_a_different_photo_never_inherits_edits(qtbot, make_window, tmp_path):
    first = make_window()
    open_and_wait_for_mask(qtbot, first, TEDDY)
    _paint(qtbot, first, "bg", [(0.55, 0.45), (0.66, 0.52)])
    first.close()
    # Same name, other content (PERSON copied over TEDDY's file name).
    impostor = tmp_path / TEDDY.name
    shutil.copy(PERSON, impostor)
    second = make_window()
    doc = open_and_wait_for_mask(qtbot, second, impostor)
    assert doc.status is DocStatus.MASKED and doc.history.empty and not doc.can_undo
    assert not np.array(doc.session.labels).any()


def test_quitting_asks_only_while_an_autosave_failed(qtbot, make_window, gui_home):
    sessions = gui_home / "data" / "sessions"
    sessions.parent.mkdir(parents=True, exist_ok=True)
    sessions.write_text("a file where the store's folder should be")  # every save fails
    window = make_window()
    asked: list[list[str]] = []
    window.confirm_quit = lambda risks: asked.append(list(risks)) or False
    open_and_wait_for_mask(qtbot, window, TEDDY)
    window.close()
    assert asked == []  # nothing edited, nothing to lose: no question

    # (make_window's window was closed: open a fresh one on the same photo)
    window = make_window()
    window.confirm_quit = lambda risks: asked.append(list(risks)) or False
    open_and_wait_for_mask(qtbot, window, TEDDY)
    _paint(qtbot, window, "bg", [(0.55, 0.45), (0.66, 0.52)])
    qtbot.waitUntil(lambda: bool(window.autosave.errors), timeout=10_000)  # the debounced save failed
    assert "Could not autosave the edits of" in window.statusBar().currentMessage()
    window.close()
    assert len(asked) == 1 and TEDDY.name in asked[0][0] and "edits not saved" in asked[0][0]
    assert window.isVisible()  # "No": the window stays, the edits with it

    sessions.unlink()  # the disk is fixed: the close saves them and does not ask
    window.close()
    assert len(asked) == 1 and not window.isVisible()
    assert SessionStore().load(content_key(TEDDY)) is not None


def test_closing_asks_before_cancelling_a_running_batch(qtbot, make_window, tmp_path):
    folder = shoot_folder(tmp_path, {TEDDY.name: TEDDY, PERSON.name: PERSON})
    window = make_window()
    qtbot.waitUntil(lambda: window.masks.segmenter is not None, timeout=MASK_TIMEOUT_MS)
    asked: list[list[str]] = []
    window.confirm_quit = lambda risks: asked.append(list(risks)) or False
    dialog = window.run_batch_on([folder], tmp_path / "out")
    assert dialog.running
    window.close()
    assert len(asked) == 1 and "batch is running" in asked[0][0]
    assert window.isVisible() and dialog.running  # "No": the batch goes on

    window.confirm_quit = lambda risks: asked.append(list(risks)) or True
    window.close()
    assert len(asked) == 2 and not window.isVisible()
    assert dialog._job.is_cancelled  # "Yes": the batch was told to stop
    assert wait_detached(MASK_TIMEOUT_MS)  # and it does (photos in progress are finished)


def test_quitting_during_a_batch_ends_its_report_with_the_cancelled_line(qtbot, make_window, tmp_path):
    """Issue 8 case 8 in the editor: quitting during a batch left a report with a row per output
    but no "cancelled, N not processed" line: the process exited 1.5 s after the window closed,
    while the cancelled run was still finishing its photos in progress (3-4 s each here)."""
    from cutout_studio.qt.app import wait_for_workers

    folder = tmp_path / "shoot"
    folder.mkdir()
    photos = sorted(TEDDY.parent.glob("*.jpg"))
    assert len(photos) >= 8
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    window = make_window()
    qtbot.waitUntil(lambda: window.masks.segmenter is not None, timeout=MASK_TIMEOUT_MS)
    dialog = window.run_batch_on([folder], tmp_path / "out")
    qtbot.waitUntil(lambda: len(dialog.results) >= 1, timeout=MASK_TIMEOUT_MS)
    window.confirm_quit = lambda risks: True  # "Yes, quit"
    window.close()
    assert not window.isVisible()
    assert wait_for_workers(window)  # what run_gui does once the event loop has returned

    rows = list(csv.reader((tmp_path / "out" / "cutout-report.csv").open(encoding="utf-8")))
    outputs = sorted((tmp_path / "out").glob("*.png"))
    assert 1 <= len(outputs) < len(photos)
    output = rows[0].index("output")
    assert sorted(Path(row[output]) for row in rows[1:-1] if row[1] in ("done", "warning")) == outputs  # every output has its row
    assert rows[-1][:2] == ["", "cancelled"]
    assert rows[-1][3] == f"cancelled, {len(photos) - len(outputs)} not processed"


def test_the_editor_process_ends_cleanly_on_sigterm(model_home, tmp_path):
    """Issue 8 case 14: after Ctrl+Q the window went in 0.4 s but the process lingered 4-8 s
    tearing torch's modules down. Quitting (here by SIGTERM, which closes the window as Quit
    does) saves everything, then the process ends without that teardown, with status 0."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(model_home / "models", target_is_directory=True)
    env = {**os.environ, "CUTOUT_STUDIO_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen([sys.executable, "-m", "cutout_studio", "gui", str(TEDDY)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = home / "logs" / "cutout-studio.log"
    try:
        deadline = time.monotonic() + MASK_TIMEOUT_MS / 1000
        while not (log.is_file() and "model u2netp ready" in log.read_text(encoding="utf-8")):
            assert proc.poll() is None and time.monotonic() < deadline, "the editor did not load the model"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "Traceback" not in output
    settings = json.loads((home / "config" / "settings.json").read_text(encoding="utf-8"))
    assert settings["last_open_dir"] == str(TEDDY.parent)
    assert (home / "config" / "window.ini").is_file()


def test_closing_asks_while_an_export_runs_and_edge_settings_are_saved_without_closing(
    qtbot, make_window, tmp_path
):
    window = make_window()
    open_and_wait_for_mask(qtbot, window, TEDDY)
    # Edge settings are the photo's: autosaved with its edits soon after a change, so a crash
    # does not lose them.
    window.tools.feather_spin.setValue(1.5)

    def saved_feather() -> float | None:
        record = SessionStore().load(content_key(TEDDY))
        return record.edges.feather if record is not None and record.edges is not None else None

    qtbot.waitUntil(lambda: saved_feather() == 1.5, timeout=5000)

    asked: list[str] = []

    def answer_no() -> None:  # the real question box, answered "No"
        box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
        asked.append(box.text())
        box.button(QMessageBox.StandardButton.No).click()

    with qtbot.waitSignal(window.export_finished, timeout=MASK_TIMEOUT_MS):
        assert window.export_current(tmp_path / "bear.png")
        QTimer.singleShot(100, answer_no)
        window.close()  # in the same turn of the event loop: the export is certainly running
        assert len(asked) == 1 and "export is running" in asked[0] and window.isVisible()
    window.confirm_quit = _never_ask
    window.close()  # the export is done (and its state saved): nothing to ask
    assert not window.isVisible()
    record = SessionStore().load(content_key(TEDDY))
    assert record is not None and record.output == str(tmp_path / "bear.png") and record.status == "exported"
    # A relaunch knows the photo was exported, and where to.
    again = open_and_wait_for_mask(qtbot, make_window(), TEDDY)
    assert again.status is DocStatus.EXPORTED and again.output_path == tmp_path / "bear.png"
