"""The option schema every front shares: ranges, choices, validation and the JSON form.

An option class is a frozen dataclass deriving from :class:`Options`. Each numeric field
declares its range once, with :func:`number`, and each text field its choices with
:func:`choice`; construction checks every field (``__post_init__``), so an invalid value can
never reach the engine, whichever front built it. The command line turns the
:class:`OptionsError` into a usage error, the export dialog reads :func:`spec` for its
widgets' ranges, and the settings store calls :meth:`Options.to_dict` /
:meth:`Options.from_dict`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from cutout_studio.core.errors import ExportError

__all__ = ["BatchOptions", "OptionsError", "Options", "Range", "choice", "number", "spec"]

_log = logging.getLogger(__name__)

OptionsT = TypeVar("OptionsT", bound="Options")


class OptionsError(ExportError, ValueError):
    """An option value or combination that is refused before anything is written; ``field``
    names the option to blame, when one is. An ExportError (what bad options always raised) and
    a ValueError (what EdgeOptions raised)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Range:
    """The accepted values of a numeric option: ``lo..hi`` (inclusive), optionally integers only."""

    lo: float
    hi: float
    unit: str = ""
    integer: bool = False

    def describe(self) -> str:
        """``"0 to 100 px"``: for help texts and messages."""
        unit = f" {self.unit}" if self.unit else ""
        if self.integer:
            return f"{int(self.lo)} to {int(self.hi)}{unit}"
        return f"{self.lo:g} to {self.hi:g}{unit}"

    def check(self, name: str, value: object) -> int | float:
        """``value`` as an int or float when it is in range; :class:`OptionsError` otherwise."""
        label = name.replace("_", " ")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise OptionsError(f"{label} must be a number ({self.describe()}), got {value!r}", name)
        if self.integer and not float(value).is_integer():
            raise OptionsError(f"{label} must be a whole number ({self.describe()}), got {value}", name)
        if not (math.isfinite(value) and self.lo <= value <= self.hi):
            raise OptionsError(f"{label} must be {self.describe()}, got {value:g}", name)
        return int(value) if self.integer else float(value)


def number(default: float | None, lo: float, hi: float, *, unit: str = "", integer: bool = False) -> Any:
    """A dataclass field for a number in ``lo..hi`` (None allowed when it is the default)."""
    return field(default=default, metadata={"range": Range(lo, hi, unit, integer)})


def choice(default: str, choices: tuple[str, ...]) -> Any:
    """A dataclass field for one of a few fixed words."""
    return field(default=default, metadata={"choices": choices})


def spec(cls: type[Options], name: str) -> Range:
    """The range of numeric option ``name`` of ``cls`` (the dialog's spin boxes read this)."""
    for f in dataclasses.fields(cls):
        found = f.metadata.get("range")
        if f.name == name and isinstance(found, Range):
            return found
    raise KeyError(f"{cls.__name__} has no numeric option {name!r}")


class Options:
    """Base of the option dataclasses: field checks on construction, JSON-friendly dict form."""

    if TYPE_CHECKING:  # every subclass is a dataclass: this lets dataclasses.fields() take one
        __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def __post_init__(self) -> None:
        self._check_fields()

    def _check_fields(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if "range" in f.metadata:
                if value is None and f.default is None:
                    continue
                object.__setattr__(self, f.name, f.metadata["range"].check(f.name, value))
            elif "choices" in f.metadata and value not in f.metadata["choices"]:
                words = " or ".join(repr(c) for c in f.metadata["choices"])
                raise OptionsError(f"{f.name.replace('_', ' ')} must be {words}, got {value!r}", f.name)
            elif f.type in ("bool", bool) and not isinstance(value, (bool, np.bool_)):
                raise OptionsError(f"{f.name.replace('_', ' ')} must be true or false, got {value!r}", f.name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values; fields marked ``stored=False`` (per-run choices) are left out."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if not f.metadata.get("stored", True):
                continue
            value = getattr(self, f.name)
            if isinstance(value, Options):
                value = value.to_dict()
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls: type[OptionsT], data: dict[str, Any]) -> OptionsT:
        """Options from a stored dict, tolerantly: unknown keys are ignored, and each refused
        value falls back to its default (logged) without losing the others. Raises
        :class:`OptionsError` only when the defaults for the blamed options do not help."""
        kinds = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name, raw in data.items():
            f = kinds.get(name)
            if f is None or not f.init:
                continue
            nested = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
            if isinstance(nested, Options):
                if isinstance(raw, dict):
                    values[name] = type(nested).from_dict(raw)
                else:
                    _log.warning("settings: %s is not an object; using defaults", name)
                continue
            values[name] = raw
        while True:
            try:
                return cls(**values)
            except OptionsError as exc:
                if exc.field not in values:
                    raise
                _log.warning("settings: ignoring %s=%r (%s)", exc.field, values.pop(exc.field), exc)


@dataclass(frozen=True)
class BatchOptions(Options):
    """How a batch runs (not what it writes): photos per model pass and worker threads."""

    # A pass over 64 photos at the model's 320 px input holds ~1 GB of activations on a GPU;
    # beyond that batching gains nothing measurable (docs/benchmarks.md) and risks running out
    # of memory. None: the batch chooses (1 on the CPU, 8 on a GPU).
    batch_size: int | None = number(None, 1, 64, integer=True)
    # Each worker holds a few full-size photos in flight; 32 is far past any gain on the
    # machines measured (the batch uses at most 4 CPU workers by default).
    workers: int | None = number(None, 1, 32, integer=True)
