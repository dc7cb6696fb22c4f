"""Dropping a folder on the window runs the core batch with per-file status and reasons."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from cutout_studio.qt.document import DocStatus
from tests.gui.conftest import MASK_TIMEOUT_MS, PERSON, TEDDY

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
    folder = tmp_path / "shoot"
    folder.mkdir()
    shutil.copy(TEDDY, folder / "bear.jpg")
    shutil.copy(PERSON, folder / "person.jpg")
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
