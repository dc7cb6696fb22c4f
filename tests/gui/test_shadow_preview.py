"""Shadows in the editor (issue 13, item 1): the Export settings' Shadow group, and the cutout
views drawing the preset's shadow under the cutout."""

from __future__ import annotations

import os

import numpy as np

from cutout_studio.core.export import ExportOptions
from cutout_studio.core.export.presets import preset_values
from cutout_studio.qt.export_dialog import ExportSettingsDialog, describe
from tests.gui.conftest import MASK_TIMEOUT_MS, TEDDY, open_and_wait_for_mask


def test_the_shadow_group_edits_the_preset(qtbot):
    dialog = ExportSettingsDialog(ExportOptions())
    qtbot.addWidget(dialog)
    assert dialog.preset().shadow == "none"
    dialog.shadow_combo.setCurrentIndex(dialog.shadow_combo.findData("drop"))
    dialog.shadow_spins["shadow_angle"].setValue(120)
    dialog.shadow_spins["shadow_softness"].setValue(6)
    options = dialog.preset()
    assert (options.shadow, options.shadow_angle, options.shadow_softness) == ("drop", 120, 6)
    assert options.shadow_opacity is None  # the kind's own, as shown
    assert "drop shadow" in describe(options)
    dialog.shadow_spins["shadow_opacity"].setValue(0.3)
    assert dialog.preset().shadow_opacity == 0.3
    reopened = ExportSettingsDialog(dialog.preset())
    qtbot.addWidget(reopened)
    assert reopened.preset() == dialog.preset()
    # Amazon's main image takes no shadow: choosing it turns the shadow off
    combo = reopened.marketplace_combo
    combo.setCurrentIndex(combo.findData("amazon"))
    combo.activated.emit(combo.currentIndex())
    assert reopened.preset().shadow == "none"


def test_the_cutout_view_shows_the_presets_shadow(qtbot, make_window):
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, TEDDY)
    window.state.view_mode = "checker"
    window.state.export = ExportOptions(**preset_values("etsy") | {"shadow": "contact"})

    def shadow_drawn() -> bool:
        view = doc.layer_settings[0] if doc.layer_settings else None
        return doc.layer is not None and getattr(view, "shadow", None) is not None

    qtbot.waitUntil(shadow_drawn, timeout=MASK_TIMEOUT_MS)
    alpha = doc.alpha
    ys, xs = np.nonzero(alpha > 0.5)
    base, left, right = int(ys.max()), int(xs.min()), int(xs.max())
    opacity = doc.layer.buffer[..., 3]  # premultiplied ARGB32: alpha is the fourth byte on little-endian
    under = opacity[base + 1 : base + 6, left:right][alpha[base + 1 : base + 6, left:right] < 0.02]
    assert under.size and under.mean() > 40  # dark under the base, where the photo is cut away
    assert opacity[: int(ys.min())][alpha[: int(ys.min())] < 0.02].max() <= 1  # nothing above (1: the model's faint noise)
    if os.environ.get("SHADOW_SCREENSHOT"):  # docs/images/shadow-preset.png is made this way
        qtbot.wait(500)
        window.grab().save(os.environ["SHADOW_SCREENSHOT"])
    window.state.export = ExportOptions()
    qtbot.waitUntil(lambda: doc.layer_settings and doc.layer_settings[0].shadow is None, timeout=MASK_TIMEOUT_MS)
