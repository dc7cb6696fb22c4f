"""The batch on object-store URLs (core/storage.py): the same outputs, manifest, report, resume
and per-photo errors as on local paths.

``memory://`` (fsspec's in-process filesystem) stands in for an object store with the local
engine; ``file://`` URLs go through the same storage layer in another process (a real kill)
and on Ray (whose workers are other processes). Ray tests skip where Ray is not installed, as
in tests/unit/test_ray_engine.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import fsspec
import pytest

from cutout_studio.cli import main
from cutout_studio.core.batch import REPORT_NAME, run_batch_to_end
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.folder_lock import LOCK_NAME, FolderLockedError, lock_folders
from cutout_studio.core.manifest import CHUNKS_NAME, MANIFEST_NAME
from cutout_studio.core.storage import is_url, location

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
PHOTOS = sorted(DATA.glob("*.jpg"))
GARBAGE = b"\x13\x37 these bytes are not a JPEG" * 40
MEMORY = fsspec.filesystem("memory")


def _tree(root: Path, count: int = 3) -> Path:
    """root/p00.jpg…, root/sub/p0N.jpg (the last one), root/garbage.jpg and a non-image."""
    (root / "sub").mkdir(parents=True)
    for i in range(count):
        shutil.copy(PHOTOS[i], root / ("sub" if i == count - 1 else "") / f"p{i:02d}.jpg")
    (root / "garbage.jpg").write_bytes(GARBAGE)
    (root / "notes.txt").write_text("not a photo")
    return root


def _to_memory(local: Path) -> str:
    """A copy of a local folder in memory://, at a fresh bucket; returns its URL."""
    url = f"memory://t{uuid.uuid4().hex[:8]}/in"
    for path in sorted(local.rglob("*")):
        if path.is_file():
            MEMORY.pipe_file(f"{location(url).key}/{path.relative_to(local).as_posix()}", path.read_bytes())
    return url


def _files(top: str | Path) -> dict[str, bytes]:
    """Every file under a local folder or a URL, by '/'-separated relative name."""
    if is_url(str(top)):
        where = location(str(top))
        fs, base = where.fs, where.key.rstrip("/")  # type: ignore[attr-defined]
        return {key[len(base) + 1:]: fs.cat_file(key) for key in fs.find(base)}
    return {p.relative_to(top).as_posix(): p.read_bytes() for p in Path(top).rglob("*") if p.is_file()}


def _rows(report: bytes) -> dict[str, dict[str, str]]:
    return {location(r["file"]).name: r for r in csv.DictReader(io.StringIO(report.decode("utf-8"))) if r["file"]}


def _manifest(data: bytes) -> dict[str, tuple[str, str, str]]:
    lines = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    return {d["output"]: (location(d["source"]).name, d["settings"], d["status"]) for d in lines}


@pytest.fixture(scope="module")
def local_and_memory(segmenter, tmp_path_factory):
    """The same folder cut from local paths and from memory:// URLs into memory://."""
    base = tmp_path_factory.mktemp("urls")
    src = _tree(base / "in")
    local = run_batch_to_end([src], base / "out", ExportOptions(), segmenter=segmenter)
    url_in = _to_memory(src)
    url_out = url_in.replace("/in", "/out")
    events: list = []
    on_urls = run_batch_to_end([url_in], url_out, ExportOptions(), segmenter=segmenter, on_progress=events.append)
    yield base, local, url_in, url_out, on_urls, events
    MEMORY.rm(location(url_in).parent.key, recursive=True)  # type: ignore[attr-defined]


def test_urls_give_the_local_runs_outputs_report_and_manifest(local_and_memory):
    base, local, _, url_out, on_urls, events = local_and_memory
    assert (on_urls.done, on_urls.failed, on_urls.total) == (local.done, local.failed, local.total) == (3, 1, 4)
    assert [e.done for e in events] == [1, 2, 3, 4]
    assert str(on_urls.report) == f"{url_out}/{REPORT_NAME}"
    here, there = _files(base / "out"), _files(url_out)
    outputs = sorted(name for name in here if name.endswith(".png"))
    assert outputs == ["p00.png", "p01.png", "sub/p02.png"]  # the same mirrored layout
    assert sorted(name for name in there if name.endswith(".png")) == outputs
    for name in outputs:
        assert there[name] == here[name], name  # byte for byte
    local_rows, url_rows = _rows(here[REPORT_NAME]), _rows(there[REPORT_NAME])
    assert set(url_rows) == set(local_rows)
    for name, row in local_rows.items():
        for key in ("status", "message", "confidence", "compliance"):
            assert url_rows[name][key] == row[key], (name, key)
    assert url_rows["p00.jpg"]["output"] == f"{url_out}/p00.png"
    assert _manifest(there[MANIFEST_NAME]) == _manifest(here[MANIFEST_NAME])
    # nothing else left in the bucket: no lock object, no manifest line objects, no staging
    assert sorted(name for name in there if name.startswith(".")) == [MANIFEST_NAME]


