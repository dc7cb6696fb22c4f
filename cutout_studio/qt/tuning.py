"""Personal tuning in the editor: keeping finished photos (opt-in), the Model menu's model choice,
and Model › Tune on my corrections… (core/training/tune.py in the background, with progress and
Cancel, then an offer to use the new model).

The window creates one :class:`TuningFlow` and calls :meth:`TuningFlow.attach_menu` with its
Model menu; everything else is wired here. The tune runs on a lane of its own (the editor's one
worker pattern, :mod:`workers`), so exports and batches on the jobs lane never wait behind it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cutout_studio.core.corrections import CorrectionsSet
from cutout_studio.core.errors import CancelledError
from cutout_studio.core.settings import Settings
from cutout_studio.qt.corrections_dialog import CorrectionsDialog
from cutout_studio.qt.document import Document
from cutout_studio.qt.workers import Job, JobContext, Lane

if TYPE_CHECKING:
    from cutout_studio.core.training.tune import TuneResult
    from cutout_studio.qt.main_window import MainWindow

_log = logging.getLogger(__name__)


class TuningFlow(QObject):
    """Keeps finished photos when asked, lists the models to use, runs tunes (see the module docstring)."""

    #: a photo was kept in the corrections set (its Correction)
    kept = Signal(object)
    #: the model the editor uses changed (its name)
    model_switched = Signal(str)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.settings: Settings = window.settings
        self.corrections = CorrectionsSet()
        self.lane = Lane("tune", self)
        self.dialog: TuneDialog | None = None
        #: what the tune runs with besides name and steps (core.training.tune.tune's keywords; tests shrink it)
        self.tune_options: dict[str, Any] = {}
        a = window.actions_
        a.keep_corrections.setChecked(self.settings.keep_corrections)
        a.keep_corrections.toggled.connect(self.set_keep)
        a.corrections.triggered.connect(self.show_corrections)
        a.tune.triggered.connect(self.show_tune)
        window.shoot.photo_finished.connect(self.photo_finished)

    # ------------------------------------------------------------------ keeping finished photos

    def set_keep(self, on: bool) -> None:
        """Turn keeping finished photos on or off (saved at once: it decides what is written)."""
        if self.window.actions_.keep_corrections.isChecked() != on:
            self.window.actions_.keep_corrections.setChecked(on)  # comes back here through toggled
            return
        self.settings.keep_corrections = on
        self.window.save_settings()

    def photo_finished(self, doc: Document) -> None:
        """Keep ``doc`` (photo + final mask) once its queued strokes are applied, when asked to."""
        if not self.settings.keep_corrections:
            return
        self.window.pipeline.call_when_idle(doc, lambda: self._keep(doc))

    def _keep(self, doc: Document) -> None:
        if doc.image is None or doc.alpha is None:
            # accepted from the review grid without being opened: its pixels are not in memory
            self.window.statusBar().showMessage(f"{doc.label} was not kept for tuning: open it and accept it", 6000)
            return
        rgb, alpha, source = doc.image.rgb, doc.alpha, doc.path
        shoot = str(self.window.shoot.shoot.folder) if self.window.shoot.shoot is not None else ""
        corrections = self.corrections
        self.window.lanes.save.submit(
            lambda _ctx: corrections.add(rgb, alpha, source, shoot),
            name="keep correction",
            on_done=self.kept.emit,
            on_error=lambda exc: self.window.statusBar().showMessage(
                f"{doc.label} could not be kept for tuning: {exc}", 8000),
        )

    def show_corrections(self) -> CorrectionsDialog:
        dialog = self.window.findChild(CorrectionsDialog)
        if dialog is None:
            dialog = CorrectionsDialog(self.corrections, self.window.actions_.keep_corrections, self.window)
            dialog.tune_requested.connect(self.show_tune)
            self.kept.connect(lambda _entry: dialog.refresh())
        dialog.refresh()
        dialog.show()
        dialog.raise_()
        return dialog

    # ------------------------------------------------------------------ the model in use

    def attach_menu(self, menu: QMenu) -> None:
        """Add "Use model" to the Model menu: every installed model, the one in use checked."""
        self.use_menu = menu.addMenu("&Use model")
        self.use_menu.aboutToShow.connect(self._fill_use_menu)
        self._fill_use_menu()

    def _fill_use_menu(self) -> None:
        from cutout_studio.core.models import get_card, list_models

        self.use_menu.clear()
        group = QActionGroup(self.use_menu)
        current = get_card(self.settings.model).name if self._known(self.settings.model) else self.settings.model
        for card, found in list_models():
            if found is None:
                continue
            action = QAction(card.name + ("  (personal)" if card.user else ""), self.use_menu, checkable=True)
            action.setToolTip(card.description)
            action.setChecked(card.name == current)
            action.triggered.connect(lambda _checked=False, name=card.name: self.use_model(name))
            group.addAction(action)
            self.use_menu.addAction(action)

    @staticmethod
    def _known(name: str) -> bool:
        from cutout_studio.core.errors import ModelError
        from cutout_studio.core.models import get_card

        try:
            get_card(name)
        except ModelError:
            return False
        return True

    def use_model(self, name: str) -> None:
        """Make ``name`` the editor's model (saved): photos masked from now on use it."""
        w = self.window
        self.settings.model = name
        w.save_settings()
        w.model_status.model = name
        w.masks.use_model(name)
        w.statusBar().showMessage(f"Using model {name}: photos masked from now on use it", 8000)
        self.model_switched.emit(name)

    # ------------------------------------------------------------------ tuning

    def show_tune(self) -> TuneDialog:
        if self.dialog is None:
            self.dialog = TuneDialog(self, self.window)
        self.dialog.refresh()
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    @property
    def running(self) -> bool:
        return self.lane.busy

    def start(self, name: str, steps: int, on_progress: Callable[[object], None],
              on_done: Callable[[object], None], on_error: Callable[[BaseException], None]) -> Job:
        from cutout_studio.core.training.tune import tune

        base = self.settings.model if self._known(self.settings.model) else None
        if base is not None and base == name:
            base = None  # tuning "personal" again starts from the default model, not from itself

        options = dict(self.tune_options)

        def run(ctx: JobContext) -> object:
            return tune(None, name=name, base=base, steps=steps, progress=False, cancelled=ctx.cancelled,
                        on_step=lambda step, stop: ctx.progress((step, stop)), **options)

        return self.lane.submit(run, name="tune", on_done=on_done, on_error=on_error, on_progress=on_progress)

    def risks(self) -> list[str]:
        """What quitting now would lose (the window's quit question)."""
        return ["a tune is running: it will be cancelled (nothing is registered)"] if self.running else []

    def shutdown(self) -> None:
        """The window closes: cancel the tune (it stops at its next step; nothing is registered)."""
        self.lane.closed = True
        self.lane.cancel_all()
        if not self.lane.wait(250):
            self.lane.detach()


