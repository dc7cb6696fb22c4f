"""The export settings dialog: marketplace preset, format and quality, background, crop and
padding, output kind, colour space, clipping path, shadow.

It only edits :class:`ExportOptions` (the preset stored in the settings file): the formats come
from the format table, the spin boxes' ranges from the options' schema, and accepting builds
the options, whose own validation gives the one-line reason for a refusal. The edge settings
are edited live in the tools panel instead, where their preview is.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cutout_studio.core.errors import CutoutError
from cutout_studio.core.export import FORMATS, ExportOptions
from cutout_studio.core.export.encode import DEFAULT_JPEG_QUALITY
from cutout_studio.core.export.options import PADDING_PERCENT_MAX
from cutout_studio.core.export.presets import PRESETS, preset_values
from cutout_studio.core.export.shadow import DEFAULT_OPACITY, SHADOW_KINDS
from cutout_studio.core.options import spec
from cutout_studio.qt.widgets import ColorButton

#: The fill a format without transparency gets when chosen over a transparent background.
_DEFAULT_FILL = "#ffffff"


def describe(preset: ExportOptions) -> str:
    """A short summary for the tools panel, e.g. "PNG · transparent · crop +20 px"."""
    parts = [preset.format.upper() if preset.output == "cutout" else "Mask PNG"]
    if preset.preset is not None:  # the marketplace whose rules each photo is checked against
        parts.insert(0, PRESETS[preset.preset].label)
    if preset.format == "webp" and preset.output == "cutout":
        parts[0] += " lossless" if preset.quality in (None, 100) else f" q{preset.quality}"
    if preset.background is None:
        parts.append("transparent")
    elif isinstance(preset.background, tuple):
        parts.append(f"on {QColor(*preset.background).name()}")
    else:
        parts.append("on an image")
    if preset.crop:
        unit = "px" if preset.padding_unit == "px" else "%"
        parts.append(f"crop +{preset.padding:g} {unit}")
    if preset.square:
        parts.append("square")
    if preset.colour_space == "srgb" and preset.output == "cutout":
        parts.append("sRGB")
    if preset.clip_path:
        parts.append("clipping path")
    if preset.shadow != "none":
        parts.append(f"{preset.shadow} shadow")
    return " · ".join(parts)


class ExportSettingsDialog(QDialog):
    def __init__(self, preset: ExportOptions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export settings")
        self._preset = preset

        self.marketplace_combo = QComboBox()
        self.marketplace_combo.addItem("None", None)
        for entry in PRESETS.values():
            self.marketplace_combo.addItem(entry.label, entry.name)
        self.marketplace_combo.setCurrentIndex(max(0, self.marketplace_combo.findData(preset.preset)))
        self.marketplace_combo.setToolTip(
            "A marketplace's main-image rules: choosing one sets its values below (you may change them) "
            "and each photo is checked against its rules"
        )
        self.format_combo = QComboBox()
        for fmt in FORMATS.values():
            self.format_combo.addItem(fmt.label, fmt.name)
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(preset.format)))
        self.quality_spin = QSpinBox()
        quality = spec(ExportOptions, "quality")
        self.quality_spin.setRange(int(quality.lo), int(quality.hi))
        self.quality_spin.setValue(preset.quality or int(quality.hi))
        self.quality_spin.setToolTip(
            ". ".join(f"{f.name.upper()}: {f.quality}" for f in FORMATS.values() if f.quality)
        )

        self.transparent_radio = QRadioButton("Transparent")
        self.color_radio = QRadioButton("Colour")
        self.image_radio = QRadioButton("Image")
        group = QButtonGroup(self)
        for radio in (self.transparent_radio, self.color_radio, self.image_radio):
            group.addButton(radio)
        self.color_button = ColorButton(QColor("#ffffff"), "Background colour")
        self.image_edit = QLineEdit()
        self.image_edit.setPlaceholderText("background image file")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        background = preset.background
        if background is None:
            self.transparent_radio.setChecked(True)
        elif isinstance(background, tuple):
            self.color_button.set_color(QColor(*background))
            self.color_radio.setChecked(True)
        else:
            self.image_edit.setText(str(background))
            self.image_radio.setChecked(True)

        self.crop_check = QCheckBox("Crop to the subject")
        self.crop_check.setChecked(preset.crop)
        self.padding_spin = QDoubleSpinBox()
        self.padding_unit = QComboBox()
        self.padding_unit.addItem("px", "px")
        self.padding_unit.addItem("% of subject", "%")
        self.padding_unit.setCurrentIndex(max(0, self.padding_unit.findData(preset.padding_unit)))
        self.padding_unit.currentIndexChanged.connect(self._padding_range)
        self._padding_range()
        self.padding_spin.setValue(preset.padding)
        self.square_check = QCheckBox("Square canvas")
        self.square_check.setChecked(preset.square)
        self.clip_check = QCheckBox("Clipping path")
        self.clip_check.setChecked(preset.clip_path)
        self.clip_check.setToolTip(
            "A vector path fitted to the outline: NAME.svg beside each output, and Photoshop's clipping "
            "path inside JPEG, TIFF and PSD files (Photoshop and InDesign use it to clip the image)"
        )
        self.clip_tolerance_spin = QDoubleSpinBox()
        tolerance = spec(ExportOptions, "clip_path_tolerance")
        self.clip_tolerance_spin.setRange(tolerance.lo, tolerance.hi)
        self.clip_tolerance_spin.setSingleStep(0.5)
        self.clip_tolerance_spin.setSuffix(" px")
        self.clip_tolerance_spin.setValue(preset.clip_path_tolerance)
        self.clip_tolerance_spin.setToolTip("How far the path's curves may stray from the outline")
        self.colour_combo = QComboBox()
        self.colour_combo.addItem("Keep the photo's colour profile", "keep")
        self.colour_combo.addItem("Convert to sRGB", "srgb")
        self.colour_combo.setCurrentIndex(max(0, self.colour_combo.findData(preset.colour_space)))
        self.colour_combo.setToolTip(
            "Keep: the photo's own profile (Adobe RGB, Display P3, ...) is embedded as it is. Convert to sRGB: "
            "the colours are converted from it to sRGB, what marketplaces and browsers expect"
        )
        self.mask_check = QCheckBox("Export the mask (greyscale PNG) instead of the cutout")
        self.mask_check.setChecked(preset.output == "mask")
        self.naming_edit = QLineEdit(preset.naming)
        self.naming_edit.setToolTip(
            "The output's file name without extension: {stem} is the photo's name "
            "({stem}_white makes shoe_white.png). Quick export, Export all and the batch use it."
        )
        self._build_shadow(preset)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #e55;")

        form = QFormLayout()
        form.addRow("Marketplace", self.marketplace_combo)
        form.addRow("File names", self.naming_edit)
        form.addRow("Format", self.format_combo)
        form.addRow("Quality", self.quality_spin)
        bg_row = QHBoxLayout()
        for widget in (self.transparent_radio, self.color_radio, self.color_button, self.image_radio):
            bg_row.addWidget(widget)
        form.addRow("Background", bg_row)
        image_row = QHBoxLayout()
        image_row.addWidget(self.image_edit, 1)
        image_row.addWidget(browse)
        form.addRow("", image_row)
        pad_row = QHBoxLayout()
        pad_row.addWidget(self.crop_check)
        pad_row.addWidget(QLabel("padding"))
        pad_row.addWidget(self.padding_spin)
        pad_row.addWidget(self.padding_unit)
        form.addRow("Crop", pad_row)
        form.addRow("", self.square_check)
        clip_row = QHBoxLayout()
        clip_row.addWidget(self.clip_check)
        clip_row.addWidget(QLabel("within"))
        clip_row.addWidget(self.clip_tolerance_spin)
        clip_row.addStretch(1)
        form.addRow("Vector", clip_row)
        form.addRow("Colours", self.colour_combo)
        form.addRow("", self.mask_check)
        form.addRow("Shadow", self.shadow_row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.format_combo.currentIndexChanged.connect(self._format_chosen)
        self.quality_spin.setEnabled(bool(FORMATS[self.format_combo.currentData()].quality))
        self.marketplace_combo.activated.connect(self._marketplace_chosen)  # the user's choice only

    def _build_shadow(self, preset: ExportOptions) -> None:
        """The Shadow group: its kind and four numbers (ranges from the options' schema)."""
        self.shadow_combo = QComboBox()
        for kind in SHADOW_KINDS:
            self.shadow_combo.addItem(kind.capitalize(), kind)
        self.shadow_combo.setCurrentIndex(max(0, self.shadow_combo.findData(preset.shadow)))
        self.shadow_combo.setToolTip(
            "Contact: a soft dark ellipse under the base. Drop: the silhouette offset along the angle. "
            "Keep: the photo's own shadow. Drawn under the cutout (its own layer in a PSD)"
        )
        self.shadow_spins: dict[str, QDoubleSpinBox] = {}
        opacity = preset.shadow_options.strength if preset.shadow != "none" else DEFAULT_OPACITY["drop"]
        for name, label, suffix, value in (
            ("shadow_angle", "angle", "°", preset.shadow_angle),
            ("shadow_distance", "distance", " %", preset.shadow_distance),
            ("shadow_softness", "softness", " %", preset.shadow_softness),
            ("shadow_opacity", "opacity", "", opacity),
        ):
            spin = QDoubleSpinBox()
            allowed = spec(ExportOptions, name)
            spin.setRange(allowed.lo, allowed.hi)
            spin.setSingleStep(0.05 if name == "shadow_opacity" else 1.0)
            spin.setSuffix(suffix)
            spin.setValue(value)
            spin.setToolTip(f"Shadow {label}" + ("" if name in ("shadow_angle", "shadow_opacity")
                                                 else " in % of the subject's height"))
            self.shadow_spins[name] = spin
        self._shadow_kind = self.shadow_combo.currentData()
        self.shadow_combo.currentIndexChanged.connect(self._shadow_chosen)
        self.shadow_row = QHBoxLayout()
        self.shadow_row.addWidget(self.shadow_combo)
        for name, spin in self.shadow_spins.items():
            self.shadow_row.addWidget(QLabel(name.removeprefix("shadow_")))
            self.shadow_row.addWidget(spin)

    def _shadow_chosen(self) -> None:
        """A new kind brings its own opacity, unless the user had set one."""
        kind, spin = self.shadow_combo.currentData(), self.shadow_spins["shadow_opacity"]
        if kind != "none" and spin.value() == DEFAULT_OPACITY.get(self._shadow_kind, -1):
            spin.setValue(DEFAULT_OPACITY[kind])
        self._shadow_kind = kind if kind != "none" else self._shadow_kind

    def _padding_range(self) -> None:
        padding = spec(ExportOptions, "padding")
        top = PADDING_PERCENT_MAX if self.padding_unit.currentData() == "%" else padding.hi
        self.padding_spin.setRange(padding.lo, top)

    def _format_chosen(self) -> None:
        """A format without transparency over a transparent background: switch to white, and say so."""
        fmt = FORMATS[self.format_combo.currentData()]
        self.quality_spin.setEnabled(bool(fmt.quality))  # PNG, TIFF and PSD have no quality
        if not fmt.alpha and self.transparent_radio.isChecked():
            self.color_button.set_color(QColor(_DEFAULT_FILL))
            self.color_radio.setChecked(True)
            self.error_label.setText(f"{fmt.name.upper()} has no transparency: the background is now white")

    def _marketplace_chosen(self) -> None:
        """Show the preset's values (the table's, :func:`preset_values`) in the widgets."""
        name = self.marketplace_combo.currentData()
        if name is None:
            return  # no check any more; the values stay as they are
        values = preset_values(name)
        self.format_combo.setCurrentIndex(self.format_combo.findData(values["format"]))
        if values["format"] == "jpeg":  # the spin box has no "unset": show what unset means
            self.quality_spin.setValue(values["quality"] or DEFAULT_JPEG_QUALITY)
        self.color_button.set_color(QColor(values["background"]))
        self.color_radio.setChecked(True)
        self.crop_check.setChecked(values["crop"])
        self.padding_unit.setCurrentIndex(self.padding_unit.findData(values["padding_unit"]))
        self.padding_spin.setValue(values["padding"])
        self.square_check.setChecked(values["square"])
        self.mask_check.setChecked(values["output"] == "mask")
        if "colour_space" in values:  # converted to sRGB
            self.colour_combo.setCurrentIndex(self.colour_combo.findData(values["colour_space"]))
        if "shadow" in values:  # a marketplace that allows no shadow
            self.shadow_combo.setCurrentIndex(self.shadow_combo.findData(values["shadow"]))
        self.error_label.setText("")

    def _browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Background image", "", "Images (*.jpg *.jpeg *.png *.webp *.tif *.tiff)"
        )
        if name:
            self.image_edit.setText(name)
            self.image_radio.setChecked(True)

    def preset(self) -> ExportOptions:
        """The options as the dialog shows them (edge settings carried over unchanged); raises
        :class:`~cutout_studio.core.options.OptionsError` when they are refused."""
        fmt = self.format_combo.currentData()
        background: str | None = None
        if self.color_radio.isChecked():
            background = self.color_button.color.name()
        elif self.image_radio.isChecked():
            background = self.image_edit.text().strip() or None
        quality = self.quality_spin.value() if FORMATS[fmt].quality else None
        return dataclasses.replace(
            self._preset,
            format=fmt,
            quality=quality,
            background=background,
            crop=self.crop_check.isChecked(),
            padding=self.padding_spin.value(),
            padding_unit=self.padding_unit.currentData(),
            square=self.square_check.isChecked(),
            output="mask" if self.mask_check.isChecked() else "cutout",
            preset=self.marketplace_combo.currentData(),
            naming=self.naming_edit.text().strip(),
            colour_space=self.colour_combo.currentData(),
            clip_path=self.clip_check.isChecked(),
            clip_path_tolerance=self.clip_tolerance_spin.value(),
            shadow=self.shadow_combo.currentData(),
            shadow_angle=self.shadow_spins["shadow_angle"].value(),
            shadow_distance=self.shadow_spins["shadow_distance"].value(),
            shadow_softness=self.shadow_spins["shadow_softness"].value(),
            shadow_opacity=self._shadow_opacity(),
        )

    def _shadow_opacity(self) -> float | None:
        """The opacity shown, or None where it is the kind's own (it then follows the kind)."""
        kind, value = self.shadow_combo.currentData(), self.shadow_spins["shadow_opacity"].value()
        if kind == "none":
            return self._preset.shadow_opacity
        return None if value == DEFAULT_OPACITY[kind] else value

    def accept(self) -> None:
        try:
            self.preset()  # the options' own validation, one line
        except CutoutError as exc:
            self.error_label.setText(str(exc))
            return
        super().accept()