def test_a_bad_file_among_url_inputs_fails_with_its_reason(local_and_memory):
    *_, events = local_and_memory
    failed = [e.result for e in events if e.result.status == "failed"]
    assert [r.source.name for r in failed] == ["garbage.jpg"]
    assert failed[0].message.startswith("garbage.jpg: ") and "\n" not in failed[0].message
    assert str(failed[0].source).startswith("memory://")


def test_a_rerun_on_urls_redoes_nothing(local_and_memory, segmenter):
    _, _, url_in, url_out, _, _ = local_and_memory
    before = _files(url_out)
    again = run_batch_to_end([url_in], url_out, ExportOptions(), segmenter=segmenter)
    assert (again.done, again.skipped, again.failed) == (0, 3, 1)
    after = _files(url_out)
    assert {k: v for k, v in after.items() if k.endswith(".png")} == {k: v for k, v in before.items()
                                                                          if k.endswith(".png")}
    # and the outputs are never taken for photos when the output folder is inside the input
    inside = run_batch_to_end([url_in.rsplit("/", 1)[0]], url_out, ExportOptions(), segmenter=segmenter)
    assert inside.total == 4 and inside.skipped == 0  # in/… mirrored under out/in/: new names


def test_local_photos_into_a_url_folder_and_url_photos_into_a_local_folder(segmenter, tmp_path):
    src = _tree(tmp_path / "in", count=1)
    url_out = f"memory://t{uuid.uuid4().hex[:8]}/out"
    to_url = run_batch_to_end([src], url_out, ExportOptions(), segmenter=segmenter)
    url_in = _to_memory(src)
    to_local = run_batch_to_end([url_in], tmp_path / "out", ExportOptions(), segmenter=segmenter)
    assert (to_url.done, to_url.failed) == (to_local.done, to_local.failed) == (1, 1)
    assert _files(url_out)["sub/p00.png"] == (tmp_path / "out" / "sub" / "p00.png").read_bytes()


# --------------------------------------------------------------------------------------------
# the command line: what is missing is said in one line, before any work


