"""The tools panel: brushes and size, history, view mode and colours, edge settings, export."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cutout_studio.qt.actions import Actions
from cutout_studio.qt.render import VIEW_MODES

MIN_BRUSH, MAX_BRUSH = 1, 800
BRUSH_STEP = 1.25


def step_brush_size(size: float, direction: int) -> float:
    """The brush diameter one ``[`` (direction < 0) or ``]`` (> 0) away from ``size``.

    25 % per step, so big brushes change fast, but always at least one pixel: rounding alone
    would keep a 2 px brush at 2 px (2 × 1.25 = 2.5 rounds to 2) for ever.
    """
    if direction > 0:
        size = max(round(size * BRUSH_STEP), round(size) + 1)
    else:
        size = min(round(size / BRUSH_STEP), round(size) - 1)
    return float(min(max(size, MIN_BRUSH), MAX_BRUSH))


def _tool_button(action: QAction) -> QToolButton:
    button = QToolButton()
    button.setDefaultAction(action)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return button


class ColorButton(QPushButton):
    """A button showing a colour swatch; clicking it opens a colour picker."""

    color_changed = Signal(QColor)

    def __init__(self, color: QColor, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = title
        self._color = QColor(color)
        self.setFixedWidth(56)
        self.clicked.connect(self._pick)
        self._paint()

    @property
    def color(self) -> QColor:
        return QColor(self._color)

    def set_color(self, color: QColor) -> None:
        if color.isValid() and color != self._color:
            self._color = QColor(color)
            self._paint()
            self.color_changed.emit(QColor(color))

    def _paint(self) -> None:
        self.setStyleSheet(
            f"QPushButton {{ background: {self._color.name()}; border: 1px solid #777; min-height: 18px; }}"
        )

    def _pick(self) -> None:
        self.set_color(QColorDialog.getColor(self._color, self, self._title))


class ToolsPanel(QWidget):
    brush_size_changed = Signal(float)  #: diameter in photo pixels
    view_mode_changed = Signal(str)
    overlay_changed = Signal(QColor, float)  #: colour, opacity 0..1
    cutout_color_changed = Signal(QColor)
    edges_changed = Signal()

    def __init__(self, actions: Actions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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

    # ------------------------------------------------------------------ groups

    def _brush_group(self, actions: Actions) -> QGroupBox:
        box = QGroupBox("Brushes")
        grid = QGridLayout(box)
        for i, tool in enumerate(("fg", "bg", "erase", "pan")):
            grid.addWidget(_tool_button(actions.tools[tool]), i // 2, i % 2)
        self.brush_slider = QSlider(Qt.Orientation.Horizontal)
        self.brush_slider.setRange(MIN_BRUSH, MAX_BRUSH)
        self.brush_slider.setToolTip("Brush size in photo pixels ([ and ] change it)")
        self.brush_spin = QSpinBox()
        self.brush_spin.setRange(MIN_BRUSH, MAX_BRUSH)
        self.brush_spin.setSuffix(" px")
        self.brush_spin.setToolTip(self.brush_slider.toolTip())
        self.brush_slider.valueChanged.connect(self.brush_spin.setValue)
        self.brush_spin.valueChanged.connect(self.brush_slider.setValue)
        self.brush_spin.valueChanged.connect(lambda v: self.brush_size_changed.emit(float(v)))
        size_row = QHBoxLayout()
        size_row.addWidget(QLabel("Size"))
        size_row.addWidget(self.brush_slider, 1)
        size_row.addWidget(self.brush_spin)
        grid.addLayout(size_row, 2, 0, 1, 2)
        for i, action in enumerate((actions.undo, actions.redo)):
            grid.addWidget(_tool_button(action), 3, i)
        grid.addWidget(_tool_button(actions.reset), 4, 0, 1, 2)
        return box

    def _view_group(self, actions: Actions) -> QGroupBox:
        box = QGroupBox("View")
        form = QFormLayout(box)
        self.mode_combo = QComboBox()
        for mode, label in VIEW_MODES.items():
            self.mode_combo.addItem(label, mode)
        self.mode_combo.setToolTip("What the canvas shows (keys 1–5)")
        self.mode_combo.currentIndexChanged.connect(
            lambda _i: self.view_mode_changed.emit(self.mode_combo.currentData())
        )
        form.addRow("Show", self.mode_combo)

        self.overlay_button = ColorButton(QColor("#4f6bff"), "Overlay colour")
        self.overlay_button.setToolTip("Colour of the overlay over removed areas")
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setToolTip("Overlay opacity")
        overlay_row = QHBoxLayout()
        overlay_row.addWidget(self.overlay_button)
        overlay_row.addWidget(self.opacity_slider, 1)
        form.addRow("Overlay", overlay_row)
        self.overlay_button.color_changed.connect(lambda _c: self._emit_overlay())
        self.opacity_slider.valueChanged.connect(lambda _v: self._emit_overlay())

        self.cutout_button = ColorButton(QColor("#ffffff"), "Background colour of the cutout view")
        self.cutout_button.setToolTip("Background colour of the 'Cutout on colour' view")
        self.cutout_button.color_changed.connect(self.cutout_color_changed)
        form.addRow("Cutout on", self.cutout_button)

        row = QHBoxLayout()
        for action in (actions.split, actions.fit, actions.actual_size):
            row.addWidget(_tool_button(action))
        form.addRow(row)
        return box

    def _edges_group(self) -> QGroupBox:
        box = QGroupBox("Edges")
        form = QFormLayout(box)
        self.feather_spin = QDoubleSpinBox()
        self.feather_spin.setRange(0.0, 100.0)
        self.feather_spin.setSingleStep(0.5)
        self.feather_spin.setSuffix(" px")
        self.feather_spin.setToolTip("Blur the edge of the mask by this radius")
        self.shift_spin = QDoubleSpinBox()
        self.shift_spin.setRange(-100.0, 100.0)
        self.shift_spin.setSingleStep(0.5)
        self.shift_spin.setSuffix(" px")
        self.shift_spin.setToolTip("Grow (+) or shrink (−) the mask")
        self.matting_check = QCheckBox("Matting (hair, fur)")
        self.matting_check.setToolTip("Re-estimate soft edges from the photo (slower)")
        self.decontaminate_check = QCheckBox("Colour decontamination")
        self.decontaminate_check.setToolTip("Remove the old background's colour from soft edge pixels")
        form.addRow("Feather", self.feather_spin)
        form.addRow("Shift edge", self.shift_spin)
        form.addRow(self.matting_check)
        form.addRow(self.decontaminate_check)
        for spin in (self.feather_spin, self.shift_spin):
            spin.valueChanged.connect(lambda _v: self.edges_changed.emit())
        for check in (self.matting_check, self.decontaminate_check):
            check.toggled.connect(lambda _v: self.edges_changed.emit())
        return box

    def _export_group(self, actions: Actions) -> QGroupBox:
        box = QGroupBox("Export")
        layout = QVBoxLayout(box)
        self.export_summary = QLabel()
        self.export_summary.setWordWrap(True)
        layout.addWidget(self.export_summary)
        row = QHBoxLayout()
        for action in (actions.export, actions.export_all):
            row.addWidget(_tool_button(action))
        layout.addLayout(row)
        layout.addWidget(_tool_button(actions.export_settings))
        return box

    # ------------------------------------------------------------------ state

    def _emit_overlay(self) -> None:
        self.overlay_changed.emit(self.overlay_button.color, self.opacity_slider.value() / 100.0)

    def set_brush_size(self, size: float) -> None:
        self.brush_spin.setValue(round(size))

    @property
    def brush_size(self) -> float:
        return float(self.brush_spin.value())

    def set_view_mode(self, mode: str) -> None:
        index = self.mode_combo.findData(mode)
        if index >= 0:
            self.mode_combo.setCurrentIndex(index)

    def set_overlay(self, color: QColor, opacity: float) -> None:
        self.overlay_button.blockSignals(True)
        self.overlay_button.set_color(color)
        self.overlay_button.blockSignals(False)
        self.opacity_slider.setValue(round(opacity * 100))

    def set_edges(self, feather: float, shift: float, matting: bool, decontaminate: bool) -> None:
        widgets = (self.feather_spin, self.shift_spin, self.matting_check, self.decontaminate_check)
        for widget in widgets:
            widget.blockSignals(True)
        self.feather_spin.setValue(feather)
        self.shift_spin.setValue(shift)
        self.matting_check.setChecked(matting)
        self.decontaminate_check.setChecked(decontaminate)
        for widget in widgets:
            widget.blockSignals(False)

    def edges(self) -> tuple[float, float, bool, bool]:
        return (
            self.feather_spin.value(),
            self.shift_spin.value(),
            self.matting_check.isChecked(),
            self.decontaminate_check.isChecked(),
        )
