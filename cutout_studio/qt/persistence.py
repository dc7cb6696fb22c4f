"""The editor's memory between runs: the state from the settings file, and back, debounced.

:class:`SettingsKeeper` is the one place that reads the :class:`EditorState` from the
:class:`Settings` at start and writes it back: every change of the state is mirrored into the
settings object at once and written to disk a second after the last change (edge settings
included, so a crash does not lose them), and :meth:`SettingsKeeper.save` writes at close.
The last folders (open, export, batch) are kept absolute: :meth:`SettingsKeeper.remember_folder`.
Window geometry is left to Qt, in an INI file beside the settings (never the system registry).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtWidgets import QMainWindow

from cutout_studio.core import paths
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.settings import Settings, save_settings
from cutout_studio.qt.state import EditorState

_log = logging.getLogger(__name__)

WINDOW_STATE_FILE = "window.ini"
#: Quiet time after the last change before the settings file is written.
SAVE_DELAY_MS = 1000
#: Folders remembered in the settings: stored absolute (the next launch may start elsewhere).
_FOLDERS = ("last_open_dir", "last_export_dir", "last_batch_dir")
#: EditorState properties kept in ``Settings.editor`` (the tool is chosen afresh each run).
_EDITOR_FIELDS = ("brush_size", "brush_hardness", "view_mode", "overlay_color", "overlay_opacity", "cutout_color")


def _folder_name(name: str) -> str:
    if name not in _FOLDERS:
        raise ValueError(f"not a remembered folder: {name!r} (one of {', '.join(_FOLDERS)})")
    return name


def load_state(state: EditorState, settings: Settings) -> None:
    """Set ``state`` from ``settings``; a stored value the state refuses keeps its default."""
    for name in _EDITOR_FIELDS:
        value = getattr(settings.editor, name)
        try:
            setattr(state, name, value)
        except ValueError as exc:
            _log.warning("settings: ignoring editor %s=%r (%s)", name, value, exc)
    state.export = _without_plate(settings.export)


def store_state(state: EditorState, settings: Settings) -> None:
    """Copy ``state`` into ``settings`` (in memory)."""
    for name in _EDITOR_FIELDS:
        setattr(settings.editor, name, getattr(state, name))
    settings.export = _without_plate(state.export)


_stripped: list[tuple[ExportOptions, ExportOptions]] = []  #: the last (options, without their plate)


def _without_plate(options: ExportOptions) -> ExportOptions:
    """``options`` without the clean plate: the plate is the shoot's (its record in
    ``shoots.json``), not carried to the next shoot opened (remembered: the state is copied
    on every change, and options re-read their background image when made)."""
    if options.clean_plate is None:
        return options
    if not _stripped or _stripped[0][0] is not options:
        _stripped[:] = [(options, dataclasses.replace(options, clean_plate=None))]
    return _stripped[0][1]


class SettingsKeeper(QObject):
    """Keeps ``settings`` equal to ``state`` and writes it to disk soon after each change."""

    #: the settings file could not be written (the reason)
    save_failed = Signal(str)

    def __init__(self, state: EditorState, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.settings = settings
        load_state(state, settings)
        store_state(state, settings)  # refused values are not written back either
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SAVE_DELAY_MS)
        self._timer.timeout.connect(self.save)
        state.changed.connect(self._changed)

    def _changed(self, _name: str) -> None:
        store_state(self.state, self.settings)
        self._timer.start()

    def folder(self, name: str) -> str:
        """A remembered folder (``"last_export_dir"``…); "" when none is."""
        return str(getattr(self.settings, _folder_name(name)))

    def remember_folder(self, name: str, folder: str | os.PathLike[str]) -> None:
        """Remember ``folder`` (absolute: the next launch may start elsewhere); written soon."""
        setattr(self.settings, _folder_name(name), str(Path(folder).resolve()))
        self._timer.start()

    def save(self) -> None:
        """Write the settings now (the folders made absolute); ``save_failed`` if impossible."""
        self._timer.stop()
        settings = self.settings
        for name in _FOLDERS:
            value = getattr(settings, name)
            if value and not Path(value).is_absolute():  # relative to where we were launched
                setattr(settings, name, str(Path(value).resolve()))
        try:
            save_settings(settings)
        except OSError as exc:
            _log.warning("cannot save the settings: %s", exc)
            self.save_failed.emit(str(exc))


def window_state_store() -> QSettings:
    return QSettings(str(paths.config_dir() / WINDOW_STATE_FILE), QSettings.Format.IniFormat)


def restore_geometry(window: QMainWindow) -> None:
    store = window_state_store()
    geometry = store.value("geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    else:
        window.resize(1400, 900)
    state = store.value("state")
    if state is not None:
        window.restoreState(state)


def save_geometry(window: QMainWindow) -> None:
    store = window_state_store()
    store.setValue("geometry", window.saveGeometry())
    store.setValue("state", window.saveState())
    store.sync()
