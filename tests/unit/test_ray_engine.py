"""The batch on Ray (``--engine ray``): the local engine's outputs, resume, errors and cancel.

Ray is an optional extra: every test here but the first is skipped where it is not installed
(the project's own environment). They run Ray in local mode on this machine, with a worker
environment that imports this checkout (PYTHONPATH) and finds the session's model
(CUTOUT_STUDIO_HOME, set by the model_home fixture before Ray starts).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cutout_studio.cli import main
from cutout_studio.core.batch import REPORT_NAME, drain, run_batch_to_end
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.manifest import MANIFEST_NAME
from cutout_studio.core.ray_engine import INSTALL_HINT, STAGING, ray_available

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
PHOTOS = sorted(DATA.glob("*.jpg"))


@pytest.mark.skipif(ray_available(), reason="checks the message shown where Ray is not installed")
def test_without_ray_the_engine_says_in_one_line_how_to_install_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["batch", str(DATA), "-o", str(tmp_path / "out"), "--engine", "ray"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.count("\n") == 1 and INSTALL_HINT in err and 'pip install -e ".[ray]"' in err
    assert not (tmp_path / "out").exists()  # nothing was started


def test_address_without_the_ray_engine_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["batch", str(DATA), "-o", str(tmp_path / "out"), "--address", "auto"])
    assert exc.value.code == 2 and "--engine ray" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# with Ray


def _worker_env(model_home: Path) -> dict[str, str]:
    """Ray's workers inherit the environment of the process that starts Ray."""
    return {"PYTHONPATH": str(ROOT), "CUTOUT_STUDIO_HOME": str(model_home)}



def _folder(root: Path, count: int, *, garbage: bool = False) -> Path:
    root.mkdir(parents=True)
    for i in range(count):
        shutil.copy(PHOTOS[i % len(PHOTOS)], root / f"p{i:02d}.jpg")
    if garbage:
        (root / "garbage.jpg").write_bytes(b"\x13\x37 these bytes are not a JPEG" * 40)
    return root


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / REPORT_NAME).open(encoding="utf-8") as fh:
        return {Path(r["file"]).name: r for r in csv.DictReader(fh) if r["file"]}


def _ray_run(inputs, out, **kwargs):
    from cutout_studio.core.ray_engine import run_batch_ray

    events = []
    summary = drain(run_batch_ray(inputs, out, ExportOptions(), device="cpu", **kwargs), events.append)
    return summary, events


@pytest.fixture(scope="module")
def both_engines(local_ray, segmenter, tmp_path_factory):
    """The same folder (4 photos and a garbage .jpg) cut by each engine."""
    base = tmp_path_factory.mktemp("engines")
    src = _folder(base / "in", 4, garbage=True)
    local = run_batch_to_end([src], base / "local", ExportOptions(), segmenter=segmenter)
    ray_summary, events = _ray_run([src], base / "ray")
    return base, local, ray_summary, events


