"""The marketplace check of the photo on screen: one line under the export summary.

When the export settings name a marketplace preset, :class:`ComplianceCheck` checks what
exporting the photo on screen would write (:func:`~cutout_studio.core.export.compliance.check_compliance`,
with the photo's own edge settings) on a worker lane, a moment after the picture or the
settings last changed, and shows "Amazon: ok" or the reasons it fails. The GUI thread only
starts the job and shows its line; a result for an older picture or setting is dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, QTimer, SignalInstance
from PySide6.QtWidgets import QLabel

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.export.compliance import Compliance, check_compliance
from cutout_studio.core.export.presets import PRESETS
from cutout_studio.qt.document import Document
from cutout_studio.qt.state import EditorState
from cutout_studio.qt.workers import Job, JobContext, Lane

__all__ = ["ComplianceCheck"]

#: a check follows the last of a burst of changes (a brush stroke updates the picture often)
_DELAY_MS = 300
_OK, _FAILS = "color: #3a3;", "color: #e55;"


class ComplianceCheck(QObject):
    """Keeps ``label`` showing the marketplace check of the photo ``current()`` returns."""

    def __init__(self, state: EditorState, lane: Lane, label: QLabel, *, current: Callable[[], Document | None],
                 edges_of: Callable[[Document], EdgeOptions], changed: Sequence[SignalInstance] = (),
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._lane = lane
        self._label = label
        self._current = current
        self._edges_of = edges_of
        self._job: Job | None = None
        self._asked = 0  #: numbers the requests: only the newest one's answer is shown
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(_DELAY_MS)
        self._timer.timeout.connect(self._start)
        state.export_changed.connect(self.refresh)
        for signal in changed:  # the picture on screen changed, or another photo is shown
            signal.connect(self.refresh)
        label.setWordWrap(True)
        label.hide()
        self.refresh()  # a preset kept from the last run shows its line from the start

    def refresh(self, *_: object) -> None:
        """The picture or the settings changed: check again shortly."""
        self._timer.start()

    def _start(self) -> None:
        self._asked += 1
        if self._job is not None:
            self._job.cancel()
            self._job = None
        options, doc = self._state.export, self._current()
        if options.preset is None:
            self._label.hide()
            return
        label = PRESETS[options.preset].label
        if doc is None or doc.image is None or doc.alpha is None:
            self._show(f"{label}: shown once a photo's mask is ready", "")
            return
        own = dataclasses.replace(options, edges=self._edges_of(doc))
        image, alpha, asked = doc.image, doc.alpha, self._asked  # the edit lane replaces, never mutates, doc.alpha

        def check(ctx: JobContext) -> Compliance | None:
            return check_compliance(image, alpha, own)

        self._job = self._lane.submit(check, name="compliance",
                                      on_done=lambda result: self._done(asked, result),
                                      on_error=lambda exc: self._failed(asked, exc))

    def _done(self, asked: int, result: Compliance | None) -> None:
        if asked != self._asked or result is None:
            return
        self._job = None
        self._show(result.label(), _OK if result.ok else _FAILS)

    def _failed(self, asked: int, exc: BaseException) -> None:
        if asked == self._asked:
            self._job = None
            self._show(f"check failed: {exc}", _FAILS)

    def _show(self, text: str, style: str) -> None:
        self._label.setText(text)
        self._label.setToolTip(text)
        self._label.setStyleSheet(style)
        self._label.show()
