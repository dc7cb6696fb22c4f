"""File › Save recipe… and Load recipe…: the shoot's settings as a recipe file and back.

A recipe (:mod:`cutout_studio.core.recipes`) holds the model, the edge settings and the
export settings (marketplace preset, naming pattern included): saving writes what the editor
uses now (the shoot's clean plate included), loading sets the editor's export and edge settings
from the file: a recipe with a clean plate gives the shoot that plate (its photos are masked
again with it), one without keeps the shoot's own (a house-style recipe shared between shoots
does not take their plates away). The editor keeps
the model it started with (changing it means reloading it); a recipe naming another model
says so, and ``cut``/``batch --recipe`` use the recipe's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMessageBox, QStatusBar, QWidget

from cutout_studio.core.errors import CutoutError
from cutout_studio.core.models import get_card
from cutout_studio.core.recipes import load_recipe, options_from_layers, save_recipe
from cutout_studio.qt.state import EditorState

__all__ = ["RecipeFiles"]

_FILTER = "Recipes (*.toml)"


class RecipeFiles(QObject):
    """Saves and loads recipes for the window ``parent``; says what it did in ``status``."""

    def __init__(self, state: EditorState, model: Callable[[], str], status: QStatusBar, parent: QWidget) -> None:
        super().__init__(parent)
        self._state = state
        self._model = model
        self._status = status
        self._parent = parent
        self._folder = ""

    def save(self, path: Path | None = None) -> Path | None:
        """Write the recipe to ``path`` (asked for when None); None when cancelled or failed."""
        if path is None:
            name, _ = QFileDialog.getSaveFileName(self._parent, "Save recipe", self._folder or "recipe.toml", _FILTER)
            if not name:
                return None
            path = Path(name) if Path(name).suffix else Path(name + ".toml")
        try:
            written = save_recipe(path, self._state.export, self._model())
        except (OSError, ValueError, TypeError) as exc:
            self._refuse(f"Could not save the recipe {path.name}: {exc}")
            return None
        self._folder = str(written.parent)
        self._status.showMessage(f"Recipe saved: {written}", 8000)
        return written

    def load(self, path: Path | None = None) -> bool:
        """Take the export and edge settings from the recipe at ``path`` (asked for when None)."""
        if path is None:
            name, _ = QFileDialog.getOpenFileName(self._parent, "Load recipe", self._folder, _FILTER)
            if not name:
                return False
            path = Path(name)
        try:
            recipe = load_recipe(path)
            # a recipe without overwrite keeps the run's choice, as on the command line; one
            # without a clean plate keeps the shoot's
            kept: dict[str, object] = {"overwrite": self._state.export.overwrite}
            if "clean_plate" not in recipe.export and self._state.export.clean_plate is not None:
                kept["clean_plate"] = self._state.export.clean_plate
            options = options_from_layers(recipe, kept)
        except CutoutError as exc:  # RecipeError: one line naming the key and the file
            self._refuse(str(exc))
            return False
        self._state.export = options
        self._folder = str(path.parent)
        note = ""
        if recipe.model is not None and not _same_model(recipe.model, self._model()):
            note = f" (its model '{recipe.model}' is used by cut and batch; the editor keeps '{self._model()}')"
        if "clean_plate" in recipe.export and options.clean_plate is not None:
            note += f" (clean plate {options.clean_plate.name}: the shoot is masked again with it)"
        self._status.showMessage(f"Recipe loaded: {path.name}{note}", 12000)
        return True

    def _refuse(self, message: str) -> None:
        self._status.showMessage(message, 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, "Recipe", message, parent=self._parent)
        box.open()  # window-modal, never blocks the event loop (tests and workers go on)


def _same_model(a: str, b: str) -> bool:
    """Whether two model names mean the same model ("default" is the default model's name)."""
    try:
        return get_card(a).name == get_card(b).name
    except CutoutError:
        return a == b
