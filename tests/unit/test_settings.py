"""The settings store: typed defaults, tolerant loading, atomic saving."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.settings import (
    RECENT_LIMIT,
    ExportPreset,
    Settings,
    load_settings,
    save_settings,
    settings_path,
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CUTOUT_STUDIO_HOME", str(tmp_path))
    return tmp_path


def test_missing_file_gives_defaults(home: Path) -> None:
    assert not settings_path().exists()
    assert load_settings() == Settings()
    assert settings_path().parent == home / "config"


def test_round_trip_keeps_every_value(home: Path) -> None:
    settings = Settings()
    settings.editor.brush_size = 77.0
    settings.editor.overlay_color = "#123456"
    settings.export = ExportPreset(
        format="webp",
        quality=80,
        background="#ffffff",
        crop=True,
        padding=5.0,
        padding_unit="%",
        square=True,
        feather=1.5,
        shift=-2.0,
        matting=True,
    )
    settings.add_recent(home / "a.jpg")
    settings.last_export_dir = str(home / "out")
    path = save_settings(settings)
    assert path == settings_path()
    assert load_settings() == settings


def test_corrupt_file_is_set_aside_and_defaults_used(home: Path) -> None:
    path = settings_path()
    path.write_text("{ not json", encoding="utf-8")
    assert load_settings() == Settings()
    assert not path.exists()
    assert path.with_name("settings.json.corrupt").read_text(encoding="utf-8") == "{ not json"


def test_bad_values_fall_back_one_by_one(home: Path) -> None:
    data = {
        "editor": {"brush_size": "huge", "overlay_opacity": 0.2, "view_mode": 3},
        "export": {"format": "gif", "crop": True, "padding": 4},
        "recent_files": ["/a.jpg", 5, "/b.jpg"],
        "last_open_dir": None,
        "unknown_key": 1,
    }
    settings_path().write_text(json.dumps(data), encoding="utf-8")
    settings = load_settings()
    assert settings.editor.brush_size == Settings().editor.brush_size
    assert settings.editor.overlay_opacity == 0.2
    assert settings.editor.view_mode == "overlay"
    assert settings.export.format == "png" and settings.export.crop is True and settings.export.padding == 4.0
    assert settings.recent_files == ["/a.jpg", "/b.jpg"]
    assert settings.last_open_dir == ""


def test_a_preset_the_engine_refuses_is_replaced_by_the_default(home: Path) -> None:
    settings_path().write_text(json.dumps({"export": {"format": "jpeg", "quality": 0}}), encoding="utf-8")
    assert load_settings().export == ExportPreset()


def test_top_level_that_is_not_an_object_is_corrupt(home: Path) -> None:
    settings_path().write_text("[1, 2]", encoding="utf-8")
    assert load_settings() == Settings()


def test_save_is_atomic_and_leaves_no_temporary_files(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    save_settings(settings)
    before = settings_path().read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    settings.editor.brush_size = 99.0
    with pytest.raises(OSError, match="disk full"):
        save_settings(settings)
    assert settings_path().read_bytes() == before
    assert sorted(p.name for p in settings_path().parent.iterdir()) == ["settings.json"]


def test_recent_files_are_unique_newest_first_and_bounded() -> None:
    settings = Settings()
    for i in range(RECENT_LIMIT + 3):
        settings.add_recent(f"/photos/{i}.jpg")
    settings.add_recent("/photos/5.jpg")
    assert settings.recent_files[0] == str(Path("/photos/5.jpg"))
    assert len(settings.recent_files) == RECENT_LIMIT
    assert len(set(settings.recent_files)) == RECENT_LIMIT


def test_preset_converts_to_engine_options() -> None:
    preset = ExportPreset(
        format="webp",
        quality=90,
        background="white",
        crop=True,
        padding=10.0,
        feather=2.0,
        decontaminate=False,
    )
    options = preset.to_export_options(overwrite=True)
    assert options.format == "webp" and options.quality == 90 and options.background == (255, 255, 255)
    assert options.crop and options.padding == 10.0 and options.overwrite
    assert options.edges == EdgeOptions(feather=2.0, shift=0.0, matting=False, decontaminate=False)
