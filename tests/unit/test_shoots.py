"""Issue 15 (engine side): naming patterns, one photo of a shoot exported under the shoot's
names, per-photo edge settings in the batch, the shoot store and the mask cache."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout_studio.core.batch import PreparedPhoto, run_batch_to_end
from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.image_io import load_image
from cutout_studio.core.manifest import Manifest
from cutout_studio.core.mask_cache import MaskCache, mask_variant, plate_tag, quantise
from cutout_studio.core.options import OptionsError
from cutout_studio.core.planner import plan_outputs
from cutout_studio.core.session_store import History, SessionRecord, SessionStore, Step
from cutout_studio.core.shoots import ShootStore

DATA = Path(__file__).resolve().parents[1] / "data"
TEDDY = DATA / "objects-coco__teddy_bear04_000000325527.jpg"
TEDDY_MASK = DATA / "objects-coco__teddy_bear04_000000325527.png"
PERSON = DATA / "people-ccp__ccp0041.jpg"
PERSON_MASK = DATA / "people-ccp__ccp0041.png"


def _two_folder_shoot(tmp_path: Path) -> Path:
    """shoot/day1/shoe.jpg (the teddy) and shoot/day2/shoe.jpg (the person): namesakes."""
    shoot = tmp_path / "shoot"
    for day, source in (("day1", TEDDY), ("day2", PERSON)):
        (shoot / day).mkdir(parents=True)
        shutil.copy(source, shoot / day / "shoe.jpg")
    return shoot


def _mask(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255.0


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("cutout", "must contain {stem}"),
        ("{stem}/x", "cannot be part of a file name"),
        ("{name}_x", "unknown field {name}"),
        ("", "must be text"),
        ("{stem}.", "must not start or end"),
    ],
)
def test_a_naming_pattern_that_cannot_name_each_photo_is_refused_with_its_reason(pattern, reason):
    with pytest.raises(OptionsError, match=reason.replace("{", r"\{").replace("}", r"\}")):
        ExportOptions(naming=pattern)


def test_the_naming_pattern_names_every_output_and_namesakes_stay_apart(tmp_path):
    shoot = _two_folder_shoot(tmp_path)
    (shoot / "day1" / "bag.jpg").write_bytes(TEDDY.read_bytes())
    plan = plan_outputs([shoot], tmp_path / "out", ExportOptions(naming="{stem}_cutout"))
    names = sorted(str(job.output.relative_to(tmp_path / "out")) for job in plan.jobs)
    assert names == ["day1/bag_cutout.png", "day1/shoe_cutout.png", "day2/shoe_cutout.png"]
    # files given one by one (no folders): the namesake is disambiguated before the pattern
    loose = plan_outputs(sorted(shoot.rglob("shoe.jpg")), tmp_path / "flat", ExportOptions(naming="{stem}_cutout"))
    assert [job.output.name for job in loose.jobs] == ["shoe_cutout.png", "shoe_2_cutout.png"]
    # the pattern changes no pixel: outputs made before a rename are not "stale"
    from cutout_studio.core.manifest import settings_fingerprint

    assert settings_fingerprint(ExportOptions(naming="{stem}_x")) == settings_fingerprint(ExportOptions())


def test_one_photo_of_a_shoot_is_exported_under_the_name_the_whole_shoot_gives_it(tmp_path):
    """Quick export: only the photo asked for is written, under its name in a run of the whole
    shoot (day2/shoe.png, not shoe.png), with its own edge settings, and recorded in the
    manifest so that Export all later finds it done."""
    shoot = _two_folder_shoot(tmp_path)
    out = tmp_path / "out"
    person = shoot / "day2" / "shoe.jpg"
    image = load_image(person)
    prepared = {person.resolve(): PreparedPhoto(image, _mask(PERSON_MASK), edited=True)}
    own = EdgeOptions(shift=-3.0)
    summary = run_batch_to_end([shoot], out, ExportOptions(), segmenter=None, prepared=prepared,
                               only=[person], edges={person.resolve(): own}, write_report=False)
    assert summary.done == 1 and summary.total == 1
    written = out / "day2" / "shoe.png"
    assert written.is_file() and not (out / "day1").exists()
    assert Manifest.load(out).owner(written) == person.resolve()
    # the shift of -3 px shrank the subject compared with the photo's mask as it is
    shrunk = np.asarray(Image.open(written))[..., 3] > 127
    assert shrunk.sum() < (_mask(PERSON_MASK) > 0.5).sum() * 0.97

    # the same photo exported with the run's edges is stale against that record (other settings)
    again = run_batch_to_end([shoot], out, ExportOptions(), segmenter=None, prepared=prepared, only=[person],
                             write_report=False)
    assert again.stale == 1 and again.done == 0


def test_the_shoot_store_keeps_output_folder_edges_and_recent_order(tmp_path):
    store = ShootStore(tmp_path / "shoots.json")
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    shoot = store.opened(first)
    assert shoot.output == first / "cutouts" and shoot.edges == EdgeOptions()
    store.save(
        type(shoot)(first, tmp_path / "exports", EdgeOptions(feather=1.5), shoot.opened_at)
    )
    store.opened(second)
    again = store.get(first)
    assert again.output == tmp_path / "exports" and again.edges.feather == 1.5
    assert [s.folder for s in store.recent()] == [second, first]
    shutil.rmtree(second)
    assert [s.folder for s in store.recent()] == [first]  # a folder that is gone is not offered
    # a damaged file is set aside: the shoots start afresh, nothing crashes
    (tmp_path / "shoots.json").write_text("{not json", encoding="utf-8")
    assert store.get(first).output_dir is None
    assert (tmp_path / "shoots.corrupt").is_file()


def test_cached_masks_come_back_bit_for_bit_and_refuse_another_size(tmp_path):
    cache = MaskCache(tmp_path / "masks")
    alpha = quantise(_mask(TEDDY_MASK) * 0.7 + 0.1)
    key = "ab" * 32
    assert cache.load(key, "u2netp", (alpha.shape[1], alpha.shape[0])) is None
    cache.save(key, "u2netp", alpha)
    back = cache.load(key, "u2netp", (alpha.shape[1], alpha.shape[0]))
    assert back is not None and np.array_equal(back, alpha) and not back.flags.writeable
    assert cache.load(key, "u2netp", (alpha.shape[1] + 1, alpha.shape[0])) is None
    assert cache.load(key, "other-model", (alpha.shape[1], alpha.shape[0])) is None
    with pytest.raises(ValueError):
        cache.path_for("../../etc", "u2netp")


def test_masks_made_with_a_clean_plate_are_other_masks_and_keep_their_note(tmp_path):
    """Issue 13 item 2 in the editor: the plate's identity (path, size, time) names its masks,
    and a plate that did not fit keeps its reason beside the model's mask."""
    cache = MaskCache(tmp_path / "masks")
    plate = tmp_path / "empty.png"
    Image.fromarray(np.full((8, 8, 3), 240, np.uint8)).save(plate)
    tag = plate_tag(plate)
    assert plate_tag(None) == "" and mask_variant("u2netp", "") == "u2netp"
    with_plate = mask_variant("u2netp", tag)
    assert with_plate != "u2netp" and cache.path_for("ab" * 32, with_plate) != cache.path_for("ab" * 32, "u2netp")
    alpha = quantise(_mask(TEDDY_MASK))
    size = (alpha.shape[1], alpha.shape[0])
    key = "ab" * 32
    cache.save(key, "u2netp", alpha)
    assert cache.load(key, with_plate, size) is None and not cache.has(key, with_plate)  # never reused
    cache.save(key, with_plate, alpha, "clean plate not used: it is 8×8, the photo 640×480 (another camera or crop)")
    assert cache.has(key, with_plate) and cache.note(key, with_plate).startswith("clean plate not used")
    assert cache.note(key, "u2netp") == ""
    cache.save(key, with_plate, alpha)  # made again, used this time: the old reason goes
    assert cache.note(key, with_plate) == ""
    # the plate saved again (retouched) is another plate
    Image.fromarray(np.full((8, 9, 3), 240, np.uint8)).save(plate)
    assert plate_tag(plate) != tag
    plate.unlink()
    with pytest.raises(OSError):
        plate_tag(plate)


