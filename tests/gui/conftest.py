"""Fixtures for the editor's end-to-end tests (pytest-qt, offscreen).

Each test gets its own CUTOUT_STUDIO_HOME (settings, window state and logs start empty) whose
``models`` folder is the session's installed default model, so windows run the real model.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TEST_DATA = Path(__file__).resolve().parents[1] / "data"
TEDDY = TEST_DATA / "objects-coco__teddy_bear04_000000325527.jpg"
PERSON = TEST_DATA / "people-ccp__ccp0041.jpg"
MASK_TIMEOUT_MS = 90_000  # the real model on a busy 2-core CI machine


@pytest.fixture
def gui_home(model_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(model_home / "models", target_is_directory=True)
    monkeypatch.setenv("CUTOUT_STUDIO_HOME", str(home))
    return home


@pytest.fixture
def make_window(qtbot, gui_home: Path) -> Iterator[Callable[[], object]]:
    """Creates shown main windows; each is closed (settings saved, workers stopped) at the end."""
    from cutout_studio.qt.main_window import MainWindow

    windows: list[MainWindow] = []

    def make() -> MainWindow:
        window = MainWindow()
        qtbot.addWidget(window)
        window.resize(1200, 800)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        if window.isVisible():
            window.close()


def shoot_folder(tmp_path: Path, photos: dict[str, Path]) -> Path:
    """``tmp_path/shoot`` holding a copy of each photo under its name (``{name: source}``)."""
    folder = tmp_path / "shoot"
    folder.mkdir()
    for name, source in photos.items():
        shutil.copy(source, folder / name)
    return folder


def open_and_wait_for_mask(qtbot, window, path: Path):
    """Open ``path`` and wait until its mask is computed and drawn; returns the document."""
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        with qtbot.waitSignal(
            window.mask_ready, timeout=MASK_TIMEOUT_MS, check_params_cb=lambda doc: doc.path == path
        ):
            window.open_paths([path])
    doc = window.current
    assert doc is not None and doc.path == path and doc.ready
    return doc
