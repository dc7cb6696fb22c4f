"""The command line as a user meets it: exit codes, messages, outputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cutout_studio
from cutout_studio.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
PHOTO = DATA / "objects-coco__teddy_bear04_000000325527.jpg"


def test_cut_beside_the_photo_in_a_unicode_folder_with_spaces(model_home, tmp_path, capsys):
    folder = tmp_path / "Ünïcødé photos 写真"
    folder.mkdir()
    src = folder / "bear photo.jpg"
    shutil.copy(PHOTO, src)
    before = src.read_bytes()
    assert main(["cut", str(src)]) == 0
    out = folder / "bear photo_cutout.png"
    with Image.open(out) as im:
        assert im.mode == "RGBA" and im.size == Image.open(src).size
    assert src.read_bytes() == before
    # never an existing output unless asked
    assert main(["cut", str(src)]) == 0
    assert "1 skipped" in capsys.readouterr().err


def test_exif_rotated_photo_comes_out_upright(model_home, tmp_path):
    upright = Image.open(PHOTO)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera held sideways stores
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    stored.save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    assert main(["cut", str(tmp_path / "rotated.jpg"), "-o", str(tmp_path / "out")]) == 0
    with Image.open(tmp_path / "out" / "rotated.png") as im:
        assert im.size == upright.size
        assert im.getexif().get(0x0112, 1) == 1
        rgb = np.asarray(im.convert("RGB"), np.float32)
    reference = np.asarray(upright.convert("RGB"), np.float32)
    opaque = np.asarray(im.getchannel("A")) == 255
    assert np.abs(rgb[opaque] - reference[opaque]).mean() < 6  # same pixels, same orientation


def test_batch_exit_status_1_when_some_files_fail(model_home, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(PHOTO, src / "good.jpg")
    (src / "text.jpg").write_text("this is not a photo")
    (src / "empty.png").write_bytes(b"")
    code = main(["batch", str(src), "-o", str(tmp_path / "out"), "--format", "webp", "--quality", "80"])
    err = capsys.readouterr().err
    assert code == 1
    assert "text.jpg: not an image" in err and "empty.png: empty file" in err
    assert "1 done" in err and "2 failed" in err
    with Image.open(tmp_path / "out" / "good.webp") as im:
        assert im.mode == "RGBA"


def test_batch_into_an_unwritable_place_fails_per_file_with_a_reason(model_home, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(PHOTO, src / "good.jpg")
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should be")
    # (-o naming the file itself is a usage error: test_output_folder_that_is_a_file_is_a_usage_error)
    code = main(["batch", str(src), "-o", str(blocker / "cutouts")])
    err = capsys.readouterr().err
    assert code == 1 and "good" in err and "failed" in err
    assert blocker.read_text() == "a file where the output folder should be"


def test_mask_output_background_crop_and_jpeg(model_home, tmp_path):
    out = tmp_path / "out"
    assert main(["cut", str(PHOTO), "-o", str(out), "--output", "mask"]) == 0
    with Image.open(out / (PHOTO.stem + ".png")) as im:
        assert im.mode == "L"
    assert main(["cut", str(PHOTO), "-o", str(out / "j"), "--format", "jpeg", "--background", "#ffffff",
                 "--crop", "--padding", "5%"]) == 0
    with Image.open(out / "j" / (PHOTO.stem + ".jpg")) as im:
        assert im.mode == "RGB" and im.size[0] < Image.open(PHOTO).size[0]


@pytest.mark.parametrize("args", [
    ["cut", "x.jpg", "--format", "jpeg"],            # JPEG needs a background
    ["cut", "x.jpg", "--padding", "lots"],
    ["cut", "x.jpg", "--padding=-5"],
    ["cut", "x.jpg", "--feather=-1"],
    ["cut", "x.jpg", "--background", "not-a-colour"],
    ["cut", "x.jpg", "--quality", "0"],
    ["batch", "does-not-exist", "-o", "out"],
    ["cut", "x.jpg", "--device", "quantum"],
    ["frobnicate"],
])
def test_usage_errors_exit_2(model_home, args, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(PHOTO, tmp_path / "x.jpg")
    with pytest.raises(SystemExit) as exc_info:
        code = main(args)
        raise SystemExit(code)
    assert exc_info.value.code == 2
    assert capsys.readouterr().err.strip()


def test_missing_model_is_a_usage_error_with_the_fix(tmp_path, monkeypatch, capsys):
    from cutout_studio.core import segmenter

    monkeypatch.setenv("CUTOUT_STUDIO_HOME", str(tmp_path / "empty-home"))
    monkeypatch.setattr(segmenter, "_MODELS", {})  # forget the model other tests loaded
    shutil.copy(PHOTO, tmp_path / "x.jpg")
    assert main(["cut", str(tmp_path / "x.jpg")]) == 2
    assert "cutout-studio models install u2netp" in capsys.readouterr().err


def test_models_list_and_selftest(model_home, capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "u2netp" in out and "installed" in out and "unet" in out
    assert main(["--selftest"]) == 0
    assert "selftest: OK" in capsys.readouterr().out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland check is Linux-only")
def test_editor_without_a_display_says_so_instead_of_aborting(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env["CUTOUT_STUDIO_HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "cutout_studio", "gui"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "no display" in proc.stderr and "cutout-studio cut FILE" in proc.stderr


def test_console_run_keeps_exit_status_and_output_after_a_fast_exit(model_home, tmp_path):
    """`python -m cutout_studio` ends without interpreter teardown; nothing may be lost by it."""
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(PHOTO, src / "bear.jpg")
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    env = {**os.environ, "CUTOUT_STUDIO_HOME": str(model_home)}
    proc = subprocess.run([sys.executable, "-m", "cutout_studio", "batch", str(src), "-o", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1  # one file failed
    assert "1 done, 0 skipped (already done), 1 failed" in proc.stderr
    report = (tmp_path / "out" / "cutout-report.csv").read_text(encoding="utf-8").splitlines()
    assert len(report) == 3 and report[0].startswith("file,status")
    with Image.open(tmp_path / "out" / "bear.png") as im:
        assert im.mode == "RGBA"


def _run_cli(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess:
    # this checkout's package, whatever the working folder
    root = str(Path(cutout_studio.__file__).resolve().parents[1])
    env = {**os.environ, "CUTOUT_STUDIO_HOME": str(home),
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "cutout_studio", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(("flags", "reason"), [
    # case 5 (issue 8): these hung, filled memory or crashed in OpenCV
    (["--batch-size", "0"], "batch size must be 1 to 64, got 0"),
    (["--batch-size=-3"], "batch size must be 1 to 64, got -3"),
    (["--shift", "1e9"], "shift must be -100 to 100 px, got 1e+09"),
    (["--shift", "2000"], "shift must be -100 to 100 px, got 2000"),
    (["--feather", "1e9"], "feather must be 0 to 100 px, got 1e+09"),
    (["--padding", "5000%", "--crop"], "padding must be 0 to 1000 %"),
    # case 6: a broken background image, once, before anything is written
    (["--background", "bg.jpg"], "background image bg.jpg: "),
    # case 13: JPEG has no transparency
    (["--format", "jpeg"], "JPEG has no transparency"),
], ids=["batch-size-0", "batch-size-neg", "shift-1e9", "shift-2000", "feather-1e9", "padding-percent",
        "broken-background", "jpeg-transparent"])
def test_bad_option_values_are_one_line_usage_errors_and_write_nothing(tmp_path, flags, reason):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(PHOTO, work / "x.jpg")
    (work / "bg.jpg").write_bytes(b"not a jpeg at all")
    before = _tree(tmp_path)
    proc = _run_cli(["batch", "x.jpg", "-o", "out", *flags], work, tmp_path / "home")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and reason in lines[0], proc.stderr
    assert proc.stdout == ""
    assert _tree(tmp_path) == before  # no output folder, no report, no model folder


@pytest.mark.parametrize("command", ["batch", "cut"])
def test_output_folder_that_is_a_file_is_a_usage_error(tmp_path, command):
    # case 6 (issue 8): `-o` naming an existing file failed photo after photo
    shutil.copy(PHOTO, tmp_path / "x.jpg")
    (tmp_path / "taken").write_text("a file", encoding="utf-8")
    before = _tree(tmp_path)
    proc = _run_cli([command, "x.jpg", "-o", "taken"], tmp_path, tmp_path / "home")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "'taken' is a file, not a folder" in lines[0], proc.stderr
    assert _tree(tmp_path) == before


def test_format_choices_and_ranges_come_from_the_schema(capsys):
    from cutout_studio.core.export import FORMATS

    with pytest.raises(SystemExit):
        main(["batch", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "{" + ",".join(FORMATS) + "}" in text
    assert "-100 to 100 px" in text and "0 to 100 px" in text and "1 to 64" in text


def test_batch_names_outputs_with_the_naming_pattern_and_refuses_one_without_stem(model_home, tmp_path, capsys):
    """Issue 15: the preset's naming pattern is an option like the others, in the CLI too."""
    src = tmp_path / "shoot"
    (src / "day1").mkdir(parents=True)
    shutil.copy(DATA / "davis__davis032.jpg", src / "day1" / "look.jpg")
    assert main(["batch", str(src), "-o", str(tmp_path / "out"), "--naming", "{stem}_white"]) == 0
    assert (tmp_path / "out" / "day1" / "look_white.png").is_file()
    with pytest.raises(SystemExit) as usage:
        main(["batch", str(src), "-o", str(tmp_path / "out2"), "--naming", "same"])
    assert usage.value.code == 2 and "must contain {stem}" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()
