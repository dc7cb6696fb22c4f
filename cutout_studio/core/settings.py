"""The one settings store: a small typed JSON file in the config folder, shared by GUI and CLI.

Everything the user expects to be remembered between runs lives here (last folders, export
preset, brush size, overlay colour); only window geometry is left to the GUI toolkit. The
file is read tolerantly: a missing file gives the defaults, a corrupt file is set aside as
``settings.json.corrupt`` (so the user's old values are not destroyed) and the defaults are
used, and a single bad value falls back to its default without losing the others. The
export preset is stored as the engine's :class:`ExportOptions` (their own ``to_dict`` /
``from_dict``), so the rules are the engine's. Saving is atomic
(:mod:`cutout_studio.core.atomic`), so a crash mid-save never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from cutout_studio.core import paths
from cutout_studio.core.atomic import atomic_write_bytes
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.options import Options, OptionsError

_log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"
SETTINGS_VERSION = 1
RECENT_LIMIT = 10

T = TypeVar("T")


#: The export preset the user last chose is the engine's own options (their JSON form is
#: :meth:`ExportOptions.to_dict`); the old name stays for callers that imported it.
ExportPreset = ExportOptions


@dataclass
class EditorSettings:
    """How the editor looks and which brush it holds."""

    brush_size: float = 24.0  #: brush diameter in screen pixels (it scales with the zoom)
    brush_hardness: float = 0.6  #: 0..1, the refine-edge brush's footprint
    overlay_color: str = "#4f6bff"
    overlay_opacity: float = 0.55
    view_mode: str = "overlay"
    cutout_color: str = "#ffffff"  #: background of the "cutout over a colour" view


@dataclass
class Settings:
    version: int = SETTINGS_VERSION
    export: ExportOptions = field(default_factory=ExportOptions)
    editor: EditorSettings = field(default_factory=EditorSettings)
    recent_files: list[str] = field(default_factory=list)
    last_open_dir: str = ""
    last_export_dir: str = ""
    last_batch_dir: str = ""
    model: str = "default"
    #: keep each photo finished in the editor (photo + final mask) in the corrections set, to tune
    #: a personal model on (core/corrections.py); opt-in: the photos stay on this computer
    keep_corrections: bool = False

    def add_recent(self, path: str | os.PathLike[str]) -> None:
        """Put ``path`` first in the recent files (no duplicates, at most RECENT_LIMIT)."""
        text = str(Path(path))
        self.recent_files = [text] + [p for p in self.recent_files if p != text]
        del self.recent_files[RECENT_LIMIT:]


def settings_path() -> Path:
    return paths.config_dir() / SETTINGS_FILE


def load_settings(path: Path | None = None) -> Settings:
    """The stored settings, or the defaults for anything missing, unreadable or invalid."""
    path = path or settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        _log.warning("cannot read %s (%s): using default settings", path, exc)
        return Settings()
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the top level is not an object")
    except ValueError as exc:
        _set_aside(path, exc)
        return Settings()
    settings = _from_dict(Settings, data)
    settings.version = SETTINGS_VERSION
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings atomically; returns the file written. Raises OSError if impossible."""
    path = path or settings_path()
    text = json.dumps(_to_dict(settings), indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def _to_dict(obj: Any) -> dict[str, Any]:
    """JSON values of a settings dataclass; option classes serialise themselves."""
    if isinstance(obj, Options):
        return obj.to_dict()
    return {
        f.name: _to_dict(value) if dataclasses.is_dataclass(value) else value
        for f in dataclasses.fields(obj)
        for value in [getattr(obj, f.name)]
    }


def _set_aside(path: Path, reason: Exception) -> None:
    backup = path.with_name(path.name + ".corrupt")
    _log.warning("settings file %s is corrupt (%s): moved to %s, using defaults", path, reason, backup.name)
    try:
        os.replace(path, backup)
    except OSError:
        pass  # read-only folder: the next save fails too and says so


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from ``data``, keeping the default for every missing or bad value."""
    hints = typing.get_type_hints(cls)
    default = cls()
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        expected = hints[f.name]
        current = getattr(default, f.name)
        raw = data[f.name]
        if isinstance(current, Options):
            if not isinstance(raw, dict):
                _log.warning("settings: %s is not an object; using defaults", f.name)
                continue
            try:
                values[f.name] = type(current).from_dict(raw)
            except OptionsError as exc:  # refused even with the blamed values at their defaults
                _log.warning("settings: stored %s is invalid (%s); using defaults", f.name, exc)
            continue
        if dataclasses.is_dataclass(current):
            if isinstance(raw, dict):
                values[f.name] = _from_dict(type(current), raw)
            else:
                _log.warning("settings: %s is not an object; using defaults", f.name)
            continue
        ok, value = _coerce(raw, expected)
        if ok:
            values[f.name] = value
        else:
            _log.warning("settings: ignoring %s=%r (expected %s)", f.name, raw, expected)
    return dataclasses.replace(default, **values)  # type: ignore[type-var]


def _coerce(raw: Any, expected: Any) -> tuple[bool, Any]:
    """(True, value) when ``raw`` fits the annotation ``expected``; JSON ints are accepted as floats."""
    origin = typing.get_origin(expected)
    if origin is Literal:
        return (raw in typing.get_args(expected)), raw
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(expected):
            ok, value = _coerce(raw, option)
            if ok:
                return True, value
        return False, None
    if origin is list:
        (item_type,) = typing.get_args(expected)
        if not isinstance(raw, list):
            return False, None
        items = [_coerce(item, item_type) for item in raw]
        return True, [value for ok, value in items if ok]  # drop only the bad entries
    if expected is type(None):
        return raw is None, None
    if expected is bool:
        return isinstance(raw, bool), raw
    if expected is int:
        return isinstance(raw, int) and not isinstance(raw, bool), raw
    if expected is float:
        ok = (
            isinstance(raw, (int, float))
            and not isinstance(raw, bool)
            and raw == raw
            and abs(raw) != float("inf")
        )
        return ok, float(raw) if ok else None
    if expected is str:
        return isinstance(raw, str), raw
    return False, None
