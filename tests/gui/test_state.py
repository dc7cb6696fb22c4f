"""Issue 9, case 1: one observable editor state, bound to widgets both ways, persisted in one place."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSlider, QSpinBox, QWidget

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.image_io import load_image
from cutout_studio.core.options import OptionsError
from cutout_studio.core.refine import RefineSession
from cutout_studio.core.settings import Settings, load_settings, save_settings, settings_path
from cutout_studio.core.shoots import ShootStore
from cutout_studio.qt.actions import Actions
from cutout_studio.qt.binding import bind
from cutout_studio.qt.document import DocStatus, Document, StrokeCommand
from cutout_studio.qt.editing import EditPipeline
from cutout_studio.qt.export_dialog import describe
from cutout_studio.qt.exporting import ExportFlow
from cutout_studio.qt.persistence import SAVE_DELAY_MS, SettingsKeeper
from cutout_studio.qt.render import VIEW_MODES, ViewSettings
from cutout_studio.qt.shoot import ShootFlow
from cutout_studio.qt.state import MAX_BRUSH, EditorState
from cutout_studio.qt.tools_panel import ToolsPanel
from cutout_studio.qt.widgets import ColorButton
from cutout_studio.qt.workers import Lane

pytestmark = pytest.mark.gui

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CUTOUT_STUDIO_HOME", str(tmp_path))
    return tmp_path


def _record(signal) -> list:
    seen: list = []
    signal.connect(lambda *args: seen.append(args[0] if args else None))
    return seen


def test_properties_are_checked_and_emit_only_on_a_real_change(qtbot):
    state = EditorState()
    sizes, names = _record(state.brush_size_changed), _record(state.changed)
    state.brush_size = 57.4
    state.brush_size = 57  # the same whole pixel size: nothing to tell
    state.brush_size = 10_000
    assert sizes == [57.0, float(MAX_BRUSH)] and names == ["brush_size", "brush_size"]
    with pytest.raises(ValueError):
        state.view_mode = "sepia"
    with pytest.raises(ValueError):
        state.overlay_color = "not a colour"
    state.overlay_color = "#0F0"
    assert state.overlay_color == "#00ff00" and state.view_mode == "overlay"


def test_edges_are_the_photos_not_the_export_presets_and_checked_by_their_schema(qtbot):
    """Issue 15: edge settings belong to the photo on screen; the preset keeps format, crop…"""
    state = EditorState()
    edges, exports = _record(state.edges_changed), _record(state.export_changed)
    state.set_edge(feather=2.5)
    assert state.edges.feather == 2.5 and edges == [state.edges] and exports == []
    assert state.export.edges == EdgeOptions() and state.export_for().edges.feather == 2.5
    assert state.export_for(EdgeOptions(shift=-1.0)).edges.shift == -1.0
    state.export = dataclasses.replace(state.export, format="webp")  # the edges did not change
    assert len(exports) == 1 and len(edges) == 1
    with pytest.raises(OptionsError):
        state.set_edge(feather=1000.0)
    assert state.edges.feather == 2.5


def test_a_bound_widget_follows_the_state_and_the_state_follows_the_widget(qtbot):
    state = EditorState()
    host = QWidget()
    qtbot.addWidget(host)
    spin, slider, combo, check, color = QSpinBox(host), QSlider(host), QComboBox(host), QCheckBox(host), None
    spin.setRange(1, 800)
    slider.setRange(0, 100)
    for mode in VIEW_MODES:
        combo.addItem(mode, mode)
    color = ColorButton(QColor("black"), "colour", host)
    bind(state, "brush_size", spin)
    bind(state, "overlay_opacity", slider, scale=100)
    bind(state, "view_mode", combo)
    bind(state, "edges.matting", check)
    bind(state, "overlay_color", color)
    # Bound: each widget shows the state at once.
    assert spin.value() == 24 and slider.value() == 55 and combo.currentData() == "overlay"
    assert not check.isChecked() and color.color.name() == "#4f6bff"

    # State -> widget.
    state.brush_size = 31
    state.overlay_opacity = 0.2
    state.view_mode = "mask"
    state.set_edge(matting=True)
    state.overlay_color = "#123456"
    assert spin.value() == 31 and slider.value() == 20 and combo.currentData() == "mask"
    assert check.isChecked() and color.color.name() == "#123456"

    # Widget -> state, once per change (the binding does not echo back into the widget).
    names = _record(state.changed)
    spin.setValue(44)
    slider.setValue(75)
    combo.setCurrentIndex(combo.findData("checker"))
    check.setChecked(False)
    color.set_color(QColor("#00ff00"))
    assert (state.brush_size, state.overlay_opacity, state.view_mode) == (44.0, 0.75, "checker")
    assert not state.edges.matting and state.overlay_color == "#00ff00"
    assert names == ["brush_size", "overlay_opacity", "view_mode", "edges", "overlay_color"]


def test_a_value_the_state_refuses_does_not_stay_in_the_widget(qtbot):
    state = EditorState()
    spin = QDoubleSpinBox()
    qtbot.addWidget(spin)
    spin.setRange(-1000, 1000)  # wider than the schema's 0..100 px
    bind(state, "edges.feather", spin)
    spin.setValue(500.0)
    assert state.edges.feather == 0.0 and spin.value() == 0.0
    spin.setValue(3.0)
    assert state.edges.feather == 3.0


def test_typing_into_a_bound_spin_box_is_not_overwritten_keystroke_by_keystroke(qtbot):
    """Typing "3.5" stopped at 3.00: the first keystroke's value was written back into the box."""
    state = EditorState()
    spin = QDoubleSpinBox()
    qtbot.addWidget(spin)
    spin.setRange(0, 100)
    spin.setSuffix(" px")
    bind(state, "edges.feather", spin)
    spin.show()
    spin.setFocus()
    spin.selectAll()
    QTest.keyClicks(spin, "3.5")
    assert state.edges.feather == 3.5 and spin.value() == 3.5