@pytest.mark.parametrize(("url", "package"), [("s3://bucket/photos", "s3fs"), ("gs://bucket/photos", "gcsfs")])
def test_a_url_without_its_filesystem_package_is_one_line_saying_what_to_install(url, package, tmp_path, capsys):
    try:
        __import__(package)
        pytest.skip(f"{package} is installed here")
    except ImportError:
        pass
    for argv in (["batch", url, "-o", str(tmp_path / "out")], ["batch", str(DATA), "-o", f"{url}-out"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2
        assert len(err.splitlines()) == 1 and f"pip install {package}" in err, err
    assert not (tmp_path / "out").exists()


def test_without_fsspec_a_url_says_to_install_the_cloud_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "fsspec", None)  # an import of fsspec now fails, as where it is absent
    with pytest.raises(SystemExit) as exc:
        main(["batch", "memory://bucket/photos", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1
    assert 'pip install -e ".[cloud]"' in err, err


def test_a_missing_url_input_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["batch", f"memory://t{uuid.uuid4().hex[:8]}/nothing", "-o", str(tmp_path / "out")])
    assert exc.value.code == 2 and "not found: memory://" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# the lock object


def test_a_live_runs_lock_object_refuses_and_a_dead_ones_is_taken_over(tmp_path):
    out = location(f"memory://t{uuid.uuid4().hex[:8]}/out")
    lock = f"{out.key}/{LOCK_NAME}"  # type: ignore[attr-defined]
    import socket

    alive = {"pid": os.getppid(), "host": socket.gethostname(), "started": "2026-01-01 00:00:00",
             "heartbeat": time.time()}
    MEMORY.pipe_file(lock, json.dumps(alive).encode())
    with pytest.raises(FolderLockedError) as exc, lock_folders([out]):
        pass
    assert f"PID {os.getppid()}" in str(exc.value) and f"delete {out}/{LOCK_NAME}" in str(exc.value)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    MEMORY.pipe_file(lock, json.dumps({**alive, "pid": dead.pid}).encode())
    with lock_folders([out]):
        held = json.loads(MEMORY.cat_file(lock))
        assert held["pid"] == os.getpid()
        with pytest.raises(FolderLockedError), lock_folders([out]):  # and it excludes a second run
            pass
    assert not MEMORY.exists(lock)  # released


# --------------------------------------------------------------------------------------------
# a real kill (file:// URLs, the command line in another process), and leftovers of ours


def _worker_env(model_home: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "CUTOUT_STUDIO_HOME": str(model_home)}


def test_a_url_batch_killed_half_way_resumes_without_redoing_finished_files(model_home, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(10):
        shutil.copy(PHOTOS[i % len(PHOTOS)], src / f"p{i:02d}.jpg")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cutout_studio", "batch", f"file://{src}", "-o", f"file://{out}", "--device", "cpu"]
    proc = subprocess.Popen(cmd, env=_worker_env(model_home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while len(list(out.glob("*.png"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert 3 <= len(finished) < 10, "the kill should land mid-batch"
    assert (out / LOCK_NAME).exists()  # an object store keeps a dead run's lock object…
    assert list((out / CHUNKS_NAME).glob("*.jsonl"))  # …and its manifest lines, one object each
    (out / ".p09.png.0123abcd.part").write_bytes(b"half an upload")  # as a kill mid-upload leaves

    rerun = subprocess.run(cmd, env=_worker_env(model_home), capture_output=True, text=True, check=False,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr  # the dead run's lock (its PID is gone) is taken over
    assert f"{10 - len(finished)} done, {len(finished)} skipped" in rerun.stderr
    assert len(list(out.glob("*.png"))) == 10
    for path, mtime in finished.items():
        assert path.stat().st_mtime_ns == mtime
    # merged into one manifest object; no lock, no temporary name, no staging left
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [MANIFEST_NAME]
    assert len((out / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()) == 10


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_a_rerun_removes_the_temporary_files_of_ours_a_killed_run_left(segmenter, tmp_path, as_url):
    """A kill while the clip-path sidecar was being written leaves ``.NAME.svg.<hex>.part``."""
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(PHOTOS[0], src / "a.jpg")
    out = tmp_path / "out"
    out.mkdir()
    ours = [".a.svg.0123abcd.part", ".a.png.89abcdef.part"]
    others = [".b.svg.0123abcd.part", "a.svg.part", ".a.svg.part", ".a.svg.0123.part", "keep.txt"]
    for name in ours + others:
        (out / name).write_bytes(b"left over")
    options = ExportOptions(clip_path=True)
    target: str | Path = f"file://{out}" if as_url else out
    summary = run_batch_to_end([f"file://{src}" if as_url else src], target, options, segmenter=segmenter)
    assert summary.done == 1
    left = sorted(p.name for p in out.iterdir())
    assert not set(ours) & set(left)
    assert set(others) <= set(left)
    assert {"a.png", "a.svg"} <= set(left)  # the sidecar itself, uploaded with its output


# --------------------------------------------------------------------------------------------
# Ray: file:// URLs, which every worker process reads and writes through fsspec



def test_ray_on_file_urls_gives_the_local_engines_outputs(local_ray, segmenter, tmp_path):
    from cutout_studio.core.batch import drain
    from cutout_studio.core.ray_engine import STAGING, run_batch_ray

    src = _tree(tmp_path / "in")
    options = ExportOptions(clip_path=True)
    local = run_batch_to_end([src], tmp_path / "local", options, segmenter=segmenter)
    events: list = []
    url_out = f"file://{tmp_path / 'ray'}"
    on_ray = drain(run_batch_ray([f"file://{src}"], url_out, options, device="cpu"), events.append)
    assert (on_ray.done, on_ray.failed, on_ray.total) == (local.done, local.failed, local.total) == (3, 1, 4)
    assert [e.result.message for e in events if e.result.status == "failed"][0].startswith("garbage.jpg: ")
    here, there = _files(tmp_path / "local"), _files(tmp_path / "ray")
    made = sorted(name for name in here if name.endswith((".png", ".svg")))
    assert len(made) == 6 and sorted(name for name in there if name.endswith((".png", ".svg"))) == made
    for name in made:
        assert there[name] == here[name], name
    assert _manifest(there[MANIFEST_NAME]) == _manifest(here[MANIFEST_NAME])
    assert not (tmp_path / "ray" / STAGING).exists() and not (tmp_path / "ray" / LOCK_NAME).exists()
    again = drain(run_batch_ray([f"file://{src}"], url_out, options, device="cpu"), None)
    assert (again.done, again.skipped) == (0, 3)


def test_ray_refuses_memory_urls_which_its_workers_cannot_see(tmp_path, capsys):
    pytest.importorskip("ray")
    with pytest.raises(SystemExit) as exc:
        main(["batch", str(DATA), "-o", f"memory://t{uuid.uuid4().hex[:8]}/out", "--engine", "ray"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "memory://" in err, err


def test_a_remote_line_counts_only_once_its_output_is_there_with_its_size(tmp_path):
    """On an object store the line is written before the output's put: a kill between them
    leaves a line without its output (redone), or over an older output (kept as stale)."""
    from cutout_studio.core.manifest import Manifest
    from cutout_studio.core.storage import write_bytes

    root = location(f"memory://t{uuid.uuid4().hex[:8]}/out")
    photo = tmp_path / "a.jpg"
    shutil.copy(PHOTOS[0], photo)
    output = root / "a.png"
    manifest = Manifest.load(root)
    manifest.open()
    manifest.record(photo, output, "settings", "done", output_size=1234)
    manifest.close()
    assert Manifest.load(root).state(photo, output, "settings") == "missing"
    write_bytes(output, b"an older output" * 10)
    assert Manifest.load(root).state(photo, output, "settings") == "stale"
    write_bytes(output, b"x" * 1234)
    assert Manifest.load(root).state(photo, output, "settings") == "fresh"
    # merged into one object at the end of the run, the line objects gone
    key = root.key  # type: ignore[attr-defined]
    assert MEMORY.exists(f"{key}/{MANIFEST_NAME}")
    assert not MEMORY.find(f"{key}/{CHUNKS_NAME}")
