"""Issue 13, item 2 in the editor: the shoot's clean plate makes the editor's automatic masks as it
makes the batch's, with a live preview (the photo on screen is masked again by itself, its marks
kept), per shoot, in recipes, and a plate that does not fit says why.

The shoot is built from real cutouts on a synthetic white seamless (tests/support/plate_shoot.py):
a near-white product the model loses on its own, and a plain one.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout_studio.core.mask_cache import mask_variant, plate_tag
from cutout_studio.core.session_store import SessionStore
from cutout_studio.core.shoots import ShootStore
from cutout_studio.qt.document import DocStatus
from cutout_studio.qt.preparing import NO_PLATE
from tests.gui.conftest import MASK_TIMEOUT_MS
from tests.support.plate_shoot import build_shoot, data_pairs, white_seamless

pytestmark = pytest.mark.gui
DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def built() -> tuple[np.ndarray, list]:
    """The plate and 4 shots: 0 near-white (davis032: the model alone is 0.35 MAE off), 1 glass,
    2 plain, 3 near-white (a TV)."""
    return build_shoot(data_pairs(DATA), 4, seed=0)


@pytest.fixture
def shoot(built, tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """(the shoot's folder with a-white.png and b-plain.png, the plate's file outside it, the
    near-white shot's truth)."""
    plate, shots = built
    folder = tmp_path / "shoot"
    folder.mkdir()
    Image.fromarray(shots[0].rgb).save(folder / "a-white.png")
    Image.fromarray(shots[2].rgb).save(folder / "b-plain.png")
    plate_file = tmp_path / "empty.png"
    Image.fromarray(plate).save(plate_file)
    return folder, plate_file, shots[0].truth


def _open(qtbot, window, folder: Path):
    window.open_paths([folder])
    qtbot.waitUntil(lambda: window.current is not None and window.current.ready, timeout=MASK_TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.view.current.layer_alpha is not None, timeout=MASK_TIMEOUT_MS)
    return window.current


def _set_plate(qtbot, window, plate: Path | None):
    """Set (or clear, with None) the plate as the menu does and wait for the photo on screen's
    new picture (no other action by the user)."""
    doc = window.current
    model = window.masks.segmenter.card.name
    wanted = mask_variant(model, plate_tag(plate) if plate is not None else "")
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS,
                          check_params_cb=lambda d: d is doc and d.mask_variant == wanted):
        if plate is None:
            window.plate.clear()
        else:
            window.plate.set(plate)
    assert doc.layer_alpha is doc.alpha  # what the canvas shows is the new mask
    return doc


def _mae(alpha: np.ndarray, truth: np.ndarray) -> float:
    return float(np.abs(np.asarray(alpha, np.float32) - truth).mean())


def test_setting_the_plate_remasks_the_shoot_and_lowers_the_error_then_reopens_and_clears(
        qtbot, make_window, built, shoot, tmp_path):
    folder, plate_file, truth = shoot
    _plate, shots = built
    Image.fromarray(shots[1].rgb).save(folder / "c-glass.png")
    Image.fromarray(shots[3].rgb).save(folder / "d-white.png")  # not kept in memory: surveyed
    window = make_window()
    doc = _open(qtbot, window, folder)
    assert doc.name == "a-white.png"
    qtbot.waitUntil(lambda: all(d.surveyed for d in window.docs), timeout=4 * MASK_TIMEOUT_MS)
    far = window.docs[3]
    assert far.name == "d-white.png" and far.image is None
    without = np.array(doc.alpha)
    error_without = _mae(without, truth)
    assert error_without > 0.2  # white on white: the model alone loses the product
    with qtbot.waitSignal(window.export_finished, timeout=4 * MASK_TIMEOUT_MS):
        window.export_all(tmp_path / "out")
    assert doc.status is DocStatus.EXPORTED and far.status is DocStatus.EXPORTED

    _set_plate(qtbot, window, plate_file)
    assert doc.status is DocStatus.EDITED  # its output was made with the mask it had before
    assert window.state.export.clean_plate == plate_file  # Export and the Batch window get it
    assert window.tools.plate_label.text() == "Clean plate: empty.png"
    assert doc.plate_note == ""
    assert _mae(doc.alpha, truth) < 0.5 * error_without
    # the rest of the shoot is masked again in the background, into the cache under the plate's name
    variant = window.masks.mask_variant
    qtbot.waitUntil(lambda: all(d.mask_variant == variant for d in window.docs), timeout=4 * MASK_TIMEOUT_MS)
    assert all(window.mask_cache.has(d.key, variant) for d in window.docs)
    # the photo not in memory: its mask changed too, so its output is out of date (and saved so)
    assert far.image is None and far.status is DocStatus.EDITED
    qtbot.waitUntil(lambda: getattr(SessionStore().load(far.key), "status", "") == "edited", timeout=MASK_TIMEOUT_MS)
    # the Batch window's run takes the editor's plate
    assert window.export_options().clean_plate == plate_file
    window.close()

    # the plate is the shoot's: reopening the folder brings it back, and the first mask uses it
    assert ShootStore().get(folder).clean_plate == plate_file
    again = make_window()
    assert again.state.export.clean_plate is None  # not a setting of the editor (settings.json)
    doc = _open(qtbot, again, folder)
    assert again.state.export.clean_plate == plate_file and doc.mask_variant == variant
    assert _mae(doc.alpha, truth) < 0.5 * error_without

    # clearing it goes back to the model's own mask (read back from the cache: the very same)
    _set_plate(qtbot, again, None)
    assert np.array_equal(doc.alpha, without)
    assert again.state.export.clean_plate is None and again.tools.plate_label.text() == "Clean plate: none"
    assert ShootStore().get(folder).clean_plate is None


