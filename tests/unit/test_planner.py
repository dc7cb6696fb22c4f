"""Issue 8, "one name per photo, decided once": every photo gets its own output, duplicates are
cut once, our own outputs are never taken for photos, and resume skips only a photo's own,
up-to-date output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PIL import Image

from cutout_studio.cli import main
from cutout_studio.core.batch import plan_outputs
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.manifest import MANIFEST_NAME

DATA = Path(__file__).resolve().parents[1] / "data"
BEAR = DATA / "objects-coco__teddy_bear04_000000325527.jpg"
PHONE = DATA / "objects-coco__cell_phone00_000000396729.jpg"
TV = DATA / "objects-coco__tv02_000000063740.jpg"


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


def _manifest(out: Path) -> dict[str, str]:
    lines = (out / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()
    return {entry["output"]: entry["source"] for entry in map(json.loads, lines)}


def test_same_named_photos_from_three_folders_get_three_outputs(model_home, tmp_path, capsys):
    """Case 1: d3's cutout replaced d2's ('3 done', 2 files), or failed with a false 'already exists'."""
    sources = []
    for folder, photo in (("d1", BEAR), ("d2", PHONE), ("d3", TV)):
        (tmp_path / folder).mkdir()
        sources.append(shutil.copy(photo, tmp_path / folder / "IMG_0001.jpg"))
    out = tmp_path / "out"
    for extra in ([], ["--overwrite"]):
        assert main(["batch", *map(str, sources), "-o", str(out), *extra]) == 0
        err = capsys.readouterr().err
    outputs = sorted(out.glob("*.png"))
    assert [p.name for p in outputs] == ["IMG_0001.png", "IMG_0001_2.png", "IMG_0001_3.png"]
    assert "3 done" in err and "another photo has the same name" in err
    # each output is the cutout of its own photo (the three photos differ in size)
    owners = _manifest(out)
    for output in outputs:
        assert _size(output) == _size(Path(owners[output.name]))
    assert sorted(map(_size, outputs)) == sorted(map(_size, sources))


def test_resume_does_not_take_another_photos_output_for_this_ones(model_home, tmp_path, capsys):
    """Case 2: cut a folder holding a.png, add a.jpg, run again: a.jpg was 'skipped, output exists'."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.open(PHONE).save(src / "a.png")
    assert main(["batch", str(src), "-o", str(out)]) == 0
    first = (out / "a.png").stat().st_mtime_ns
    shutil.copy(BEAR, src / "a.jpg")
    capsys.readouterr()
    assert main(["batch", str(src), "-o", str(out)]) == 0
    assert "1 done, 1 skipped" in capsys.readouterr().err
    assert (out / "a.png").stat().st_mtime_ns == first  # a.png's own output, kept
    assert _size(out / "a_jpg.png") == _size(BEAR)  # a.jpg cut, under a name of its own
    assert _manifest(out) == {"a.png": str((src / "a.png").resolve()), "a_jpg.png": str((src / "a.jpg").resolve())}


def test_a_photo_or_folder_named_twice_is_cut_once(model_home, tmp_path, capsys):
    """Case 3: `batch x.jpg x.jpg` and a folder given with and without a trailing slash were cut twice."""
    src = tmp_path / "in"
    src.mkdir()
    photo = shutil.copy(BEAR, src / "x.jpg")
    assert main(["batch", str(photo), str(photo), "-o", str(tmp_path / "files")]) == 0
    assert [p.name for p in (tmp_path / "files").glob("*.png")] == ["x.png"]
    assert main(["batch", str(src), f"{src}/", "-o", str(tmp_path / "folders")]) == 0
    assert [p.relative_to(tmp_path / "folders").as_posix() for p in (tmp_path / "folders").rglob("*.png")] == [
        "x.png"
    ]
    assert "named twice, cut once" in capsys.readouterr().err


def test_outputs_of_ours_are_never_taken_for_photos(model_home, tmp_path, capsys):
    """Case 4: an earlier run's -o folder inside the input folder, and `cut`'s NAME_cutout.png
    files, were cut again as if they were photos."""
    src = tmp_path / "shoot"
    src.mkdir()
    shutil.copy(BEAR, src / "bear.jpg")
    shutil.copy(PHONE, src / "phone.jpg")
    assert main(["cut", str(src / "phone.jpg")]) == 0  # writes shoot/phone_cutout.png
    assert main(["batch", str(src), "-o", str(src / "cutouts")]) == 0  # an earlier batch inside
    capsys.readouterr()
    assert main(["batch", str(src), "-o", str(src / "again")]) == 0
    err = capsys.readouterr().err
    assert "2 done" in err and "outputs of ours and were left out" in err
    assert sorted(p.name for p in (src / "again").rglob("*.png")) == ["bear.png", "phone.png"]
    # the planner agrees, whichever front asks
    jobs = plan_outputs([src], tmp_path / "elsewhere", ExportOptions()).jobs
    assert sorted(job.source.name for job in jobs) == ["bear.jpg", "phone.jpg"]


