"""File › Export as… (issue 13, items 3 and 5): the marketplace check shown as quick export shows
it (one code path: the batch's write_job), and the clipping path's SVG following the name the
user picked."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cutout_studio.core.export import ExportOptions
from cutout_studio.core.export.clip_path import is_our_svg
from cutout_studio.core.export.presets import preset_values
from cutout_studio.qt.document import DocStatus
from tests.gui.conftest import MASK_TIMEOUT_MS, TEDDY, open_and_wait_for_mask


def _export_as(qtbot, window, dest) -> list:
    with qtbot.waitSignal(window.export_finished, timeout=MASK_TIMEOUT_MS) as blocker:
        assert window.export_current(dest)
    return blocker.args


def test_export_as_shows_the_marketplace_check(qtbot, make_window, tmp_path):
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, TEDDY)
    window.state.export = ExportOptions(**preset_values("amazon"))
    assert _export_as(qtbot, window, tmp_path / "teddy.jpg") == [1, False]
    # written, and what fails is said: on the photo's row and on the status line
    assert (tmp_path / "teddy.jpg").is_file()
    assert doc.status is DocStatus.WARNING
    assert "Amazon: resolution too low: " in doc.message and "not upscaled" in doc.message
    assert "Amazon: resolution too low" in window.filmstrip.row_text(doc)
    status = window.statusBar().currentMessage()
    assert status.startswith(f"Exported {tmp_path / 'teddy.jpg'} · Amazon: resolution too low"), status
    # the same line quick export gives (the same function writes both)
    window.shoot.set_output_dir(tmp_path / "quick")
    with qtbot.waitSignal(window.export_finished, timeout=MASK_TIMEOUT_MS):
        assert window.exports.quick_export()
    assert window.statusBar().currentMessage().endswith(status.split(" · ", 1)[1])


def test_export_as_puts_the_clipping_path_beside_the_name_chosen(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window()
    open_and_wait_for_mask(qtbot, window, TEDDY)
    window.state.export = dataclasses.replace(window.state.export, clip_path=True)
    errors: list[str] = []
    window.exports.failed.connect(errors.append)
    assert _export_as(qtbot, window, tmp_path / "a.png") == [1, False]
    ours = (tmp_path / "a.svg").read_text()
    assert is_our_svg(tmp_path / "a.svg")

    # a new name beside one of our own outdated sidecars: it follows the new output
    (tmp_path / "b.svg").write_text(ours.replace('width="', 'width="9', 1))
    assert _export_as(qtbot, window, tmp_path / "b.png") == [1, False]
    assert (tmp_path / "b.png").is_file() and (tmp_path / "b.svg").read_text() == ours and not errors

    # someone's own c.svg beside a new name: one line naming it, nothing written
    (tmp_path / "c.svg").write_text("<svg>my drawing</svg>")
    assert _export_as(qtbot, window, tmp_path / "c.png") == [0, False]
    assert not (tmp_path / "c.png").exists() and (tmp_path / "c.svg").read_text() == "<svg>my drawing</svg>"
    assert len(errors) == 1 and errors[0].startswith("Nothing was exported: c.svg: is in the way of c.png's")

    # the user picks c.png in the save dialog and confirms replacing it: its sidecar goes with it
    (tmp_path / "c.png").write_bytes(b"an older file the user chose to replace")
    monkeypatch.setattr("cutout_studio.qt.exporting.QFileDialog.getSaveFileName",
                        lambda parent, caption, default: (str(tmp_path / "c.png"), ""))
    assert _export_as(qtbot, window, None) == [1, False]
    assert (tmp_path / "c.svg").read_text() == ours and len(errors) == 1



def test_the_proposed_folder_exists_when_the_save_dialog_opens(qtbot, make_window, tmp_path, monkeypatch):
    """Found by hand: the proposal was the shoot's "cutouts" folder before any export had made it;
    Qt's file dialog then opened in the working folder, where Save would have written."""
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    (shoot / "teddy.jpg").write_bytes(TEDDY.read_bytes())
    window = make_window()
    open_and_wait_for_mask(qtbot, window, shoot / "teddy.jpg")
    proposals: list[tuple[str, bool]] = []

    def dialog(parent, caption, default):  # answered "cancel"
        proposals.append((default, Path(default).parent.is_dir()))
        return "", ""

    monkeypatch.setattr("cutout_studio.qt.exporting.QFileDialog.getSaveFileName", dialog)
    assert not window.export_current()
    (default, folder_there), = proposals
    assert folder_there and Path(default).parent != Path.cwd()
    assert not Path(default).parent.exists()  # cancelled: the empty folder made for it is gone
