"""Recipes: everything a shoot needs in one TOML file, saved from the editor and used by ``cut``
and ``batch`` (``--recipe FILE``).

A recipe holds the model, the export options (marketplace preset, format and quality,
background, clean plate, crop, padding and square canvas, output kind, colour space, naming
pattern) and, in an
``[edges]`` table, the edge settings::

    model = "default"
    preset = "amazon"
    format = "jpeg"
    naming = "{stem}_amazon"

    [edges]
    feather = 1.5

Its values are the flags' values, layered the same way: the defaults, then the marketplace
preset's values (:func:`~cutout_studio.core.export.presets.preset_values`), then the recipe's,
then the flags given on the command line (:func:`options_from_layers`), so a recipe and the
same flags make the same options and byte-identical outputs. Every key is checked: an unknown
key or a refused value is one
line naming the key and the file. Read with :mod:`tomllib` (Python 3.11 and later); written by the small writer below
(strings, numbers and booleans are all a recipe holds).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cutout_studio.core.atomic import atomic_write_bytes
from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.errors import CutoutError
from cutout_studio.core.export.options import ExportOptions, parse_color
from cutout_studio.core.export.presets import PRESETS, preset_values
from cutout_studio.core.options import OptionsError

__all__ = [
    "EDGE_KEYS", "EXPORT_KEYS", "Recipe", "RecipeError", "load_recipe", "options_from_layers", "recipe_text",
    "save_recipe",
]

#: the export options a recipe may set: every stored field but the nested edge settings
#: (``overwrite`` is a per-run choice and not stored)
EXPORT_KEYS = tuple(f.name for f in dataclasses.fields(ExportOptions)
                    if f.name != "edges" and f.metadata.get("stored", True))
EDGE_KEYS = tuple(f.name for f in dataclasses.fields(EdgeOptions))
_TOP_KEYS = ("model", *EXPORT_KEYS, "edges")


class RecipeError(OptionsError):
    """A recipe that cannot be used; the message names the file and, when one is to blame, the key."""


@dataclass(frozen=True)
class Recipe:
    """The values a recipe gives (only those it gives: the rest come from the layers beneath)."""

    export: dict[str, Any] = field(default_factory=dict)  #: ExportOptions values, flat
    edges: dict[str, Any] = field(default_factory=dict)  #: EdgeOptions values
    model: str | None = None
    path: Path | None = None  #: where it was read from (named in error messages)


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read and check the recipe at ``path``; :class:`RecipeError` (one line) when it cannot be used."""
    path = Path(path).expanduser()
    where = f"recipe {path.name}"
    try:  # imported by name: the package (and mypy's target) is 3.10, whose library has no TOML reader
        tomllib = importlib.import_module("tomllib")
    except ModuleNotFoundError:
        raise RecipeError(f"{where}: reading recipes needs Python 3.11 or later") from None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RecipeError(f"{where}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RecipeError(f"{where}: not a text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{where}: not valid TOML: {exc}") from None
    _refuse_unknown(data, _TOP_KEYS, where, "")
    edges = data.get("edges", {})
    if not isinstance(edges, dict):
        raise RecipeError(f"{where}: key 'edges' must be a table ([edges]), got {edges!r}", "edges")
    _refuse_unknown(edges, EDGE_KEYS, where, "edges.")
    model = data.get("model")
    if model is not None:
        _check_model(model, where)
    export = {k: v for k, v in data.items() if k in EXPORT_KEYS}
    for key in ("background", "clean_plate"):
        export[key] = _beside(export.get(key), path)
        if export[key] is None:
            del export[key]
    recipe = Recipe(export=export, edges=dict(edges), model=model, path=path)
    options_from_layers(recipe)  # every value and combination checked now, blaming its key
    return recipe


def _beside(background: object, recipe: Path) -> object:
    """A background image or clean plate named by a relative path is the one beside the recipe (a shoot's
    folder travels with its recipe); colours and absolute paths are kept as they are."""
    if not isinstance(background, str):
        return background
    try:
        parse_color(background)
        return background
    except ValueError:
        image = Path(background).expanduser()
        return background if image.is_absolute() else str(recipe.parent / image)


def _refuse_unknown(data: Mapping[str, Any], known: tuple[str, ...], where: str, prefix: str) -> None:
    for key in data:
        if key not in known:
            names = ", ".join(k for k in known if k != "edges")
            raise RecipeError(f"{where}: unknown key '{prefix}{key}' (known: {names})", key)


def _check_model(model: object, where: str) -> None:
    from cutout_studio.core.models import get_card

    if not isinstance(model, str):
        raise RecipeError(f"{where}: key 'model': must be a model name, got {model!r}", "model")
    try:
        get_card(model)
    except CutoutError as exc:
        raise RecipeError(f"{where}: key 'model': {exc}", "model") from None


def options_from_layers(
    recipe: Recipe | None = None,
    given: Mapping[str, Any] | None = None,
    given_edges: Mapping[str, Any] | None = None,
) -> ExportOptions:
    """The options made by the layers, lowest first: the defaults, the marketplace preset's
    values (the preset named in ``given``, else the recipe's), the recipe's values, then the
    values ``given`` explicitly (the command line's flags). A refused value raises
    :class:`OptionsError`; when it came from the recipe, a :class:`RecipeError` naming the key
    and the file."""
    recipe = recipe or Recipe()
    given, given_edges = dict(given or {}), dict(given_edges or {})
    preset = given.get("preset", recipe.export.get("preset"))
    values: dict[str, Any] = preset_values(preset) if isinstance(preset, str) and preset in PRESETS else {}
    values |= recipe.export
    values |= given
    edges = recipe.edges | given_edges
    try:
        edge_options = EdgeOptions(**edges)
    except OptionsError as exc:
        raise _blame(exc, recipe, recipe.edges, given_edges, "edges.") from None
    try:
        return ExportOptions(**values, edges=edge_options)
    except OptionsError as exc:
        raise _blame(exc, recipe, recipe.export, given, "") from None


def _blame(exc: OptionsError, recipe: Recipe, mine: Mapping[str, Any], theirs: Mapping[str, Any],
           prefix: str) -> OptionsError:
    """A refused value that the recipe gave (and no flag replaced) is the recipe's error."""
    if recipe.path is not None and exc.field in mine and exc.field not in theirs:
        return RecipeError(f"recipe {recipe.path.name}: key '{prefix}{exc.field}': {exc}", exc.field)
    return exc


def recipe_text(options: ExportOptions, model: str | None = None) -> str:
    """The TOML of a recipe that makes ``options`` (and names ``model``). Values the chosen
    preset sets to the same value are left out: the preset brings them back when read."""
    implied = preset_values(options.preset) if options.preset else {}
    data = options.to_dict()
    lines = ["# Cutout Studio recipe: cutout-studio batch --recipe FILE IN -o OUT (flags override it)"]
    if model:
        lines.append(f"model = {_toml(model)}")
    for key in sorted(EXPORT_KEYS, key=lambda k: k != "preset"):  # the preset first: the rest is over it
        value = data.get(key)
        if value is None or (key != "preset" and key in implied and implied[key] == value):
            continue  # TOML has no null: a missing key is the default
        lines.append(f"{key} = {_toml(value)}")
    lines += ["", "[edges]"]
    lines += [f"{key} = {_toml(value)}" for key, value in data["edges"].items() if value is not None]
    return "\n".join(lines) + "\n"


def save_recipe(path: str | os.PathLike[str], options: ExportOptions, model: str | None = None) -> Path:
    """Write the recipe of ``options`` (and ``model``) to ``path`` atomically; returns the path."""
    target = Path(path).expanduser()
    atomic_write_bytes(target, recipe_text(options, model).encode("utf-8"))
    return target


def _toml(value: object) -> str:
    """One TOML value: a recipe holds only strings, numbers and booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a recipe cannot hold {value}")
        return repr(value)  # "8.1395", "1e-05": both TOML floats
    if isinstance(value, (str, Path)):
        # a JSON string is a TOML basic string (the same escapes: \" \\ \n \uXXXX)
        return json.dumps(str(value), ensure_ascii=False)
    raise TypeError(f"a recipe cannot hold {type(value).__name__} values")
