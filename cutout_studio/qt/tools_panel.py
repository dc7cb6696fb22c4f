"""The tools panel: brushes and size, history, view mode and colours, edge settings, export.

Every control is bound to the :class:`EditorState` (:mod:`cutout_studio.qt.binding`): the
panel neither knows the window nor keeps a copy of a value. The edge spin boxes take their
ranges from the options' schema, so the panel offers exactly what the engine accepts.

The panel never keeps the keyboard from the canvas (:class:`widgets.KeyboardReturner`): its
buttons, sliders and lists take no focus, a spin box only while it is typed in, and
:attr:`ToolsPanel.keyboard_released` says when the canvas should have the focus back.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.options import spec
from cutout_studio.qt.actions import Actions
from cutout_studio.qt.binding import bind, bind_text
from cutout_studio.qt.export_dialog import describe
from cutout_studio.qt.plate import plate_label
from cutout_studio.qt.render import VIEW_MODES
from cutout_studio.qt.state import MAX_BRUSH, MIN_BRUSH, EditorState
from cutout_studio.qt.widgets import ColorButton, KeyboardReturner


def _tool_button(action: QAction) -> QToolButton:
    button = QToolButton()
    button.setDefaultAction(action)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return button


def _edge_spin(name: str, step: float, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    allowed = spec(EdgeOptions, name)
    spin.setRange(allowed.lo, allowed.hi)
    spin.setSingleStep(step)
    spin.setSuffix(f" {allowed.unit}")
    spin.setToolTip(tip)
    return spin


class ToolsPanel(QWidget):
    #: a field is done with the keyboard (Enter, Esc, a step by its arrows or the wheel)
    keyboard_released = Signal()

    def __init__(self, actions: Actions, state: EditorState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        # The checked tool and view must stand out at a glance, whatever the platform style.
        self.setStyleSheet(
            "QToolButton { padding: 4px 6px; border: 1px solid palette(mid); border-radius: 3px;"
            " background: palette(button); }"
            "QToolButton:hover { border-color: palette(highlight); }"
            "QToolButton:checked { background: palette(highlight); color: palette(highlighted-text); }"
            "QToolButton:disabled { color: palette(mid); }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self._brush_group(actions))
        layout.addWidget(self._view_group(actions))
        layout.addWidget(self._edges_group())
        layout.addWidget(self._export_group(actions))
        layout.addStretch(1)
        self._keyboard = KeyboardReturner(self)
        self._keyboard.adopt(self)
        self._keyboard.released.connect(self.keyboard_released)

    @property
    def brush_size(self) -> float:
        """The size the panel shows (the state's, once the event that changed it is handled)."""
        return float(self.brush_spin.value())

    # ------------------------------------------------------------------ groups

    def _brush_group(self, actions: Actions) -> QGroupBox:
        box = QGroupBox("Brushes")
        grid = QGridLayout(box)
        for i, tool in enumerate(("fg", "bg", "erase", "refine", "pan")):
            grid.addWidget(_tool_button(actions.tools[tool]), i // 2, i % 2)
        row = 3  # the tool buttons take rows 0-2
        self.brush_slider = QSlider(Qt.Orientation.Horizontal)
        self.brush_slider.setRange(MIN_BRUSH, MAX_BRUSH)
        self.brush_slider.setToolTip(
            "Brush size in screen pixels: the brush keeps its size on screen at any zoom ([ and ] change it)"
        )
        self.brush_spin = QSpinBox()
        self.brush_spin.setRange(MIN_BRUSH, MAX_BRUSH)
        self.brush_spin.setSuffix(" px")
        self.brush_spin.setToolTip(self.brush_slider.toolTip())
        bind(self.state, "brush_size", self.brush_slider)
        bind(self.state, "brush_size", self.brush_spin)
        size_row = QHBoxLayout()
        size_row.addWidget(QLabel("Size"))
        size_row.addWidget(self.brush_slider, 1)
        size_row.addWidget(self.brush_spin)
        grid.addLayout(size_row, row, 0, 1, 2)
        self.hardness_slider = QSlider(Qt.Orientation.Horizontal)
        self.hardness_slider.setRange(0, 100)
        self.hardness_slider.setToolTip(
            "Hardness of the refine-edge brush: full matting within this share of the radius,"
            " fading to none at its rim (the other brushes are always hard)"
        )
        bind(self.state, "brush_hardness", self.hardness_slider, scale=100)
        hardness_row = QHBoxLayout()
        hardness_row.addWidget(QLabel("Hardness"))
        hardness_row.addWidget(self.hardness_slider, 1)
        grid.addLayout(hardness_row, row + 1, 0, 1, 2)
        for i, action in enumerate((actions.undo, actions.redo)):
            grid.addWidget(_tool_button(action), row + 2, i)
        grid.addWidget(_tool_button(actions.reset), row + 3, 0, 1, 2)
        return box

    def _view_group(self, actions: Actions) -> QGroupBox:
        box = QGroupBox("View")
        form = QFormLayout(box)
        self.mode_combo = QComboBox()
        for mode, label in VIEW_MODES.items():
            self.mode_combo.addItem(label, mode)
        self.mode_combo.setToolTip("What the canvas shows (keys 1–5)")
        bind(self.state, "view_mode", self.mode_combo)
        form.addRow("Show", self.mode_combo)

        self.overlay_button = ColorButton(QColor(self.state.overlay_color), "Overlay colour")
        self.overlay_button.setToolTip("Colour of the overlay over removed areas")
        bind(self.state, "overlay_color", self.overlay_button)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setToolTip("Overlay opacity")
        bind(self.state, "overlay_opacity", self.opacity_slider, scale=100)
        overlay_row = QHBoxLayout()
        overlay_row.addWidget(self.overlay_button)
        overlay_row.addWidget(self.opacity_slider, 1)
        form.addRow("Overlay", overlay_row)

        self.cutout_button = ColorButton(
            QColor(self.state.cutout_color), "Background colour of the cutout view"
        )
        self.cutout_button.setToolTip("Background colour of the 'Cutout on colour' view")
        bind(self.state, "cutout_color", self.cutout_button)
        form.addRow("Cutout on", self.cutout_button)

        row = QHBoxLayout()
        for action in (actions.split, actions.fit, actions.actual_size):
            row.addWidget(_tool_button(action))
        form.addRow(row)
        return box

    def _edges_group(self) -> QGroupBox:
        box = QGroupBox("Edges")
        form = QFormLayout(box)
        self.feather_spin = _edge_spin("feather", 0.5, "Blur the edge of the mask by this radius")
        self.shift_spin = _edge_spin("shift", 0.5, "Grow (+) or shrink (−) the mask")
        self.matting_check = QCheckBox("Matting (hair, fur)")
        self.matting_check.setToolTip("Re-estimate soft edges from the photo (slower)")
        self.decontaminate_check = QCheckBox("Colour decontamination")
        self.decontaminate_check.setToolTip("Remove the old background's colour from soft edge pixels")
        form.addRow("Feather", self.feather_spin)
        form.addRow("Shift edge", self.shift_spin)
        form.addRow(self.matting_check)
        form.addRow(self.decontaminate_check)
        bind(self.state, "edges.feather", self.feather_spin)
        bind(self.state, "edges.shift", self.shift_spin)
        bind(self.state, "edges.matting", self.matting_check)
        bind(self.state, "edges.decontaminate", self.decontaminate_check)
        return box

    def _export_group(self, actions: Actions) -> QGroupBox:
        box = QGroupBox("Export")
        layout = QVBoxLayout(box)
        self.export_summary = QLabel()
        self.export_summary.setWordWrap(True)
        bind_text(self.state, "export", self.export_summary, describe)
        layout.addWidget(self.export_summary)
        # the marketplace check of the photo on screen (qt/compliance.py fills it; hidden without a preset)
        self.compliance_label = QLabel()
        layout.addWidget(self.compliance_label)
        # the shoot's clean plate (qt/plate.py): its file, set and cleared by the Shoot menu's actions
        self.plate_label = QLabel()
        self.plate_label.setToolTip("The empty backdrop every automatic mask of the shoot is compared with")
        bind_text(self.state, "export", self.plate_label, plate_label)
        layout.addWidget(self.plate_label)
        plate_row = QHBoxLayout()
        for action in (actions.set_plate, actions.clear_plate):
            plate_row.addWidget(_tool_button(action))
        layout.addLayout(plate_row)
        row = QHBoxLayout()
        for action in (actions.export, actions.export_all):
            row.addWidget(_tool_button(action))
        layout.addLayout(row)
        layout.addWidget(_tool_button(actions.export_settings))
        return box