def test_ray_outputs_equal_the_local_engines_byte_for_byte(both_engines):
    base, local, on_ray, events = both_engines
    assert (on_ray.done, on_ray.failed, on_ray.total) == (local.done, local.failed, local.total) == (4, 1, 5)
    assert [e.done for e in events] == [1, 2, 3, 4, 5]
    outputs = sorted(p.name for p in (base / "local").glob("*.png"))
    assert outputs == sorted(p.name for p in (base / "ray").glob("*.png")) and len(outputs) == 4
    for name in outputs:
        assert (base / "ray" / name).read_bytes() == (base / "local" / name).read_bytes(), name
    # the same report rows (but the seconds) and the same manifest lines (so either engine resumes the other)
    local_rows, ray_rows = _rows(base / "local"), _rows(base / "ray")
    for name, row in local_rows.items():
        for key in ("status", "message", "confidence", "compliance"):
            assert ray_rows[name][key] == row[key], (name, key)
        assert Path(ray_rows[name]["output"] or "/").name == Path(row["output"] or "/").name

    def manifest(out: Path) -> dict[str, tuple[str, str, str]]:
        lines = [json.loads(line) for line in (out / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()]
        return {d["output"]: (d["source"], d["settings"], d["status"]) for d in lines}

    assert manifest(base / "ray") == manifest(base / "local")
    # the workers' staging folder is gone; nothing hidden is left but the manifest
    assert [p.name for p in (base / "ray").rglob(".*")] == [MANIFEST_NAME]


def test_a_garbage_jpg_fails_with_its_reason_and_the_others_are_cut(both_engines):
    base, _, on_ray, events = both_engines
    failed = [e.result for e in events if e.result.status == "failed"]
    assert [r.source.name for r in failed] == ["garbage.jpg"]
    assert "garbage.jpg" in failed[0].message and "not an image" in failed[0].message
    assert "\n" not in failed[0].message and failed[0].output is None
    assert _rows(base / "ray")["garbage.jpg"]["status"] == "failed"
    assert all(e.result.status == "done" for e in events if e.result.source.name != "garbage.jpg")


def test_a_ray_run_then_a_local_run_skips_everything(both_engines, segmenter):
    base, *_ = both_engines
    again = run_batch_to_end([base / "in"], base / "ray", ExportOptions(), segmenter=segmenter)
    assert (again.done, again.skipped, again.failed) == (0, 4, 1)


def test_cancel_finishes_the_photos_in_flight_and_a_rerun_resumes(local_ray, tmp_path):
    src = _folder(tmp_path / "in", 12)
    out = tmp_path / "out"
    cancel = threading.Event()
    from cutout_studio.core.ray_engine import run_batch_ray

    gen = run_batch_ray([src], out, ExportOptions(), device="cpu", cancel=cancel)
    first = []

    def on_progress(event):
        first.append(event.result)
        cancel.set()  # after the first photo: stop handing out more

    summary = drain(gen, on_progress)
    assert summary.cancelled and 1 <= summary.done < 12
    finished = {p: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert len(finished) == summary.done  # every photo in flight was finished and recorded
    with (out / REPORT_NAME).open(encoding="utf-8") as fh:
        lines = [r for r in csv.DictReader(fh)]
    assert lines[-1]["status"] == "cancelled" and f"{12 - summary.done} not processed" in lines[-1]["message"]
    assert not (out / STAGING).exists()

    second, _ = _ray_run([src], out)
    assert (second.skipped, second.done, second.cancelled) == (len(finished), 12 - len(finished), False)
    for path, mtime in finished.items():
        assert path.stat().st_mtime_ns == mtime


def test_cancelled_before_the_first_photo_starts_none(local_ray, tmp_path):
    src = _folder(tmp_path / "in", 3)
    cancel = threading.Event()
    cancel.set()
    summary, events = _ray_run([src], tmp_path / "out", cancel=cancel)
    assert summary.cancelled and events == [] and not list((tmp_path / "out").glob("*.png"))
    assert "cancelled, 3 not processed" in (tmp_path / "out" / REPORT_NAME).read_text(encoding="utf-8")


def test_ray_batch_killed_half_way_resumes_without_redoing_finished_files(local_ray, model_home, tmp_path):
    """A real SIGKILL of the CLI driver (``--engine ray``, its own local Ray) mid-batch, then again."""
    src = _folder(tmp_path / "in", 12)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cutout_studio", "batch", str(src), "-o", str(out), "--engine", "ray",
           "--device", "cpu"]
    env = {**os.environ, **_worker_env(model_home)}
    env.pop("RAY_ADDRESS", None)  # its own Ray, not the tests'
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while len(list(out.glob("*.png"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray it started
    proc.wait()
    finished = {p: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert 3 <= len(finished) < 12, "the kill should land mid-batch"

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{12 - len(finished)} done, {len(finished)} skipped" in rerun.stderr
    assert len(list(out.glob("*.png"))) == 12 and not (out / STAGING).exists()
    assert not list(out.rglob("*.part"))
    for path, mtime in finished.items():
        assert path.stat().st_mtime_ns == mtime


def test_ctrl_c_on_the_command_line_finishes_the_photos_in_flight(local_ray, model_home, tmp_path):
    """What a terminal's Ctrl-C does: SIGINT to the whole foreground group, Ray's own processes
    included. They must survive it: the driver finishes what is in flight and exits 130."""
    src = _folder(tmp_path / "in", 16)
    out = tmp_path / "out"
    env = {**os.environ, **_worker_env(model_home)}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "-m", "cutout_studio", "batch", str(src), "-o", str(out),
                             "--engine", "ray", "--device", "cpu"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while not list(out.glob("*.png")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    done = len(list(out.glob("*.png")))
    assert proc.returncode == 130, err
    assert 1 <= done < 16 and f"{done} done" in err and f"cancelled, {16 - done} not processed" in err
    with (out / REPORT_NAME).open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sum(r["status"] == "done" for r in rows) == done and rows[-1]["status"] == "cancelled"
    assert not (out / STAGING).exists()