def test_a_plate_of_another_size_shows_the_reason_and_keeps_the_models_mask(qtbot, make_window, shoot, tmp_path):
    folder, _plate, _truth = shoot
    other = tmp_path / "portrait.png"
    Image.fromarray(white_seamless(size=(600, 900))).save(other)
    window = make_window()
    doc = _open(qtbot, window, folder)
    before = np.array(doc.alpha)
    with qtbot.waitSignal(window.export_finished, timeout=MASK_TIMEOUT_MS):
        window.exports.quick_export()
    _set_plate(qtbot, window, other)
    assert doc.plate_note.startswith("clean plate not used: it is 600×900") and "\n" not in doc.plate_note
    assert np.array_equal(doc.alpha, before)  # the model's mask, as it was
    assert doc.status is DocStatus.EXPORTED  # and its output still shows it
    assert doc.plate_note in window.statusBar().currentMessage()
    assert "no clean plate" in window.filmstrip.row_text(doc)  # and the reason in its tooltip


def test_a_plate_file_that_cannot_be_read_is_refused_and_nothing_changes(qtbot, make_window, tmp_path):
    broken = tmp_path / "empty.png"
    broken.write_bytes(b"not an image at all")
    window = make_window()
    export = window.state.export
    with qtbot.waitSignal(window.plate.refused, timeout=MASK_TIMEOUT_MS) as refused:
        window.plate.set(broken)
    reason = refused.args[0]
    assert "empty.png" in reason and "\n" not in reason
    assert window.state.export is export and window.masks.plate == NO_PLATE
    assert window.tools.plate_label.text() == "Clean plate: none"


def test_a_recipe_saved_with_a_plate_loads_it_back(qtbot, make_window, shoot, tmp_path):
    folder, plate_file, _truth = shoot
    window = make_window()
    window.plate.set(plate_file)
    qtbot.waitUntil(lambda: window.state.export.clean_plate == plate_file, timeout=MASK_TIMEOUT_MS)
    recipe = window.recipes.save(tmp_path / "studio.toml")
    assert recipe is not None and "clean_plate" in recipe.read_text(encoding="utf-8")
    window.plate.clear()
    assert window.state.export.clean_plate is None and window.masks.plate == NO_PLATE
    assert window.recipes.load(recipe)
    assert window.state.export.clean_plate == plate_file
    assert window.masks.plate.path == plate_file  # the editor's masks use it
    # the Batch window's run takes it (and says so)
    dialog = window.run_batch_on([folder], tmp_path / "batch", start=False)
    assert "clean plate:</b> empty.png" in dialog.inputs_label.text()
    assert dialog.options.clean_plate == plate_file
    dialog.close()
    # a recipe without a plate (a house style shared between shoots) keeps the shoot's
    plain = tmp_path / "house.toml"
    plain.write_text('format = "jpeg"\nbackground = "white"\n', encoding="utf-8")
    assert window.recipes.load(plain)
    assert window.state.export.format == "jpeg" and window.state.export.clean_plate == plate_file


