"""What a plain install needs: evaluation metrics are an extra, `eval` says how to get them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11


def test_pysodmetrics_is_an_extra_that_dev_still_pulls():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    required = " ".join(project["dependencies"])
    assert "pysodmetrics" not in required
    assert "onnxruntime" in required  # `models install u2netp` verifies against it
    extras = project["optional-dependencies"]
    assert any(dep.startswith("pysodmetrics") for dep in extras["eval"])
    assert "cutout-studio[eval]" in extras["dev"]


def test_eval_without_pysodmetrics_stops_with_a_one_line_install_hint(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    shutil.copy(DATA / "davis__davis032.jpg", tmp_path / "images" / "a.jpg")
    shutil.copy(DATA / "davis__davis032.png", tmp_path / "masks" / "a.png")
    # None in sys.modules makes `import py_sod_metrics` fail as it does where it is not installed
    code = (
        "import sys; sys.modules['py_sod_metrics'] = None; from cutout_studio.cli import main; "
        f"sys.exit(main(['eval', {str(tmp_path)!r}, '--method', 'grabcut']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "pip install 'cutout-studio[eval]'" in lines[0]