class TuneDialog(QDialog):
    """Tune on my corrections: how many, which name and steps; progress with ETA and Cancel; use it."""

    def __init__(self, flow: TuningFlow, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWindowTitle("Tune on my corrections")
        self.flow = flow
        self.job: Job | None = None
        self.outcome: TuneResult | None = None  #: the last tune's (not ``result``: QDialog's)
        self._started = 0.0
        layout = QVBoxLayout(self)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        form = QFormLayout()
        self.name_edit = QLineEdit("personal")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 5000)
        self.steps_spin.setValue(60)
        self.steps_spin.setToolTip("More steps learn more from your photos and take longer")
        form.addRow("Model name", self.name_edit)
        form.addRow("Steps", self.steps_spin)
        layout.addLayout(form)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        buttons = QDialogButtonBox()
        self.start_button = QPushButton("Start tuning")
        self.cancel_button = QPushButton("Cancel tuning")
        self.use_button = QPushButton("Use it now")
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        for button in (self.start_button, self.cancel_button, self.use_button):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        layout.addWidget(buttons)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button.clicked.connect(self.use)
        self.close_button.clicked.connect(self.hide)
        self.cancel_button.setEnabled(False)
        self.use_button.setEnabled(False)

    def refresh(self) -> None:
        count = len(self.flow.corrections)
        base = self.flow.settings.model
        self.summary.setText(
            f"{count} finished photo(s) kept for tuning. The model in use ({base}) is fine-tuned on them in the "
            "background; the result is a new model you can choose in Model › Use model, and in "
            "`cutout-studio cut/batch --model NAME`."
            if count else
            "No finished photos are kept yet: turn on Model › Keep finished photos for tuning, then accept photos "
            "you fixed (A)."
        )
        self.start_button.setEnabled(count > 0 and self.job is None)

    def start(self) -> bool:
        if self.job is not None:
            return False
        self.outcome = None
        self.use_button.setEnabled(False)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.bar.setRange(0, self.steps_spin.value())
        self.bar.setValue(0)
        self.status.setText("Starting (loading the model and your photos)…")
        self._started = time.monotonic()
        self.job = self.flow.start(self.name_edit.text().strip(), self.steps_spin.value(), self._progress,
                                   self._done, self._failed)
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling at the end of this step…")

    def _progress(self, value: object) -> None:
        step, stop = cast("tuple[int, int]", value)
        self.bar.setRange(0, stop)
        self.bar.setValue(step)
        elapsed = time.monotonic() - self._started
        left = elapsed / step * (stop - step) if step else 0.0
        self.status.setText(f"Step {step} of {stop}: about {_duration(left)} left")

    def _done(self, value: object) -> None:
        self._finish()
        result = self.outcome = cast("TuneResult", value)
        self.status.setText(f"Model '{result.model.card.name}' is ready ({result.pairs} photo(s), {result.steps} "
                            f"steps, {_duration(result.seconds)}). Use it now?")
        self.use_button.setEnabled(True)

    def _failed(self, exc: BaseException) -> None:
        self._finish()
        self.status.setText("Cancelled: no model was registered." if isinstance(exc, CancelledError)
                            else f"The tune failed: {exc}")

    def _finish(self) -> None:
        self.job = None
        self.cancel_button.setEnabled(False)
        self.refresh()

    def use(self) -> None:
        if self.outcome is not None:
            self.flow.use_model(self.outcome.model.card.name)
            self.use_button.setEnabled(False)
            self.hide()


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
