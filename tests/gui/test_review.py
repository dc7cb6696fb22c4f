"""Issue 12, item 3: worst-first review in the editor (the confidence of each photo, the filmstrip
sorted worst first, the review grid driven by real key events)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from cutout_studio.qt.document import DocStatus
from cutout_studio.qt.review import REVIEW_SIDE, ReviewDialog
from tests.gui.conftest import MASK_TIMEOUT_MS, PERSON, TEDDY

pytestmark = pytest.mark.gui
DATA = Path(__file__).resolve().parents[1] / "data"
PHOTOS = {
    "a-teddy.jpg": TEDDY,
    "b-person.jpg": PERSON,
    "c-hydrant.jpg": DATA / "objects-coco__fire_hydrant02_000000020107.jpg",
    "d-tv.jpg": DATA / "objects-coco__tv02_000000063740.jpg",
    "e-davis.jpg": DATA / "davis__davis032.jpg",
    "f-scissors.jpg": DATA / "objects-coco__scissors02_000000348012.jpg",
}


def _open_shoot(qtbot, window, tmp_path: Path):
    folder = tmp_path / "shoot"
    if not folder.is_dir():
        folder.mkdir()
        for name, source in PHOTOS.items():
            shutil.copy(source, folder / name)
    window.open_paths([folder])
    qtbot.waitUntil(lambda: window.current is not None and window.current.ready, timeout=MASK_TIMEOUT_MS)
    qtbot.waitUntil(lambda: all(d.surveyed and d.confidence is not None for d in window.docs),
                    timeout=4 * MASK_TIMEOUT_MS)
    return window.docs


def _rows(window) -> list[str]:
    strip = window.filmstrip
    return [strip.item(row).text().split("\n")[0] for row in range(strip.count())]


def test_filmstrip_sorts_worst_first_and_the_shoot_keeps_its_order(qtbot, make_window, tmp_path):
    window = make_window()
    docs = _open_shoot(qtbot, window, tmp_path)
    names = [d.name for d in docs]
    assert names == sorted(PHOTOS)
    confidences = {d.name: d.confidence for d in docs}
    assert all(0.0 <= c <= 1.0 for c in confidences.values())
    assert len(set(confidences.values())) > 1  # real photos differ
    first = window.current
    tip = window.filmstrip.item(0).toolTip()
    assert f"Confidence: {first.confidence:.2f}" in tip

    panel = window.filmstrip_panel
    panel.sort_combo.setCurrentText("Sort: worst first")
    worst_first = sorted(names, key=lambda n: confidences[n])
    assert _rows(window) == worst_first
    assert [d.name for d in window.docs] == names  # navigation order untouched
    assert window.current is first and window.filmstrip.currentItem().text().startswith(first.name)
    # N (next unfinished) follows the shoot's order, not the rows'
    window.canvas.setFocus()
    QTest.keyClick(window.canvas, Qt.Key.Key_N)
    assert window.current is docs[1]
    panel.sort_combo.setCurrentText("Sort: folder order")
    assert _rows(window) == names

    # reopened worst first: each confidence is read back from the mask cache (the same numbers)
    # and the rows take their places as the confidences arrive
    window.close()
    again = make_window()
    again.filmstrip_panel.sort_combo.setCurrentText("Sort: worst first")
    _open_shoot(qtbot, again, tmp_path)
    assert {d.name: d.confidence for d in again.docs} == pytest.approx(confidences, abs=1e-6)
    assert _rows(again) == worst_first and [d.name for d in again.docs] == names


def test_review_grid_accepts_opens_and_moves_with_real_keys(qtbot, make_window, tmp_path):
    window = make_window()
    docs = _open_shoot(qtbot, window, tmp_path)
    window.canvas.setFocus()
    QTest.keyClick(window.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    dialog = window.findChild(ReviewDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)  # the review has the keys
    order = sorted(docs, key=lambda d: d.confidence)
    assert dialog.docs == order and dialog.current_document() is order[0]
    qtbot.waitUntil(lambda: dialog.pending_thumbnails == 0, timeout=MASK_TIMEOUT_MS)
    for row in range(dialog.grid.count()):
        icon = dialog.grid.item(row).icon().pixmap(REVIEW_SIDE, REVIEW_SIDE)
        assert not icon.isNull() and max(icon.width(), icon.height()) == REVIEW_SIDE
    if os.environ.get("REVIEW_SCREENSHOT"):  # docs/images/review-mode.png is made this way
        dialog.grab().save(os.environ["REVIEW_SCREENSHOT"])

    QTest.keyClick(dialog.grid, Qt.Key.Key_A)  # accept the worst: finished, the next one selected
    assert order[0].status is DocStatus.FINISHED and dialog.current_document() is order[1]
    assert window.filmstrip_panel.progress_label.text() == f"1 of {len(docs)} finished"
    QTest.keyClick(dialog.grid, Qt.Key.Key_N)  # next unreviewed, nothing accepted
    assert dialog.current_document() is order[2] and order[1].status is not DocStatus.FINISHED
    QTest.keyClick(dialog.grid, Qt.Key.Key_Right)  # arrows move in the grid
    assert dialog.current_document() is order[3]

    QTest.keyClick(dialog.grid, Qt.Key.Key_Return)  # open it to fix: the review steps aside
    assert not dialog.isVisible() and window.current is order[3]
    qtbot.waitUntil(lambda: order[3].ready, timeout=MASK_TIMEOUT_MS)

    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)  # the editor has the keys again
    window.canvas.setFocus()  # back to the review: what is left, worst first
    QTest.keyClick(window.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert dialog.isVisible() and dialog.docs == order[1:], [(d.name, d.confidence, d.status) for d in order]
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    # accepting every photo left ends the review
    for _ in order[1:]:
        QTest.keyClick(dialog.grid, Qt.Key.Key_A)
    assert all(d.status is DocStatus.FINISHED for d in docs), [(d.name, d.status, d.message) for d in docs]
    assert dialog.status.text().startswith("0 to review")