def test_changed_settings_are_counted_as_stale_and_redone_only_with_overwrite(model_home, tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    shutil.copy(BEAR, src / "bear.jpg")
    assert main(["batch", str(src), "-o", str(out)]) == 0
    before = (out / "bear.png").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["batch", str(src), "-o", str(out), "--crop"]) == 0
    err = capsys.readouterr().err
    assert "0 done" in err and "1 stale" in err and "pass --overwrite to redo them" in err
    assert (out / "bear.png").stat().st_mtime_ns == before
    assert main(["batch", str(src), "-o", str(out), "--crop", "--overwrite"]) == 0
    assert _size(out / "bear.png") != _size(BEAR)  # cropped now
    capsys.readouterr()
    assert main(["batch", str(src), "-o", str(out), "--crop"]) == 0
    assert "0 done, 1 skipped" in capsys.readouterr().err


def test_the_plan_is_deterministic_and_keeps_earlier_names(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / folder / "p.jpg")
    Image.new("RGB", (8, 8)).save(tmp_path / "a" / "p.png")
    inputs = [tmp_path / "a" / "p.jpg", tmp_path / "a" / "p.png", tmp_path / "b" / "p.jpg"]
    plan = plan_outputs(inputs, tmp_path / "out", ExportOptions())
    names = [job.output.name for job in plan.jobs]
    assert names == ["p.png", "p_png.png", "p_2.png"]
    assert plan_outputs(inputs, tmp_path / "out", ExportOptions()).jobs == plan.jobs
    assert len(plan.notes) == 2


def test_a_moved_shoot_resumes_under_the_same_names(model_home, tmp_path, capsys):
    """Moving the photos' folder does not make every output someone else's (no NAME_2.png)."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    shutil.copy(BEAR, src / "bear.jpg")
    assert main(["batch", str(src / "bear.jpg"), "-o", str(out)]) == 0
    moved = src.rename(tmp_path / "moved")
    capsys.readouterr()
    assert main(["batch", str(moved / "bear.jpg"), "-o", str(out)]) == 0
    assert "0 done, 1 skipped" in capsys.readouterr().err
    assert [p.name for p in out.glob("*.png")] == ["bear.png"]


def test_the_manifest_keeps_the_last_line_per_output_and_is_compacted_when_long(tmp_path):
    from cutout_studio.core.manifest import Manifest, settings_fingerprint

    src = tmp_path / "a.jpg"
    shutil.copy(BEAR, src)
    out = tmp_path / "out"
    fingerprints = [settings_fingerprint(ExportOptions(padding=n)) for n in range(150)]
    manifest = Manifest.load(out)
    manifest.open()
    for fingerprint in fingerprints:  # the same output redone 150 times with other settings
        manifest.record(src, out / "a.png", fingerprint, "done")
    manifest.close()
    (out / "a.png").write_bytes(b"x")
    with (out / MANIFEST_NAME).open("a", encoding="utf-8") as fh:
        fh.write('{"output": "a.png", "sour')  # a line cut short by a kill
    again = Manifest.load(out)
    assert again.state(src, out / "a.png", fingerprints[-1]) == "fresh"
    assert again.state(src, out / "a.png", fingerprints[0]) == "stale"
    again.open()
    again.close()
    assert len((out / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()) == 1
    assert Manifest.load(out).state(src, out / "a.png", fingerprints[-1]) == "fresh"


def test_the_clean_plate_kept_in_the_shoot_folder_is_not_cut(tmp_path):
    """A photographer keeps the empty backdrop beside the shoot's photos: the batch and the
    editor's scan leave it out (cutting it gives an empty cutout and a misleading report)."""
    src = tmp_path / "shoot"
    src.mkdir()
    shutil.copy(BEAR, src / "bear.jpg")
    shutil.copy(PHONE, src / "phone.jpg")
    Image.open(TV).save(src / "empty.png")  # stands in for the plate: any image of the folder
    options = ExportOptions(clean_plate=src / "empty.png")
    plan = plan_outputs([src], tmp_path / "out", options)
    assert sorted(job.source.name for job in plan.jobs) == ["bear.jpg", "phone.jpg"]
    assert "empty.png: the clean plate, not cut" in plan.notes
    # named directly it is left out too; without a plate it is an ordinary photo
    assert plan_outputs([src / "empty.png"], tmp_path / "out", options).jobs == []
    assert len(plan_outputs([src], tmp_path / "out", ExportOptions()).jobs) == 3


def test_the_editor_does_not_open_a_shoots_clean_plate(tmp_path):
    from cutout_studio.core.shoots import Shoot, ShootStore
    from cutout_studio.qt.document import scan_paths

    src = tmp_path / "shoot"
    src.mkdir()
    shutil.copy(BEAR, src / "bear.jpg")
    Image.open(TV).save(src / "empty.png")
    store = ShootStore(tmp_path / "shoots.json")
    store.save(Shoot(src, clean_plate=src / "empty.png"))
    assert [p.name for _, p in scan_paths([src], store.plates())] == ["bear.jpg"]
    assert sorted(p.name for _, p in scan_paths([src])) == ["bear.jpg", "empty.png"]
