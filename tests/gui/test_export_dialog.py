"""The export dialog only edits ExportOptions: its choices and ranges come from the schema."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.export import FORMATS, ExportOptions
from cutout_studio.core.export.options import PADDING_PERCENT_MAX
from cutout_studio.core.options import spec
from cutout_studio.qt.export_dialog import ExportSettingsDialog, describe


def test_choosing_jpeg_over_a_transparent_background_switches_it_to_white(qtbot):
    # case 13 (issue 8): the dialog used to accept JPEG + transparent, and exports then wrote nothing
    dialog = ExportSettingsDialog(ExportOptions(edges=EdgeOptions(feather=2)))
    qtbot.addWidget(dialog)
    assert dialog.transparent_radio.isChecked()
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("jpeg"))
    assert dialog.color_radio.isChecked() and dialog.color_button.color.name() == "#ffffff"
    assert "no transparency" in dialog.error_label.text()
    options = dialog.preset()
    assert options.format == "jpeg" and options.background == (255, 255, 255)
    assert options.edges == EdgeOptions(feather=2)  # carried over unchanged
    assert describe(options) == "JPEG · on #ffffff"


def test_choosing_transparent_again_with_jpeg_is_refused_with_the_options_reason(qtbot):
    dialog = ExportSettingsDialog(ExportOptions(format="jpeg", background="white"))
    qtbot.addWidget(dialog)
    dialog.transparent_radio.setChecked(True)
    dialog.accept()
    assert dialog.result() == 0  # still open
    assert dialog.error_label.text().startswith("JPEG has no transparency")


def test_formats_and_ranges_are_read_from_the_schema(qtbot, tmp_path: Path):
    Image.new("RGB", (4, 4), "blue").save(tmp_path / "bg.png")
    dialog = ExportSettingsDialog(ExportOptions(format="webp", quality=80, background=tmp_path / "bg.png"))
    qtbot.addWidget(dialog)
    combo = dialog.format_combo
    assert [combo.itemData(i) for i in range(combo.count())] == list(FORMATS)
    quality = spec(ExportOptions, "quality")
    assert (dialog.quality_spin.minimum(), dialog.quality_spin.maximum()) == (quality.lo, quality.hi)
    assert dialog.padding_spin.maximum() == spec(ExportOptions, "padding").hi
    dialog.padding_unit.setCurrentIndex(dialog.padding_unit.findData("%"))
    assert dialog.padding_spin.maximum() == PADDING_PERCENT_MAX
    assert dialog.image_radio.isChecked() and dialog.image_edit.text() == str(tmp_path / "bg.png")
    assert dialog.preset().background == tmp_path / "bg.png"


def test_a_broken_background_image_is_refused_in_the_dialog(qtbot, tmp_path: Path):
    (tmp_path / "bg.jpg").write_bytes(b"garbage")
    dialog = ExportSettingsDialog(ExportOptions())
    qtbot.addWidget(dialog)
    dialog.image_edit.setText(str(tmp_path / "bg.jpg"))
    dialog.image_radio.setChecked(True)
    dialog.accept()
    assert dialog.result() == 0
    assert dialog.error_label.text().startswith("background image bg.jpg:")


def test_the_file_name_pattern_is_edited_in_the_dialog_and_checked_by_the_schema(qtbot):
    """Issue 15: quick export names files with the preset's pattern, set here."""
    dialog = ExportSettingsDialog(ExportOptions(naming="{stem}_cut"))
    qtbot.addWidget(dialog)
    assert dialog.naming_edit.text() == "{stem}_cut"
    dialog.naming_edit.setText("{stem}_white")
    assert dialog.preset().naming == "{stem}_white"
    dialog.naming_edit.setText("all_the_same")
    dialog.accept()
    assert dialog.result() == 0 and "must contain {stem}" in dialog.error_label.text()


def test_the_colour_space_is_chosen_in_the_dialog(qtbot):
    dialog = ExportSettingsDialog(ExportOptions(colour_space="srgb"))
    qtbot.addWidget(dialog)
    combo = dialog.colour_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["keep", "srgb"]
    assert combo.currentData() == "srgb" and dialog.preset().colour_space == "srgb"
    assert describe(dialog.preset()) == "PNG · transparent · sRGB"
    combo.setCurrentIndex(combo.findData("keep"))
    assert dialog.preset() == ExportOptions()  # keep: the default, the photo's own profile
