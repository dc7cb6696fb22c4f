"""Two-way bindings between a property of :class:`EditorState` and a widget.

``bind(state, "brush_size", spin)`` shows the state's value in the widget now and after every
change of the state, and writes the widget's value into the state when the user changes it.
A binding never echoes: while it writes into its widget it ignores the widget's signal, it
does not write the widget's own change back into it (that would reset a spin box's text at
every keystroke), and the state emits nothing for an unchanged value, so no one has to block
signals. A value the state refuses (out of the options' range) or adjusts (clamped, rounded)
is not kept: the widget shows the state's value. Edge options are addressed as ``"edges.<field>"`` (``"edges.feather"``).

Supported widgets: spin boxes, sliders (with a ``scale``: slider = value × scale), combo boxes
(the items' data), checkable buttons and check boxes, :class:`ColorButton`, and a group of
checkable actions given as ``{value: QAction}``; :func:`bind_text` shows a value in a label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import QAbstractButton, QAbstractSlider, QComboBox, QDoubleSpinBox, QLabel, QSpinBox

from cutout_studio.qt.actions import Actions
from cutout_studio.qt.canvas import Canvas
from cutout_studio.qt.state import EditorState
from cutout_studio.qt.widgets import ColorButton

Getter = Callable[[], Any]
Setter = Callable[[Any], None]


class Binding(QObject):
    """One property tied to one widget; a child of the widget, so it goes away with it."""

    def __init__(
        self,
        state: EditorState,
        name: str,
        owner: QObject,
        read: Getter,
        write: Setter,
        to_widget: Callable[[Any], Any] = lambda v: v,
        from_widget: Callable[[Any], Any] = lambda v: v,
    ) -> None:
        super().__init__(owner)
        self.state = state
        self.name = name
        self._read, self._write = read, write
        self._to_widget, self._from_widget = to_widget, from_widget
        self._writing = False  # writing into the widget: its signals are our own echo
        self._pulling = False  # writing the widget's value into the state
        group, _, self._field = name.partition(".")
        self._signal_name = group
        state.changed.connect(self._state_changed)
        self.push()

    def value(self) -> Any:
        """The state's value of the bound property."""
        if self._field:
            return getattr(getattr(self.state, self._signal_name), self._field)
        return getattr(self.state, self.name)

    def push(self) -> None:
        """Show the state's value in the widget."""
        self._writing = True
        try:
            self._write(self._to_widget(self.value()))
        finally:
            self._writing = False

    def pull(self, *_args: object) -> None:
        """The widget changed: write its value into the state (or undo a refused one)."""
        if self._writing:
            return
        value = self._from_widget(self._read())
        self._pulling = True
        try:
            if self._field:
                self.state.set_edge(**{self._field: value})
            else:
                setattr(self.state, self.name, value)
        except ValueError:
            pass  # refused: the widget shows the state's value again, below
        finally:
            self._pulling = False
        # Not written back while the user types ("3." must stay "3.", not become "3.00"),
        # only when the state kept another value (refused, clamped, rounded).
        if self._to_widget(self.value()) != self._read():
            self.push()

    def _state_changed(self, name: str) -> None:
        if name == self._signal_name and not self._pulling:
            self.push()


def bind(
    state: EditorState,
    name: str,
    widget: QObject | Mapping[Any, QAction],
    *,
    scale: float = 1.0,
) -> Binding:
    """Tie property ``name`` of ``state`` to ``widget`` both ways (see the module docstring)."""
    if isinstance(widget, Mapping):
        return _bind_actions(state, name, widget)
    if isinstance(widget, ColorButton):
        binding = Binding(
            state, name, widget, lambda: widget.color, widget.set_color, QColor, lambda c: c.name()
        )
        widget.color_changed.connect(binding.pull)
    elif isinstance(widget, QSpinBox):
        binding = Binding(state, name, widget, widget.value, widget.setValue, round, float)
        widget.valueChanged.connect(binding.pull)
    elif isinstance(widget, QDoubleSpinBox):
        binding = Binding(state, name, widget, widget.value, widget.setValue, float, float)
        widget.valueChanged.connect(binding.pull)
    elif isinstance(widget, QAbstractSlider):
        binding = Binding(
            state,
            name,
            widget,
            widget.value,
            widget.setValue,
            lambda v: round(v * scale),
            lambda v: v / scale,
        )
        widget.valueChanged.connect(binding.pull)
    elif isinstance(widget, QComboBox):

        def select(value: Any) -> None:
            index = widget.findData(value)
            if index >= 0:
                widget.setCurrentIndex(index)

        binding = Binding(state, name, widget, widget.currentData, select)
        widget.currentIndexChanged.connect(binding.pull)
    elif isinstance(widget, QAbstractButton):
        binding = Binding(state, name, widget, widget.isChecked, widget.setChecked, bool, bool)
        widget.toggled.connect(binding.pull)
    else:
        raise TypeError(f"cannot bind a {type(widget).__name__}")
    return binding


def _bind_actions(state: EditorState, name: str, actions: Mapping[Any, QAction]) -> Binding:
    """Checkable actions, one per value (the tools, the view modes): the checked one is the value."""
    owner = next(iter(actions.values()))

    def checked() -> Any:
        return next((value for value, action in actions.items() if action.isChecked()), None)

    def check(value: Any) -> None:
        if value in actions:
            actions[value].setChecked(True)

    binding = Binding(state, name, owner, checked, check)
    for action in actions.values():
        # triggered, not toggled: only the user's choice counts (toggled also fires for the
        # action that was unchecked by it)
        action.triggered.connect(binding.pull)
    return binding


def bind_text(state: EditorState, name: str, label: QLabel, text: Callable[[Any], str]) -> Binding:
    """Show ``text(value)`` in ``label`` (one way: a label has nothing to write back)."""
    return Binding(state, name, label, label.text, lambda value: label.setText(text(value)))


def canvas_follows_state(state: EditorState, canvas: Canvas, actions: Actions, refresh: Callable[[], None]) -> None:
    """The tool and view actions and the canvas follow the state; ``refresh`` (a fresh picture
    of the photo on screen) runs whenever what the picture depends on changes."""
    bind(state, "tool", actions.tools)
    bind(state, "view_mode", actions.modes)
    canvas.set_tool(state.tool)
    canvas.set_brush_radius(state.brush_size / 2)
    canvas.set_mode(state.view_mode)
    canvas.set_cutout_color(QColor(state.cutout_color))
    canvas.set_brush_hardness(state.brush_hardness)
    canvas.set_split(state.split)
    state.tool_changed.connect(canvas.set_tool)
    state.brush_size_changed.connect(lambda size: canvas.set_brush_radius(size / 2))
    state.brush_hardness_changed.connect(canvas.set_brush_hardness)
    state.view_mode_changed.connect(canvas.set_mode)
    state.cutout_color_changed.connect(lambda name: canvas.set_cutout_color(QColor(name)))
    state.split_changed.connect(canvas.set_split)
    state.split_changed.connect(actions.split.setChecked)
    for signal in (
        state.view_mode_changed,
        state.split_changed,
        state.overlay_color_changed,
        state.overlay_opacity_changed,
        state.edges_changed,
        state.export_changed,  # its shadow is drawn in the cutout views
    ):
        signal.connect(lambda _value: refresh())
