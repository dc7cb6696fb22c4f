"""Marketplace presets and recipes in the editor (issue 13, items 3 and 4): the export dialog's
marketplace choice, the check line of the photo on screen, File > Save/Load recipe."""

from __future__ import annotations

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.export.presets import preset_values
from cutout_studio.qt.export_dialog import ExportSettingsDialog, describe
from tests.gui.conftest import MASK_TIMEOUT_MS, TEDDY, open_and_wait_for_mask

AMAZON = ExportOptions(**preset_values("amazon"))


def test_choosing_a_marketplace_in_the_dialog_sets_its_values(qtbot):
    dialog = ExportSettingsDialog(ExportOptions(format="webp", edges=EdgeOptions(feather=2)))
    qtbot.addWidget(dialog)
    combo = dialog.marketplace_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["None", "Amazon", "eBay", "Shopify", "Etsy"]
    combo.setCurrentIndex(combo.findData("amazon"))
    combo.activated.emit(combo.currentIndex())  # what a user's pick sends
    options = dialog.preset()
    # JPEG's quality shows as what "unset" means: the same file
    assert options == ExportOptions(**preset_values("amazon") | {"quality": 92}, edges=EdgeOptions(feather=2))
    assert describe(options).startswith("Amazon · JPEG · on #ffffff · crop +")
    # the user may change a value afterwards: the preset stays chosen (and the check will say)
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("png"))
    assert (dialog.preset().format, dialog.preset().preset) == ("png", "amazon")
    reopened = ExportSettingsDialog(options)
    qtbot.addWidget(reopened)
    assert reopened.marketplace_combo.currentData() == "amazon"


def test_the_photo_on_screen_shows_its_check(qtbot, make_window):
    window = make_window()
    label = window.tools.compliance_label
    assert label.isHidden()  # no preset, no line
    open_and_wait_for_mask(qtbot, window, TEDDY)
    window.state.export = AMAZON
    # a 500x374 photo cannot make a 1600 px image without enlarging it
    qtbot.waitUntil(lambda: label.text().startswith("Amazon: resolution too low"), timeout=MASK_TIMEOUT_MS)
    assert not label.isHidden() and "not upscaled" in label.text()
    window.state.export = ExportOptions()
    qtbot.waitUntil(label.isHidden, timeout=5000)


def test_save_and_load_recipe(qtbot, make_window, tmp_path):
    window = make_window()
    menu_actions = [action for menu, action in window.actions_.all() if menu == "File"]
    assert window.actions_.save_recipe in menu_actions and window.actions_.load_recipe in menu_actions
    chosen = ExportOptions(**preset_values("etsy") | {"naming": "{stem}_etsy"}, edges=EdgeOptions(shift=-2))
    window.state.export = chosen
    path = window.recipes.save(tmp_path / "etsy.toml")
    assert path is not None and 'preset = "etsy"' in path.read_text(encoding="utf-8")
    window.state.export = ExportOptions()
    assert window.recipes.load(path)
    assert window.state.export == chosen
    assert window.statusBar().currentMessage().startswith("Recipe loaded: etsy.toml")

    bad = tmp_path / "bad.toml"
    bad.write_text('preset = "etsy"\nvignette = 0.5\n', encoding="utf-8")
    window.state.export = ExportOptions()
    assert not window.recipes.load(bad)
    assert window.state.export == ExportOptions()  # nothing taken from a bad recipe
    assert window.statusBar().currentMessage().startswith("recipe bad.toml: unknown key 'vignette'")
