"""Dropping a folder on the window runs the core batch with per-file status and reasons."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QApplication

from cutout_studio.qt.document import DocStatus
from tests.gui.conftest import MASK_TIMEOUT_MS, PERSON, TEDDY, shoot_folder

pytestmark = pytest.mark.gui


def _drop(window, paths) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter, drop = (
        kind(
            QPointF(window.rect().center()),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        for kind in (QDragEnterEvent, QDropEvent)
    )
    QApplication.sendEvent(window, enter)
    QApplication.sendEvent(window, drop)
    return enter.isAccepted() and drop.isAccepted()


def test_dropping_a_folder_runs_the_batch_and_reports_every_file(qtbot, make_window, tmp_path):
    folder = shoot_folder(tmp_path, {"bear.jpg": TEDDY, "person.jpg": PERSON})
    (folder / "broken.jpg").write_bytes(TEDDY.read_bytes()[:300])  # cut off inside the header

    window = make_window()
    # The batch needs the model: let the window load it first.
    qtbot.waitUntil(lambda: window.masks.segmenter is not None, timeout=MASK_TIMEOUT_MS)

    assert _drop(window, [folder])
    dialog = window.batch_dialog
    assert dialog is not None and dialog.isVisible() and dialog.running
    with qtbot.waitSignal(dialog.finished_batch, timeout=3 * MASK_TIMEOUT_MS) as blocker:
        pass
    summary = blocker.args[0]
    assert (summary.done, summary.failed, summary.skipped) == (2, 1, 0)

    by_name = {r.source.name: r for r in dialog.results}
    assert set(by_name) == {"bear.jpg", "person.jpg", "broken.jpg"}
    broken = by_name["broken.jpg"]
    assert broken.status == "failed" and "broken.jpg" in broken.message and broken.output is None
    for name in ("bear.jpg", "person.jpg"):
        result = by_name[name]
        assert result.status == "done"
        with Image.open(result.output) as im:
            assert im.mode == "RGBA"
            alpha = np.asarray(im.getchannel("A"))
        assert alpha.min() == 0 and alpha.max() == 255
    assert (folder / "cutouts" / "cutout-report.csv").is_file()

    # The table shows each file's status, the failure with its reason.
    rows = {
        dialog.table.item(r, 0).text(): (dialog.table.item(r, 1).text(), dialog.table.item(r, 3).text())
        for r in range(dialog.table.rowCount())
    }
    assert rows["broken.jpg"][0] == "failed" and rows["broken.jpg"][1] == broken.message
    assert rows["bear.jpg"][0] == "done"
    assert dialog.progress.value() == dialog.progress.maximum() == 3

    # Failures open in the editor to be looked at; the broken photo says why it failed.
    dialog.open_failed_button.click()
    assert [doc.path.name for doc in window.docs] == ["broken.jpg"]
    doc = window.docs[0]
    assert window.current is doc
    qtbot.waitUntil(lambda: doc.status is DocStatus.FAILED, timeout=MASK_TIMEOUT_MS)
    assert "broken.jpg" in doc.message
    assert "failed" in window.filmstrip.row_text(doc)


def test_export_all_gives_same_named_photos_of_a_camera_card_their_own_files(qtbot, make_window, tmp_path):
    """Issue 8 case 1 in the editor: a/IMG_0002.jpg and b/IMG_0002.jpg said "Exported 2 file(s)"
    and left one file on disk."""
    card = tmp_path / "DCIM"
    for folder, photo in (("100CANON", TEDDY), ("101CANON", PERSON)):
        (card / folder).mkdir(parents=True)
        shutil.copy(photo, card / folder / "IMG_0002.jpg")
    window = make_window()
    qtbot.waitUntil(lambda: window.masks.segmenter is not None, timeout=MASK_TIMEOUT_MS)
    window.open_paths([card])
    out = tmp_path / "exports"
    with qtbot.waitSignal(window.export_finished, timeout=3 * MASK_TIMEOUT_MS) as blocker:
        assert window.export_all(out)
    assert blocker.args == [2, False]
    written = sorted(out.rglob("*.png"))
    assert len(written) == 2
    sizes = {Image.open(p).size for p in written}
    assert sizes == {Image.open(TEDDY).size, Image.open(PERSON).size}  # one cutout of each photo
    assert {doc.output_path for doc in window.docs} == set(written)


def test_open_folder_leaves_out_an_earlier_batchs_cutouts(qtbot, make_window, tmp_path):
    """Issue 8 case 4 in the editor: Open Folder took an earlier batch's cutouts/ for photos."""
    from cutout_studio.core.batch import run_batch_to_end
    from cutout_studio.core.export import ExportOptions

    folder = shoot_folder(tmp_path, {"bear.jpg": TEDDY})
    window = make_window()
    qtbot.waitUntil(lambda: window.masks.segmenter is not None, timeout=MASK_TIMEOUT_MS)
    summary = run_batch_to_end([folder], folder / "cutouts", ExportOptions(), segmenter=window.masks.segmenter)
    assert summary.done == 1 and (folder / "cutouts" / "bear.png").is_file()
    window.open_paths([folder])
    assert [doc.path.name for doc in window.docs] == ["bear.jpg"]