def test_actions_and_the_tools_panel_are_bound_to_the_state(qtbot):
    host = QWidget()
    qtbot.addWidget(host)
    state = EditorState()
    actions = Actions(host)
    bind(state, "tool", actions.tools)
    bind(state, "view_mode", actions.modes)
    panel = ToolsPanel(actions, state)
    qtbot.addWidget(panel)

    actions.tools["erase"].trigger()
    actions.modes["checker"].trigger()
    assert state.tool == "erase" and state.view_mode == "checker"
    assert panel.mode_combo.currentData() == "checker"
    state.tool = "bg"
    state.view_mode = "original"
    assert actions.tools["bg"].isChecked() and actions.modes["original"].isChecked()

    panel.feather_spin.setValue(4.5)
    panel.brush_slider.setValue(120)
    assert state.edges.feather == 4.5 and state.brush_size == 120 and panel.brush_spin.value() == 120
    state.set_edge(shift=-3.0, decontaminate=False)
    assert panel.shift_spin.value() == -3.0 and not panel.decontaminate_check.isChecked()
    state.export = ExportOptions(format="jpeg", background="#ffffff", edges=state.edges)
    assert panel.export_summary.text().startswith("JPEG")
    # The spin boxes offer exactly the schema's range.
    assert (panel.feather_spin.minimum(), panel.feather_spin.maximum()) == (0.0, 100.0)


def test_the_state_round_trips_through_the_settings_file(qtbot, home):
    settings = Settings()
    state = EditorState()
    keeper = SettingsKeeper(state, settings)
    state.brush_size = 57
    state.view_mode = "mask"
    state.overlay_color = "#00ff00"
    state.overlay_opacity = 0.3
    state.cutout_color = "#101010"
    state.set_edge(feather=2.5, matting=True)  # the photo's (issue 15): not in the settings
    assert settings.editor.brush_size == 57 and settings.export.edges == EdgeOptions()  # mirrored at once
    # Written once, a moment after the last change (no close needed).
    qtbot.waitUntil(settings_path().is_file, timeout=5 * SAVE_DELAY_MS)
    stored = load_settings()
    assert stored == settings

    again = EditorState()
    SettingsKeeper(again, stored)
    assert [getattr(again, n) for n in EditorState.NAMES if n != "tool"] == [
        getattr(state, n) for n in EditorState.NAMES if n != "tool"
    ]
    assert again.edges == EdgeOptions()
    del keeper


def test_a_stored_value_the_state_refuses_keeps_its_default(qtbot, home):
    settings = Settings()
    settings.editor.view_mode = "sepia"
    settings.editor.overlay_color = "nonsense"
    settings.editor.brush_size = 33
    save_settings(settings)
    state = EditorState()
    SettingsKeeper(state, load_settings())
    assert state.view_mode == "overlay" and state.overlay_color == "#4f6bff" and state.brush_size == 33


