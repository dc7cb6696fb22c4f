"""The export dialog and the new output formats (issue 13, item 5): TIFF, PSD and AVIF come from
the format table by themselves; the clipping path is a check box with its tolerance."""

from __future__ import annotations

from cutout_studio.core.export import ExportOptions
from cutout_studio.core.options import spec
from cutout_studio.qt.export_dialog import ExportSettingsDialog, describe


def test_new_formats_and_the_clipping_path_in_the_dialog(qtbot):
    dialog = ExportSettingsDialog(ExportOptions())
    qtbot.addWidget(dialog)
    combo = dialog.format_combo
    assert {"tiff", "psd"} <= {combo.itemData(i) for i in range(combo.count())}
    assert not dialog.clip_check.isChecked()
    tolerance = spec(ExportOptions, "clip_path_tolerance")
    assert (dialog.clip_tolerance_spin.minimum(), dialog.clip_tolerance_spin.maximum()) == (tolerance.lo, tolerance.hi)

    assert not dialog.quality_spin.isEnabled()  # PNG has no quality
    combo.setCurrentIndex(combo.findData("jpeg"))
    assert dialog.quality_spin.isEnabled()
    combo.setCurrentIndex(combo.findData("psd"))
    assert not dialog.quality_spin.isEnabled()
    dialog.transparent_radio.setChecked(True)  # JPEG had switched it to white
    dialog.clip_check.setChecked(True)
    dialog.clip_tolerance_spin.setValue(2.5)
    options = dialog.preset()
    assert (options.format, options.clip_path, options.clip_path_tolerance) == ("psd", True, 2.5)
    assert options.background is None  # PSD holds transparency: no switch to white
    assert describe(options) == "PSD · transparent · clipping path"

    again = ExportSettingsDialog(options)  # opened again, it shows what was chosen
    qtbot.addWidget(again)
    assert again.clip_check.isChecked() and again.clip_tolerance_spin.value() == 2.5
    assert again.format_combo.currentData() == "psd"
