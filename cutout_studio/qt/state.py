"""The editor's state: one observable object that the panels, the canvas and the settings share.

Every user choice that outlives a stroke (the brush, the tool, the view, the overlay, the edge
options and the export preset) lives here once, as a typed property that checks its value and
emits ``<name>_changed`` (and ``changed(name)``) only when the value really changes. Widgets
are tied to it with :func:`cutout_studio.qt.binding.bind`, the canvas and the edit pipeline
listen to it, and :mod:`cutout_studio.qt.persistence` loads and saves it, so no code keeps two
copies of a choice in step by hand.

The edge options on the panel (:attr:`edges`) are the photo on screen's: each photo keeps its
own (the window puts them here when it shows the photo, and takes them back when the user
changes them), with defaults per shoot, so they are not saved with the settings. Exports
write ``export`` with the photo's edges in place of the preset's ``edges``. Both are
immutable option objects, validated on construction by their own schema.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast, overload

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.export import ExportOptions
from cutout_studio.qt.render import CUTOUT_MODES, VIEW_MODES, ViewSettings

MIN_BRUSH, MAX_BRUSH = 1, 800
BRUSH_STEP = 1.25
TOOLS = ("fg", "bg", "erase", "refine", "pan")

T = TypeVar("T")


def step_brush_size(size: float, direction: int) -> float:
    """The brush diameter one ``[`` (direction < 0) or ``]`` (> 0) away from ``size``.

    25 % per step, so big brushes change fast, but always at least one pixel: rounding alone
    would keep a 2 px brush at 2 px (2 × 1.25 = 2.5 rounds to 2) for ever.
    """
    if direction > 0:
        size = max(round(size * BRUSH_STEP), round(size) + 1)
    else:
        size = min(round(size / BRUSH_STEP), round(size) - 1)
    return clamp_brush(size)


def clamp_brush(size: float) -> float:
    """A whole number of pixels within MIN_BRUSH..MAX_BRUSH."""
    return float(min(max(round(size), MIN_BRUSH), MAX_BRUSH))


def _color(value: object) -> str:
    color = QColor(value) if isinstance(value, (str, QColor)) else QColor()
    if not color.isValid():
        raise ValueError(f"not a colour: {value!r}")
    return color.name()


def _one_of(choices: tuple[str, ...]) -> Callable[[object], str]:
    def check(value: object) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return check


def _opacity(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"opacity must be a number, got {value!r}")
    return float(min(max(value, 0.0), 1.0))


def _brush(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"brush size must be a number, got {value!r}")
    return clamp_brush(value)


def _hardness(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"brush hardness must be a number, got {value!r}")
    return float(min(max(value, 0.0), 1.0))


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be True or False, got {value!r}")
    return value


def split_view_mode(mode: str) -> str:
    """What split view's "after" side shows for the chosen ``mode``: always the real cutout,
    on the chosen colour in the "cutout on colour" view and on the checkerboard otherwise
    (the overlay, the mask or the original photo would not show what the export will be)."""
    return "color" if mode == "color" else "checker"


def _instance(kind: type[T]) -> Callable[[object], T]:
    def check(value: object) -> T:
        if not isinstance(value, kind):
            raise ValueError(f"must be {kind.__name__}, got {type(value).__name__}")
        return value

    return check


class Observable(Generic[T]):
    """A typed property of :class:`EditorState`: ``check`` normalises a value or raises
    ValueError; setting an equal value emits nothing (so a widget echoing the value it was
    just given stops there)."""

    def __init__(self, default: T, check: Callable[[object], T]) -> None:
        self.default = default
        self.check = check
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Observable[T]: ...
    @overload
    def __get__(self, obj: EditorState, owner: type) -> T: ...
    def __get__(self, obj: EditorState | None, owner: type) -> Observable[T] | T:
        if obj is None:
            return self
        return cast(T, obj._values.get(self.name, self.default))

    def __set__(self, obj: EditorState, value: object) -> None:
        obj._assign(self.name, self.check(value))


class EditorState(QObject):
    """The editor's choices; see the module docstring. Set a property to change it."""

    changed = Signal(str)  #: the name of the property that changed
    brush_size_changed = Signal(float)
    brush_hardness_changed = Signal(float)
    tool_changed = Signal(str)
    view_mode_changed = Signal(str)
    overlay_color_changed = Signal(str)
    overlay_opacity_changed = Signal(float)
    cutout_color_changed = Signal(str)
    split_changed = Signal(bool)
    export_changed = Signal(object)  #: ExportOptions
    edges_changed = Signal(object)  #: EdgeOptions

    #: diameter in SCREEN pixels: the brush keeps its size on screen at any zoom; a stroke
    #: gets it in photo pixels (the canvas divides by the zoom when the stroke starts)
    brush_size: Observable[float] = Observable(24.0, _brush)
    #: 0..1: the refine-edge brush's footprint is full strength within hardness × radius
    brush_hardness: Observable[float] = Observable(0.6, _hardness)
    tool: Observable[str] = Observable("fg", _one_of(TOOLS))
    view_mode: Observable[str] = Observable("overlay", _one_of(tuple(VIEW_MODES)))
    overlay_color: Observable[str] = Observable("#4f6bff", _color)  #: "#rrggbb"
    overlay_opacity: Observable[float] = Observable(0.55, _opacity)  #: 0..1
    cutout_color: Observable[str] = Observable("#ffffff", _color)  #: the "cutout on colour" view
    export: Observable[ExportOptions] = Observable(ExportOptions(), _instance(ExportOptions))
    #: the edge options of the photo on screen (see the module docstring; not in NAMES: not saved)
    edges: Observable[EdgeOptions] = Observable(EdgeOptions(), _instance(EdgeOptions))
    #: split before/after: the original left of the divider, the cutout right of it (not saved)
    split: Observable[bool] = Observable(False, _bool)

    #: every observable property, in declaration order
    NAMES = (
        "brush_size",
        "brush_hardness",
        "tool",
        "view_mode",
        "overlay_color",
        "overlay_opacity",
        "cutout_color",
        "export",
        "split",
    )

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._values: dict[str, Any] = {}

    def _assign(self, name: str, value: object) -> None:
        old = getattr(self, name)
        if value == old:
            return
        self._values[name] = value
        getattr(self, f"{name}_changed").emit(value)
        self.changed.emit(name)

    # ------------------------------------------------------------------ edges

    def set_edge(self, **values: object) -> None:
        """Change some edge options (``set_edge(feather=2.0)``); OptionsError if out of range."""
        self.edges = dataclasses.replace(self.edges, **values)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ derived values

    def export_for(self, edges: EdgeOptions | None = None) -> ExportOptions:
        """The preset with ``edges`` (default: the photo on screen's) in place of its own."""
        return dataclasses.replace(self.export, edges=edges if edges is not None else self.edges)

    def step_brush(self, direction: int) -> None:
        """``]`` / ``[`` and Ctrl+wheel: one step bigger (> 0) or smaller (< 0)."""
        self.brush_size = step_brush_size(self.brush_size, direction)

    @property
    def layer_mode(self) -> str:
        """The view mode the canvas layer is composed for: the chosen one, or in split view
        the cutout that the "after" side shows (:func:`split_view_mode`)."""
        return split_view_mode(self.view_mode) if self.split else self.view_mode

    def view_settings(self) -> ViewSettings:
        """What the edit lane composes the canvas layer for."""
        color = QColor(self.overlay_color)
        wanted = self.export.shadow_options  # drawn under the cutout: only the cutout views show it
        shadow = wanted if wanted.active and self.layer_mode in CUTOUT_MODES else None
        return ViewSettings(self.layer_mode, (color.red(), color.green(), color.blue()), self.overlay_opacity, shadow)