def test_marks_survive_a_plate_change_even_those_made_while_it_is_masked_again(qtbot, make_window, shoot):
    folder, plate_file, _truth = shoot
    window = make_window()
    doc = _open(qtbot, window, folder)
    h, w = doc.image.rgb.shape[:2]
    first = [(w * 0.05, h * 0.1), (w * 0.12, h * 0.1)]
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        window.view.stroke("bg", first, 8.0)
    qtbot.waitUntil(lambda: len(doc.history.done) == 1, timeout=MASK_TIMEOUT_MS)

    # the rest of the shoot masked first: the gate below must hold back the re-mask alone (a
    # survey of another photo caught in it would keep the lane, and the re-mask, waiting)
    qtbot.waitUntil(lambda: window.masks.backlog == 0, timeout=MASK_TIMEOUT_MS)
    # hold the model back while the photo is masked again with the plate, and paint meanwhile
    segmenter = window.masks.segmenter
    gate = threading.Event()
    predict = segmenter.predict_lowres
    segmenter.predict_lowres = lambda rgbs: (gate.wait(MASK_TIMEOUT_MS / 1000), predict(rgbs))[1]
    old_session = doc.session
    window.plate.set(plate_file)
    qtbot.waitUntil(lambda: doc.remasking, timeout=MASK_TIMEOUT_MS)
    # under the filmstrip, the photos in memory being masked again count as still to do
    assert window.masks.backlog >= 1 and "masking" in window.filmstrip_panel.masking_label.text()
    assert window.canvas._busy_label.isVisible() and "clean plate" in window.canvas._busy_label.text()
    second = [(w * 0.05, h * 0.9), (w * 0.12, h * 0.9)]
    window.view.stroke("bg", second, 8.0)
    qtbot.waitUntil(lambda: len(doc.history.done) == 2, timeout=MASK_TIMEOUT_MS)
    variant = mask_variant(segmenter.card.name, plate_tag(plate_file))
    with qtbot.waitSignal(window.view_updated, timeout=2 * MASK_TIMEOUT_MS,
                          check_params_cb=lambda d: d is doc and d.mask_variant == variant):
        gate.set()
    segmenter.predict_lowres = predict
    # both marks, replayed on the plate's automatic mask, and still undoable
    assert [step.points for step in doc.history.done] == [tuple(first), tuple(second)]
    assert len(doc.session.strokes) == 2 and doc.can_undo
    labels = np.asarray(doc.session.labels)
    for x, y in (first[0], second[0]):
        assert labels[int(y), int(x)] == 2 and doc.alpha[int(y), int(x)] == 0
    assert doc.session is not old_session  # the marks were replayed into the plate's session
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        window.actions_.undo.trigger()
    qtbot.waitUntil(lambda: len(doc.history.done) == 1, timeout=MASK_TIMEOUT_MS)


def test_the_plate_file_is_followed_when_it_is_saved_again_or_deleted(qtbot, make_window, built, tmp_path):
    plate, _shots = built
    plate_file = tmp_path / "empty.png"
    Image.fromarray(plate).save(plate_file)
    window = make_window()
    window.plate.set(plate_file)
    qtbot.waitUntil(lambda: window.masks.plate.path == plate_file, timeout=MASK_TIMEOUT_MS)
    first = window.masks.plate.tag
    # retouched and saved again: a new identity, so the shoot is masked again with it
    Image.fromarray(np.clip(plate.astype(int) - 3, 0, 255).astype(np.uint8)).save(plate_file)
    qtbot.waitUntil(lambda: window.masks.plate.tag not in ("", first), timeout=MASK_TIMEOUT_MS)
    assert window.state.export.clean_plate == plate_file
    # deleted: the editor goes on without it (exports never read a plate that is gone)
    plate_file.unlink()
    qtbot.waitUntil(lambda: window.state.export.clean_plate is None, timeout=MASK_TIMEOUT_MS)
    assert window.masks.plate == NO_PLATE and "moved or deleted" in window.statusBar().currentMessage()
