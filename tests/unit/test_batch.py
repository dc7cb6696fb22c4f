"""The batch: mirrors folders, reports bad files and goes on, resumes after a kill."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout_studio.core.batch import REPORT_NAME, plan_outputs, run_batch, run_batch_to_end
from cutout_studio.core.export import ExportOptions

DATA = Path(__file__).resolve().parents[1] / "data"
PHOTOS = sorted(DATA.glob("*.jpg"))


@pytest.fixture
def photo_tree(tmp_path: Path) -> Path:
    """in/a.jpg, in/b.jpg, in/sub dir/ç.jpg, plus a broken file and a non-image that folders skip."""
    root = tmp_path / "in"
    (root / "sub dir").mkdir(parents=True)
    shutil.copy(PHOTOS[0], root / "a.jpg")
    shutil.copy(PHOTOS[1], root / "b.jpg")
    shutil.copy(PHOTOS[2], root / "sub dir" / "ç photo.jpg")
    (root / "broken.jpg").write_bytes(PHOTOS[0].read_bytes()[:3000])  # truncated JPEG
    (root / "notes.txt").write_text("not a photo")
    return root


def _results(events):
    return {e.result.source.name: e.result for e in events}


def test_batch_mirrors_folders_and_reports_the_bad_file(segmenter, photo_tree, tmp_path):
    out = tmp_path / "out"
    events = list(run_batch([photo_tree], out, ExportOptions(format="webp"), segmenter=segmenter))
    results = _results(events)
    assert set(results) == {"a.jpg", "b.jpg", "ç photo.jpg", "broken.jpg"}
    assert [e.done for e in events] == [1, 2, 3, 4] and all(e.total == 4 for e in events)
    assert results["broken.jpg"].status == "failed"
    assert "broken.jpg" in results["broken.jpg"].message and "\n" not in results["broken.jpg"].message
    for name, rel in (("a.jpg", "a.webp"), ("ç photo.jpg", "sub dir/ç photo.webp")):
        assert results[name].status == "done" and results[name].output == out / rel
        with Image.open(out / rel) as im:
            assert im.mode == "RGBA"
            alpha = np.asarray(im.getchannel("A"))
        assert alpha.min() == 0 and alpha.max() == 255
    rows = list(csv.DictReader((out / REPORT_NAME).open(encoding="utf-8")))
    assert {Path(r["file"]).name: r["status"] for r in rows} == {
        "a.jpg": "done",
        "b.jpg": "done",
        "ç photo.jpg": "done",
        "broken.jpg": "failed",
    }
    # no temporary files, no lock left behind: the only hidden file is the manifest
    assert not list(out.rglob("*.tmp*")) and [p.name for p in out.rglob(".*")] == [".cutout-manifest.jsonl"]


def test_output_mask_writes_8bit_png_at_the_same_relative_path(segmenter, photo_tree, tmp_path):
    out = tmp_path / "masks"
    run_batch_to_end([photo_tree / "sub dir"], out, ExportOptions(output="mask"), segmenter=segmenter)
    with Image.open(out / "ç photo.png") as im:
        assert im.mode == "L"
        assert im.size == Image.open(photo_tree / "sub dir" / "ç photo.jpg").size


def test_cancel_stops_between_files_and_a_rerun_resumes(segmenter, photo_tree, tmp_path):
    out = tmp_path / "out"
    cancel = threading.Event()
    events = []
    # one worker: at most one photo besides the finished one is in flight when cancel comes
    for event in run_batch([photo_tree], out, ExportOptions(), segmenter=segmenter, cancel=cancel, workers=1):
        events.append(event)
        if event.result.status == "done":
            cancel.set()
    summary_first = [e.result.source.name for e in events if e.result.status == "done"]
    assert 1 <= len(summary_first) < 3
    done_before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}

    second = run_batch_to_end([photo_tree], out, ExportOptions(), segmenter=segmenter)
    assert second.skipped == len(done_before) and second.done == 3 - len(done_before) and second.failed == 1
    for path, mtime in done_before.items():
        assert path.stat().st_mtime_ns == mtime  # finished files were not redone


def test_batch_killed_half_way_resumes_without_redoing_finished_files(model_home, tmp_path):
    """A real SIGKILL of the CLI in the middle of a batch, then the same command again."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(12):
        shutil.copy(PHOTOS[i % len(PHOTOS)], src / f"p{i:02d}.jpg")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cutout_studio", "batch", str(src), "-o", str(out)]
    env = {**os.environ, "CUTOUT_STUDIO_HOME": str(model_home)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while len(list(out.rglob("*.png"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert 3 <= len(finished) < 12, "the kill should land mid-batch"
    assert (out / ".cutout-lock").is_file()  # left by the dead run: it must not block the next one
    for path in finished:  # atomic writes: whatever exists is a complete, readable image
        with Image.open(path) as im:
            im.load()
    # a photo being written at the kill leaves only its hidden temporary file, never a partial output
    # (and the lock file, which the kernel unlocked when the process died: it blocks nobody)
    assert all(p.name.startswith(".") and p.suffix == ".part" for p in out.rglob("*")
               if p.is_file() and p.suffix not in (".png", ".csv") and p.name not in (".cutout-manifest.jsonl",
                                                                                    ".cutout-lock"))

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{12 - len(finished)} done, {len(finished)} skipped" in rerun.stderr
    assert len(list(out.rglob("*.png"))) == 12
    assert not list(out.rglob("*.part"))  # the resumed run cleared what the kill left
    for path, mtime in finished.items():
        assert path.stat().st_mtime_ns == mtime


def test_several_input_folders_each_get_their_own_subfolder(tmp_path):
    for name in ("shoes", "bags"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "x.jpg")
    jobs = plan_outputs([tmp_path / "shoes", tmp_path / "bags"], tmp_path / "out", ExportOptions()).jobs
    assert sorted(j.output.relative_to(tmp_path / "out").as_posix() for j in jobs) == [
        "bags/x.png",
        "shoes/x.png",
    ]


def test_collect_jobs_keeps_same_named_photos_apart(tmp_path):
    (tmp_path / "f").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "f" / "x.jpg")
    Image.new("RGB", (8, 8)).save(tmp_path / "f" / "x.png")
    jobs = plan_outputs([tmp_path / "f"], tmp_path / "out", ExportOptions()).jobs
    assert len({j.output for j in jobs}) == 2


def test_output_folder_inside_the_input_folder_is_not_rescanned(segmenter, photo_tree):
    out = photo_tree / "cutouts"
    first = run_batch_to_end([photo_tree], out, ExportOptions(), segmenter=segmenter)
    again = plan_outputs([photo_tree], out, ExportOptions()).jobs
    assert first.total == 4 and len(again) == 4


def test_an_unexpected_error_on_one_photo_fails_that_photo_only(segmenter, photo_tree, tmp_path, monkeypatch):
    """A bug that strikes one photo (here: the exporter raising KeyError on b.jpg) is reported
    for that photo; the batch goes on and finishes the others."""
    from cutout_studio.core import batch_steps
    from cutout_studio.core.export import export_cutout

    def flaky_export(image, alpha, dest, options):
        if Path(dest).stem == "b":
            raise KeyError("simulated bug")
        return export_cutout(image, alpha, dest, options)

    monkeypatch.setattr(batch_steps, "export_cutout", flaky_export)  # the step both engines run
    results = _results(run_batch([photo_tree], tmp_path / "out", ExportOptions(), segmenter=segmenter))
    assert results["b.jpg"].status == "failed" and "internal error (KeyError" in results["b.jpg"].message
    assert results["a.jpg"].status == "done" and results["ç photo.jpg"].status == "done"
    assert not (tmp_path / "out" / "b.png").exists()


def test_an_output_folder_is_locked_while_a_run_holds_it(tmp_path):
    from cutout_studio.core.folder_lock import FolderLockedError, lock_folders

    out = tmp_path / "out"
    with lock_folders([out]):
        with pytest.raises(FolderLockedError, match="another batch or export of this window"):
            with lock_folders([tmp_path / "out/"]):
                pass
    with lock_folders([out]):  # released: free again, and the lock file is gone after
        pass
    assert not (out / ".cutout-lock").exists()
