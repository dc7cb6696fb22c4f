"""The editor's entry point: the QApplication, logging, and the hooks that keep crashes visible.

``run_gui(files)`` is what ``cutout-studio`` (no arguments) and ``cutout-studio gui FILES``
call. Unexpected exceptions, on the GUI thread or any other, never take the window down
silently: they are written with their traceback to a log file in ``paths.log_dir()``, and
the user gets a message that points to it. Qt's own warnings go to the same log.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from PySide6.QtCore import QMessageLogContext, QObject, QTimer, QtMsgType, Signal, qInstallMessageHandler
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

import cutout_studio
from cutout_studio.core import paths
from cutout_studio.qt.workers import wait_detached

if TYPE_CHECKING:
    from cutout_studio.qt.main_window import MainWindow

LOG_FILE_NAME = "cutout-studio.log"
#: How long the process waits at exit for worker jobs that the closed window left running.
EXIT_WAIT_MS = 1500
#: ... and for a batch that quitting cancelled: the photos in progress (one per worker) are
#: finished, then the run writes its report's last line ("cancelled, N not processed")
BATCH_EXIT_WAIT_MS = 30_000
_log = logging.getLogger("cutout_studio.gui")


def setup_logging() -> Path:
    """Log to ``paths.log_dir()/cutout-studio.log`` (rotated); returns the file."""
    log_file = paths.log_dir() / LOG_FILE_NAME
    root = logging.getLogger()
    if not any(
        isinstance(h, RotatingFileHandler) and Path(h.baseFilename) == log_file for h in root.handlers
    ):
        handler = RotatingFileHandler(log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
        )
        root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return log_file


class ErrorReporter(QObject):
    """Shows unexpected errors to the user; safe to call from any thread (queued signal)."""

    report = Signal(str)

    def __init__(self, log_file: Path, parent_widget: QWidget | None = None) -> None:
        super().__init__()
        self.log_file = log_file
        self.parent_widget = parent_widget
        self.box: QMessageBox | None = None
        self.messages: list[str] = []
        self.report.connect(self._show)

    def _show(self, summary: str) -> None:
        text = f"Something went wrong: {summary}\n\nThe details were written to:\n{self.log_file}"
        self.messages.append(text)
        window = self.parent_widget
        if window is not None and hasattr(window, "statusBar"):
            window.statusBar().showMessage(f"Unexpected error (details in {self.log_file})", 15000)
        if self.box is None:
            self.box = QMessageBox(QMessageBox.Icon.Critical, "Cutout Studio", text, parent=window)
            self.box.setModal(False)  # never block the event loop from inside an error handler
        else:
            self.box.setText(text)
        self.box.show()


def install_exception_hooks(reporter: ErrorReporter) -> None:
    """Route uncaught exceptions (any thread) and Qt messages to the log and the reporter."""

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        _log.error("uncaught exception:\n%s", "".join(traceback.format_exception(kind, value, tb)))
        reporter.report.emit(f"{kind.__name__}: {value}")

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread else "?"
        _log.error(
            "uncaught exception in thread %s:\n%s",
            name,
            "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)),
        )
        reporter.report.emit(f"{args.exc_type.__name__}: {args.exc_value}")

    def qt_message_handler(mode: QtMsgType, context: QMessageLogContext | None, message: str) -> None:
        level = {
            QtMsgType.QtDebugMsg: logging.DEBUG,
            QtMsgType.QtInfoMsg: logging.INFO,
            QtMsgType.QtWarningMsg: logging.WARNING,
            QtMsgType.QtCriticalMsg: logging.ERROR,
            QtMsgType.QtFatalMsg: logging.CRITICAL,
        }.get(mode, logging.WARNING)
        location = f" ({context.file}:{context.line})" if context is not None and context.file else ""
        logging.getLogger("qt").log(level, "%s%s", message, location)

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
    qInstallMessageHandler(qt_message_handler)


def _application() -> QApplication:
    """The running QApplication (tests make their own), else a new one."""
    instance = QApplication.instance()
    if instance is None:
        return QApplication(sys.argv[:1])
    if not isinstance(instance, QApplication):  # a bare QCoreApplication cannot show windows
        raise RuntimeError(f"cannot open the editor inside a {type(instance).__name__}")
    return instance


def apply_style(app: QApplication) -> None:
    """Fusion with a dark palette: photos are judged against neutral grey, not bright chrome."""
    app.setStyle("Fusion")
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: QColor(45, 45, 48),
        QPalette.ColorRole.WindowText: QColor(225, 225, 225),
        QPalette.ColorRole.Base: QColor(32, 32, 34),
        QPalette.ColorRole.AlternateBase: QColor(50, 50, 54),
        QPalette.ColorRole.Text: QColor(225, 225, 225),
        QPalette.ColorRole.Button: QColor(58, 58, 62),
        QPalette.ColorRole.ButtonText: QColor(230, 230, 230),
        QPalette.ColorRole.Highlight: QColor(48, 120, 200),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.ToolTipBase: QColor(250, 250, 230),
        QPalette.ColorRole.ToolTipText: QColor(20, 20, 20),
        QPalette.ColorRole.PlaceholderText: QColor(140, 140, 140),
    }
    for role, colour in colours.items():
        palette.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    app.setPalette(palette)


def _no_display_reason() -> str | None:
    """Why Qt would abort for want of a screen (it cannot be caught once it does), or None."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "no display (neither DISPLAY nor WAYLAND_DISPLAY is set). Run it on a desktop, use the "
        "command line (`cutout-studio cut FILE`, `cutout-studio batch IN -o OUT`), or set "
        "QT_QPA_PLATFORM=offscreen"
    )


