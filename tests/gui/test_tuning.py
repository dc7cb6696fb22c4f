"""Personal tuning in the editor: keeping finished photos (opt-in), the corrections dialog, and
Model › Tune on my corrections… (background, progress, Cancel, then using the new model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from cutout_studio.core.corrections import CorrectionsSet
from cutout_studio.core.errors import ModelError
from cutout_studio.core.models import get_card
from cutout_studio.core.settings import load_settings
from cutout_studio.core.training.data import read_pair
from tests.gui.conftest import MASK_TIMEOUT_MS, PERSON, open_and_wait_for_mask

pytestmark = pytest.mark.gui
DATA = Path(__file__).resolve().parents[1] / "data"
TUNE_TIMEOUT_MS = 240_000  # a few steps of the real model on a busy 2-core CI machine


@pytest.fixture
def gui_home(own_models_home: Path) -> Path:
    """make_window's home, with a models folder of its own (tunes register models in it) instead
    of conftest's link to the session's."""
    return own_models_home



def test_finished_photos_are_kept_only_when_asked_and_the_dialog_lists_and_deletes(qtbot, make_window, tmp_path):
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    photo = shoot / "person.jpg"
    shutil.copy(PERSON, photo)
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, photo)
    corrections = CorrectionsSet()
    assert not window.settings.keep_corrections and not window.actions_.keep_corrections.isChecked()
    window.actions_.accept_next.trigger()  # finished, but keeping is off
    qtbot.wait(500)
    assert window.lanes.save.wait(5000) and corrections.entries() == []

    window.actions_.keep_corrections.trigger()  # the opt-in, saved at once
    assert window.settings.keep_corrections and load_settings().keep_corrections
    with qtbot.waitSignal(window.tuning.kept, timeout=10_000) as kept:
        window.actions_.accept_next.trigger()
    (entry,) = corrections.entries()
    assert entry == kept.args[0] and entry.source == str(photo.resolve()) and entry.shoot == str(shoot.resolve())
    stored = cv2.imread(str(corrections.mask_path(entry)), cv2.IMREAD_GRAYSCALE)
    finished = np.clip(np.rint(doc.alpha * 255), 0, 255).astype(np.uint8)
    assert stored.shape == finished.shape and np.array_equal(stored, finished)  # exactly the mask accepted

    dialog = window.tuning.show_corrections()
    assert dialog.names() == [entry.name] and dialog.summary.text().startswith("1 photo(s)")
    assert dialog.keep_box.isChecked()
    dialog.keep_box.setChecked(False)  # the dialog's box is the menu's switch
    assert not window.actions_.keep_corrections.isChecked() and not load_settings().keep_corrections
    dialog.list.item(0).setSelected(True)
    assert dialog.delete_selected() == 1
    assert dialog.names() == [] and corrections.entries() == [] and dialog.summary.text().startswith("0 photo(s)")
    assert not corrections.photo_path(entry).exists()


def test_tune_runs_in_the_background_with_progress_registers_and_can_be_cancelled(qtbot, make_window, gui_home):
    corrections = CorrectionsSet()
    for mask in sorted(DATA.glob("*.png"))[:4]:
        corrections.add(*read_pair(mask.with_suffix(".jpg"), mask), mask.with_suffix(".jpg"))
    window = make_window()
    qtbot.waitUntil(lambda: window.masks.segmenter is not None, timeout=MASK_TIMEOUT_MS)
    window.tuning.tune_options = {"size": 64, "batch_size": 2, "device": "cpu"}
    window.actions_.tune.trigger()
    dialog = window.tuning.dialog
    assert dialog is not None and dialog.isVisible() and "4 finished photo(s)" in dialog.summary.text()
    dialog.name_edit.setText("mine")
    dialog.steps_spin.setValue(3)
    steps: list[int] = []
    assert window.tuning.lane not in window.lanes.all()  # its own lane: exports and batches never wait behind it
    assert dialog.start()
    dialog.job.signals.progress.connect(lambda value: steps.append(value[0]))
    assert window.quit_risks() and "tune is running" in window.quit_risks()[-1]
    qtbot.waitUntil(lambda: dialog.use_button.isEnabled(), timeout=TUNE_TIMEOUT_MS)
    assert steps == [1, 2, 3] and dialog.bar.value() == dialog.bar.maximum() == 3
    assert "Model 'mine' is ready" in dialog.status.text()
    assert get_card("mine").user and (gui_home / "models" / "mine.safetensors").is_file()
    with qtbot.waitSignal(window.masks.segmenter_ready, timeout=MASK_TIMEOUT_MS,
                          check_params_cb=lambda s: s.model_name == "mine"):
        dialog.use_button.click()
    assert window.settings.model == "mine" and load_settings().model == "mine"
    window.tuning._fill_use_menu()
    checked = [a.text() for a in window.tuning.use_menu.actions() if a.isChecked()]
    assert checked == ["mine  (personal)"]

    # cancelled half-way: nothing registered, nothing left behind
    window.show()
    dialog = window.tuning.show_tune()
    dialog.name_edit.setText("other")
    dialog.steps_spin.setValue(200)
    assert dialog.start()
    qtbot.waitUntil(lambda: dialog.bar.value() >= 1, timeout=TUNE_TIMEOUT_MS)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=TUNE_TIMEOUT_MS)
    assert dialog.status.text().startswith("Cancelled") and dialog.bar.value() < 200
    with pytest.raises(ModelError):
        get_card("other")
    assert sorted(p.name for p in (gui_home / "models").iterdir()) == [
        "mine.json", "mine.safetensors", "u2netp.json", "u2netp.safetensors"]