def test_exporting_needs_only_the_state_and_its_collaborators_not_the_window(qtbot, home, tmp_path):
    """The export settings dialog sets the state's preset (the bound summary shows it, the keeper
    saves it), and an export of a real photo runs, reports and remembers its folder, all without
    a MainWindow: ExportFlow gets only what it uses."""
    host = QWidget()
    qtbot.addWidget(host)
    settings = Settings()
    state = EditorState()
    keeper = SettingsKeeper(state, settings)
    state.set_edge(shift=-2.0)
    panel = ToolsPanel(Actions(host), state)
    qtbot.addWidget(panel)
    photo = DATA / "davis__davis032.jpg"
    doc = Document(photo, status=DocStatus.MASKED)
    doc.image = load_image(photo)
    alpha = np.asarray(Image.open(photo.with_suffix(".png")).convert("L"), np.float32) / 255
    doc.session = RefineSession(doc.image.rgb, alpha)
    doc.auto_alpha = doc.alpha = alpha
    jobs, edits = Lane("jobs"), Lane("edit")
    pipeline = EditPipeline(edits, lambda: doc, lambda: ViewSettings(), lambda: state.edges)
    shoot = ShootFlow(state, lambda: [doc], lambda: doc, lambda _doc: None, ShootStore(tmp_path / "shoots.json"))
    flow = ExportFlow(
        state, jobs, shoot=shoot, folders=keeper, idle=pipeline, documents=lambda: [doc], current=lambda: doc,
        segmenter=lambda: None, parent=host,
    )
    messages = _record(flow.message)

    dialog = flow.edit_settings()
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("webp"))
    dialog.accept()
    assert state.export.format == "webp" and state.edges.shift == -2.0  # the edges are carried over
    assert panel.export_summary.text() == describe(state.export) and "WEBP" in panel.export_summary.text()
    assert settings.export == state.export

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    changed = _record(doc.changed)
    with qtbot.waitSignal(flow.finished, timeout=60_000) as done:
        assert flow.export_current(out_dir / "cut")
    written = out_dir / "cut.webp"
    assert done.args == [1, False] and messages[-1] == f"Exported {written}"
    with Image.open(written) as image:
        assert image.format == "WEBP" and image.mode == "RGBA"
        # the panel's shift of -2 px (the photo's edges) is in the file: less subject than the mask
        assert (np.asarray(image)[..., 3] > 127).sum() < (alpha > 0.5).sum()
    assert doc.status is DocStatus.EXPORTED and doc.output_path == written and changed == [doc]
    # The folder is remembered absolute and written with the preset, a moment later.
    qtbot.waitUntil(settings_path().is_file, timeout=5 * SAVE_DELAY_MS)
    stored = load_settings()
    assert stored.last_export_dir == str(out_dir.resolve()) and stored.export.format == "webp"
    with pytest.raises(ValueError):
        keeper.remember_folder("last_model_dir", out_dir)  # only the folders the settings keep
    jobs.wait()
    edits.wait()


def test_a_document_emits_changed_when_an_edit_is_applied(qtbot, tmp_path):
    rgb = np.full((80, 100, 3), 30, np.uint8)
    rgb[20:60, 30:70] = 200
    alpha = np.zeros((80, 100), np.float32)
    alpha[20:60, 30:70] = 1.0
    doc = Document(tmp_path / "synthetic.png", status=DocStatus.MASKED)
    from cutout_studio.core.image_io import LoadedImage

    doc.image = LoadedImage(rgb=rgb)
    doc.session = RefineSession(rgb, alpha)
    doc.auto_alpha = doc.alpha = alpha
    lane = Lane("edit")
    pipeline = EditPipeline(lane, lambda: doc, lambda: ViewSettings(), lambda: EdgeOptions())
    with qtbot.waitSignal(doc.changed, timeout=30_000) as blocker:
        pipeline.push(doc, StrokeCommand("bg", ((40.0, 30.0), (60.0, 30.0)), 4.0))
    assert blocker.args == [doc]
    assert doc.status is DocStatus.EDITED and doc.can_undo and not np.array_equal(doc.alpha, alpha)
    lane.wait()