def run_gui(files: list[str]) -> int:
    """Open the editor (optionally with photos or folders) and run until it is closed.

    Returns the exit status once the window is closed (settings saved, edits autosaved) and
    the jobs it left are over or given up on: the caller (``cli._run_gui``) then ends the
    process without tearing the interpreter down, which would wait for such jobs and take
    seconds once torch is loaded.
    """
    problem = _no_display_reason()
    if problem and QApplication.instance() is None:
        print(f"cutout-studio: cannot open the editor: {problem}", file=sys.stderr)
        return 2
    log_file = setup_logging()
    app = _application()
    app.setApplicationName("Cutout Studio")
    app.setOrganizationName("cutout-studio")
    app.setApplicationVersion(cutout_studio.__version__)
    apply_style(app)

    from cutout_studio.qt.main_window import MainWindow

    reporter = ErrorReporter(log_file)
    install_exception_hooks(reporter)
    _log.info("Cutout Studio %s starting (log: %s)", cutout_studio.__version__, log_file)
    window = MainWindow()
    reporter.parent_widget = window
    window.show()
    if files:
        window.open_paths(files)
    quit_on_signals(window)
    code = int(app.exec())
    for sig in (signal.SIGTERM, signal.SIGINT):  # a second one while the jobs end: stop at once
        signal.signal(sig, signal.SIG_DFL)
    if not wait_for_workers(window):
        _log.info("exiting with a worker job still running (its result is not needed)")
    return code


def quit_on_signals(window: QWidget) -> None:
    """SIGTERM (a logout, ``kill``) and SIGINT (Ctrl-C in the terminal) close the window as
    Quit does: settings saved, edits autosaved, a running batch cancelled cleanly."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: window.close())
    # Python runs signal handlers only between its own bytecodes: wake it while Qt waits
    ticker = QTimer(window)
    ticker.timeout.connect(lambda: None)
    ticker.start(200)


def wait_for_workers(window: MainWindow) -> bool:
    """After the event loop: wait, with a bound, for the jobs the closed window left running.

    The edits and settings were saved when the window closed; a job that cannot be
    interrupted (a matting solve, a model pass) is not waited for long. A batch that quitting
    cancelled is: it finishes its photos in progress and ends its report with the cancelled
    line, so the report of an aborted batch never looks complete. True when none is left.
    """
    dialog = window.batch_dialog
    bound = BATCH_EXIT_WAIT_MS if dialog is not None and dialog.running else EXIT_WAIT_MS
    return wait_detached(bound)
