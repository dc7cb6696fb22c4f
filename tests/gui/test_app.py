"""The window around the editing: settings, missing model, help, and the crash safety net."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, qInstallMessageHandler
from PySide6.QtGui import QColor, QKeySequence
from PySide6.QtTest import QTest

from cutout_studio.core import paths
from cutout_studio.core.errors import CancelledError
from cutout_studio.core.settings import load_settings
from cutout_studio.qt.document import DocStatus
from tests.gui.conftest import MASK_TIMEOUT_MS, TEDDY

pytestmark = pytest.mark.gui


def test_settings_persist_into_a_new_window(qtbot, make_window, gui_home):
    first = make_window()
    first.set_brush_size(57)
    first.state.view_mode = "mask"
    first.tools.opacity_slider.setValue(30)
    first.tools.overlay_button.set_color(QColor("#00ff00"))
    first.tools.feather_spin.setValue(2.5)
    first.resize(1000, 700)
    first.close()

    stored = load_settings()
    assert stored.editor.brush_size == 57
    assert (paths.config_dir() / "settings.json").is_file()
    assert (paths.config_dir() / "window.ini").is_file()

    second = make_window()
    assert second.settings.editor.brush_size == 57
    assert second.tools.brush_size == 57 and second.canvas.brush_radius == 28.5
    assert second.canvas.mode == "mask" and second.tools.mode_combo.currentData() == "mask"
    assert second.tools.overlay_button.color.name() == "#00ff00"
    assert second.tools.opacity_slider.value() == 30
    assert second.state.overlay_opacity == 0.3
    # edge settings belong to photos and shoots (issue 15): a new window does not inherit the
    # feather set on the panel with no photo open
    assert second.tools.feather_spin.value() == 0.0 and second.state.edges.feather == 0.0


def test_brush_size_keys_and_the_shortcuts_dialog_come_from_the_actions(qtbot, make_window):
    window = make_window()
    window.set_brush_size(40)
    window.actions_.brush_bigger.trigger()
    assert window.settings.editor.brush_size == 50
    window.actions_.brush_smaller.trigger()
    window.actions_.brush_smaller.trigger()
    assert window.settings.editor.brush_size == 32

    dialog = window.show_shortcuts()
    keys_by_action = {action: keys for _group, keys, action in dialog.rows}
    assert keys_by_action["Undo"] == QKeySequence("Ctrl+Z").toString(QKeySequence.SequenceFormat.NativeText)
    assert "[" in keys_by_action["Smaller brush"] and "]" in keys_by_action["Bigger brush"]
    # Every action with a shortcut is listed, so the dialog cannot drift from the keys.
    with_keys = [a for _m, a in window.actions_.all() if a.shortcuts()]
    assert len([r for r in dialog.rows if r[0] != "Mouse"]) == len(with_keys)
    assert any(r[0] == "Mouse" and "Space" in r[1] for r in dialog.rows)
    # A tool's tooltip names its shortcut.
    assert "(F)" in window.actions_.tools["fg"].toolTip()
    dialog.close()


def test_without_a_model_the_window_offers_to_install_it(qtbot, make_window, tmp_path, monkeypatch):
    empty = tmp_path / "empty-home"
    empty.mkdir()
    monkeypatch.setenv("CUTOUT_STUDIO_HOME", str(empty))
    window = make_window()
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=MASK_TIMEOUT_MS)
    assert "not installed" in window.banner.label.text()
    assert window.model_label.text() == "Model: not installed"

    # Photos still open and show, without a mask, and the brushes are off.
    with qtbot.waitSignal(window.masks.prepared, timeout=MASK_TIMEOUT_MS):
        window.open_paths([TEDDY])
    doc = window.current
    assert window.canvas.has_photo and doc.alpha is None
    assert doc.status is DocStatus.WAITING
    assert not window.canvas.brushes_enabled and not window.actions_.export.isEnabled()

    window.banner.install_button.click()
    dialogs = [d for d in window.popups.open if d.isVisible()]
    assert len(dialogs) == 1 and dialogs[0].install_button.isEnabled()
    dialogs[0].reject()


def test_model_install_dialog_reports_progress_and_can_be_cancelled(qtbot, make_window):
    from cutout_studio.qt.dialogs import ModelInstallDialog

    window = make_window()
    started = threading.Event()

    def fake_install(model: str, ctx):
        ctx.progress((0.25, f"downloading {model}"))
        started.set()
        while not ctx.cancelled():
            ctx.cancel_event.wait(0.01)
        raise CancelledError("model install cancelled")

    dialog = ModelInstallDialog(window.lanes.jobs, "u2netp", "No model", window, installer=fake_install)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.install_button.click()
    qtbot.waitUntil(lambda: dialog.progress.value() == 25, timeout=10_000)
    assert "downloading u2netp" in dialog.status.text()
    assert not dialog.install_button.isEnabled()
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=10_000)
    assert dialog.status.text() == "Installation cancelled."
    assert dialog.install_button.isEnabled() and dialog.isVisible()


def test_unexpected_exceptions_are_logged_and_shown(qtbot, make_window, monkeypatch):
    from cutout_studio.qt.app import ErrorReporter, install_exception_hooks, setup_logging

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    window = make_window()
    log_file = setup_logging()
    reporter = ErrorReporter(log_file, window)
    previous_handler = qInstallMessageHandler(None)
    try:
        install_exception_hooks(reporter)
        try:
            raise ValueError("a bug in a slot")
        except ValueError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
        qtbot.waitUntil(lambda: reporter.box is not None and reporter.box.isVisible(), timeout=5000)
    finally:
        qInstallMessageHandler(previous_handler)
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "baseFilename", None) == str(log_file)]:
            handler.close()
            root.removeHandler(handler)
    text = Path(log_file).read_text(encoding="utf-8")
    assert "ValueError: a bug in a slot" in text and "Traceback" in text
    assert str(log_file) in reporter.box.text() and "a bug in a slot" in reporter.box.text()
    assert log_file.parent == paths.log_dir()
    reporter.box.close()


def test_recent_files_menu_and_about_dialog(qtbot, make_window, tmp_path):
    window = make_window()
    missing = tmp_path / "gone.jpg"
    window.open_paths([missing])
    doc = window.docs[0]
    assert doc.status is DocStatus.FAILED and "file not found" in doc.message
    assert "failed: gone.jpg: file not found" in window.filmstrip.row_text(doc)
    window.recent_menu.aboutToShow.emit()
    assert [a.text() for a in window.recent_menu.actions()] == [str(missing)]
    assert window.settings.recent_files == [str(missing)]

    qtbot.waitUntil(lambda: window.masks.segmenter is not None, timeout=MASK_TIMEOUT_MS)
    about = window.show_about()
    assert "u2netp" in about.text and "CPU" in about.text and "Apache-2.0" in about.text
    assert window.masks.segmenter.precision in about.text  # float32 or bfloat16: the user can tell
    about.close()


def test_brush_keys_step_small_brushes_by_at_least_a_pixel(qtbot, make_window):
    """Issue 8, case 14: `]` was stuck at 2 px (2 × 1.25 = 2.5 rounded back to 2)."""
    window = make_window()
    window.set_brush_size(1)
    sizes = []
    for _ in range(5):
        window.actions_.brush_bigger.trigger()
        sizes.append(window.settings.editor.brush_size)
    assert sizes == [2, 3, 4, 5, 6]
    assert window.tools.brush_size == 6 and window.canvas.brush_radius == 3
    for _ in range(7):
        window.actions_.brush_smaller.trigger()
    assert window.settings.editor.brush_size == 1  # down to the minimum, and it stays there
    window.canvas.brush_resize_requested.emit(1)  # Ctrl+wheel takes the same steps
    assert window.settings.editor.brush_size == 2
    window.set_brush_size(800)
    window.actions_.brush_bigger.trigger()
    assert window.settings.editor.brush_size == 800


def test_last_folders_are_saved_absolute(qtbot, make_window, monkeypatch):
    """Issue 8, case 14: a relative "last folder" opened the dialog at / after a launch elsewhere."""
    monkeypatch.chdir(TEDDY.parent.parent)  # tests/
    window = make_window()
    window.open_paths([f"data/{TEDDY.name}"])
    assert window.settings.last_open_dir == str(TEDDY.parent)
    window.settings.last_export_dir = "data"  # however a front stored it
    window.close()
    stored = load_settings()
    assert stored.last_open_dir == str(TEDDY.parent) and stored.last_export_dir == str(TEDDY.parent)


def test_ctrl_q_quits_on_every_platform(qtbot, make_window):
    """Ctrl+Q is bound even where the platform binds nothing to "Quit" (Windows, offscreen, bare X)."""
    window = make_window()
    assert QKeySequence("Ctrl+Q") in window.actions_.quit.shortcuts()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    QTest.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert not window.isVisible()