def test_forgetting_a_tuned_model_drops_its_masks_with_and_without_a_plate(tmp_path):
    """A personal model tuned again keeps its name: every mask it made, plate or not (and the
    plate's note), must go; other models' masks stay."""
    cache = MaskCache(tmp_path / "masks")
    alpha = quantise(_mask(TEDDY_MASK))
    key = "cd" * 32
    plated = mask_variant("personal", "0123456789abcdef")
    cache.save(key, "personal", alpha)
    cache.save(key, plated, alpha, "clean plate not used: another size")
    cache.save(key, "u2netp", alpha)
    cache.save(key, mask_variant("u2netp", "0123456789abcdef"), alpha)
    cache.save(key, "personal-2", alpha)  # another model whose name starts alike
    assert cache.forget_model("personal") == 2
    assert not cache.has(key, "personal") and not cache.has(key, plated)
    assert not cache.path_for(key, plated).with_suffix(".txt").exists()
    assert cache.has(key, "u2netp") and cache.has(key, "personal-2")
    assert cache.has(key, mask_variant("u2netp", "0123456789abcdef"))


def test_the_shoot_keeps_its_clean_plate(tmp_path):
    store = ShootStore(tmp_path / "shoots.json")
    folder, plate = tmp_path / "shoot", tmp_path / "empty.png"
    folder.mkdir()
    shoot = store.opened(folder, new_plate=plate)  # a new shoot takes the plate set before opening it
    assert shoot.clean_plate == plate and store.get(folder).clean_plate == plate
    assert store.opened(folder, new_plate=tmp_path / "other.png").clean_plate == plate  # its own comes back
    store.save(dataclasses.replace(store.get(folder), clean_plate=None))
    assert store.opened(folder).clean_plate is None


def test_a_photo_record_keeps_its_edges_and_reads_records_written_before_them(tmp_path):
    store = SessionStore(tmp_path)
    key = "cd" * 32
    record = SessionRecord(key, "x.jpg", (10, 10), History((Step("fg", ((1.0, 2.0),), 3.0),)), None, "finished",
                           edges=EdgeOptions(feather=2.0, matting=True))
    store.save(record)
    back = store.load(key)
    assert back is not None and back.edges == record.edges and back.status == "finished"
    old = json.loads((tmp_path / f"{key}.json").read_text())
    del old["edges"]  # a record of the third session
    (tmp_path / f"{key}.json").write_text(json.dumps(old))
    back = store.load(key)
    assert back is not None and back.edges is None and len(back.history.done) == 1
