"""The settings store: typed defaults, tolerant loading, atomic saving."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.settings import (
    RECENT_LIMIT,
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
    settings.export = ExportOptions(
        format="webp",
        quality=80,
        background="#ffffff",
        crop=True,
        padding=5.0,
        padding_unit="%",
        square=True,
        edges=EdgeOptions(feather=1.5, shift=-2.0, matting=True),
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
    assert load_settings().export == ExportOptions()


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


def test_the_stored_preset_is_the_engines_options_in_their_json_form(home: Path) -> None:
    # one schema (issue 9): the store only serialises ExportOptions; overwrite is never stored
    settings = Settings(export=ExportOptions(format="webp", quality=90, background="white", crop=True,
                                             padding=10.0, overwrite=True,
                                             edges=EdgeOptions(feather=2.0, decontaminate=False)))
    save_settings(settings)
    stored = json.loads(settings_path().read_text(encoding="utf-8"))["export"]
    assert stored == settings.export.to_dict() and "overwrite" not in stored
    assert stored["background"] == "#ffffff" and stored["edges"]["feather"] == 2.0
    loaded = load_settings().export
    assert loaded.format == "webp" and loaded.quality == 90 and loaded.background == (255, 255, 255)
    assert loaded.crop and loaded.padding == 10.0 and not loaded.overwrite
    assert loaded.edges == EdgeOptions(feather=2.0, shift=0.0, matting=False, decontaminate=False)


def test_a_preset_from_before_the_schema_keeps_its_edge_values(home: Path) -> None:
    old = {"format": "png", "background": "#000000", "feather": 1.5, "shift": -3.0, "matting": False,
           "decontaminate": False, "padding": 4, "padding_unit": "px"}
    settings_path().write_text(json.dumps({"export": old}), encoding="utf-8")
    loaded = load_settings().export
    assert loaded.background == (0, 0, 0) and loaded.padding == 4.0
    assert loaded.edges == EdgeOptions(feather=1.5, shift=-3.0, decontaminate=False)


def test_out_of_range_edge_values_fall_back_one_by_one(home: Path) -> None:
    data = {"export": {"format": "webp", "edges": {"shift": 2000, "feather": 1e9, "matting": True}}}
    settings_path().write_text(json.dumps(data), encoding="utf-8")
    loaded = load_settings().export
    assert loaded.format == "webp" and loaded.edges == EdgeOptions(matting=True)


def test_jpeg_without_a_background_is_never_loaded(home: Path) -> None:
    # case 13 (issue 8): such a preset used to load and then export nothing ("Exported 0 file(s)")
    settings_path().write_text(json.dumps({"export": {"format": "jpeg", "crop": True}}), encoding="utf-8")
    loaded = load_settings().export
    assert loaded.format == "png" and loaded.crop