def test_an_empty_result_is_a_warning_in_the_filmstrip(qtbot, make_window, tmp_path):
    """Issue 8 case 10 in the editor: a 3x3 photo was "exported" with a fully transparent result."""
    tiny = tmp_path / "tiny.png"
    Image.open(TEDDY).resize((3, 3)).save(tiny)
    window = make_window()
    qtbot.waitUntil(lambda: window.masks.segmenter is not None, timeout=MASK_TIMEOUT_MS)
    window.open_paths([tiny])
    with qtbot.waitSignal(window.export_finished, timeout=MASK_TIMEOUT_MS):
        assert window.export_all(tmp_path / "out")
    doc = window.docs[0]
    assert doc.status is DocStatus.WARNING and (tmp_path / "out" / "tiny.png").is_file()
    assert "check it" in window.filmstrip.row_text(doc) and "only 3x3 px" in window.filmstrip.row_text(doc)


def test_batch_window_starts_empty_for_a_new_folder_and_ctrl_q_quits_from_it(qtbot, make_window, tmp_path):
    """Issue 8 case 14: the Batch window showed the previous run's table and summary for a new
    folder; Ctrl+Q did nothing while it had the focus."""
    from PySide6.QtTest import QTest

    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
    shutil.copy(TEDDY, first / "bear.jpg")
    window = make_window()
    qtbot.waitUntil(lambda: window.masks.segmenter is not None, timeout=MASK_TIMEOUT_MS)
    dialog = window.run_batch_on([first])
    with qtbot.waitSignal(dialog.finished_batch, timeout=MASK_TIMEOUT_MS):
        pass
    assert dialog.table.rowCount() == 1 and "1 done" in dialog.summary_label.text()
    assert dialog.redo_button.isHidden()

    # other settings on the same folder: the output is kept and counted, and a button redoes it
    from cutout_studio.core.export import ExportOptions

    dialog.configure([first], None, ExportOptions(crop=True), lambda: window.masks.segmenter)
    with qtbot.waitSignal(dialog.finished_batch, timeout=MASK_TIMEOUT_MS) as blocker:
        dialog.start()
    assert blocker.args[0].stale == 1 and "Redo outdated" in dialog.summary_label.text()
    assert not dialog.redo_button.isHidden()
    with qtbot.waitSignal(dialog.finished_batch, timeout=MASK_TIMEOUT_MS) as blocker:
        dialog.redo_button.click()
    assert blocker.args[0].done == 1 and blocker.args[0].stale == 0

    window.run_batch_on([second], start=False)
    assert dialog.table.rowCount() == 0 and dialog.summary_label.text() == "" and dialog.results == []

    # Ctrl+Q is Quit's key on Linux desktops; the offscreen test platform binds no key to it
    window.actions_.quit.setShortcut(QKeySequence("Ctrl+Q"))
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=5000)
    QTest.keyClick(dialog, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)


def test_closing_the_batch_window_keeps_the_running_batch_in_sight(qtbot, make_window, tmp_path):
    """Issue 8 case 12: Close during a batch hid it; it went on with no sign in the main window."""
    folder = shoot_folder(tmp_path, {TEDDY.name: TEDDY, PERSON.name: PERSON})
    window = make_window()
    qtbot.waitUntil(lambda: window.masks.segmenter is not None, timeout=MASK_TIMEOUT_MS)
    dialog = window.run_batch_on([folder], tmp_path / "out")
    assert dialog.running
    dialog.close_button.click()
    assert not dialog.isVisible() and dialog.running  # the batch goes on…
    indicator = dialog.indicator
    assert indicator.isVisible() and indicator.text() == "Batch: 0/2"  # …in the main window's status bar
    assert indicator.parent() is not None and indicator.window() is window

    indicator.click()  # it brings the Batch window back
    assert dialog.isVisible()
    dialog.close_button.click()
    with qtbot.waitSignal(dialog.finished_batch, timeout=3 * MASK_TIMEOUT_MS) as blocker:
        pass
    assert blocker.args[0].done == 2
    assert not indicator.isVisible()
    assert window.statusBar().currentMessage().startswith("Batch: 2 done")


def test_a_batch_set_up_while_the_model_loads_starts_once_it_is_there(qtbot, gui_home, tmp_path):
    """Issue 8 case 12: a folder chosen while the model was loading said "No segmentation model
    is installed" on Start, long after the model had arrived."""
    from cutout_studio.qt.main_window import MainWindow

    folder = shoot_folder(tmp_path, {"bear.jpg": TEDDY})
    window = MainWindow()
    qtbot.addWidget(window)
    window.confirm_quit = lambda risks: True
    # the model loads on a worker and arrives through the event loop: not yet here
    assert window.masks.segmenter is None
    dialog = window.run_batch_on([folder], start=False)
    qtbot.waitUntil(lambda: window.masks.segmenter is not None, timeout=MASK_TIMEOUT_MS)
    with qtbot.waitSignal(dialog.finished_batch, timeout=MASK_TIMEOUT_MS) as blocker:
        dialog.start_button.click()
    assert blocker.args[0].done == 1 and (folder / "cutouts" / "bear.png").is_file()
    window.close()
