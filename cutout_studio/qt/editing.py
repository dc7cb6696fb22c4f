"""The edit pipeline: strokes, undo/redo and edge previews applied on the edit lane, latest wins.

Edits are commands, never dropped: every stroke, undo, redo or reset is appended to the
document's queue and applied in order. What *is* superseded is the picture: one edit job
drains the whole queue, then refines and composes the canvas layer once. While a job runs,
further requests only set a "run again" flag (at most one job pending per document, never a
queue of renders), and each request bumps the document's generation so that the result of a
job that was overtaken by a newer request is dropped instead of shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.errors import CancelledError
from cutout_studio.qt.document import DocStatus, Document, EditCommand, StrokeCommand
from cutout_studio.qt.render import Layer, ViewSettings, compose
from cutout_studio.qt.workers import JobContext, Lane


@dataclass
class EditResult:
    generation: int
    alpha: np.ndarray  #: read-only snapshot of the refined mask
    can_undo: bool
    can_redo: bool
    layer: Layer | None  #: None when the document was not on screen (or the view is the original)
    composed: bool  #: whether ``layer`` reflects the view (False: composition skipped)
    applied: int  #: how many commands were applied


def run_edit(
    doc_session,
    image,
    commands: list[EditCommand],
    edges: EdgeOptions,
    view: ViewSettings | None,
    generation: int,
    ctx: JobContext,
) -> EditResult:
    """Apply ``commands`` to the session, then compose the layer for ``view`` (worker thread)."""
    for command in commands:
        if isinstance(command, StrokeCommand):
            doc_session.add_stroke(command.kind, list(command.points), command.radius)
        elif command.action == "undo":
            doc_session.undo()
        elif command.action == "redo":
            doc_session.redo()
        elif command.action == "reset":
            doc_session.reset()
    # refine() returns a view of a live buffer: copy it so the GUI and export own a snapshot.
    alpha = np.array(doc_session.refine(), dtype=np.float32)
    alpha.setflags(write=False)
    layer, composed = None, False
    if view is not None and not ctx.cancelled():
        layer, composed = compose(image, alpha, edges, view), True
    return EditResult(
        generation, alpha, doc_session.can_undo, doc_session.can_redo, layer, composed, len(commands)
    )


class EditPipeline(QObject):
    """Schedules edit jobs per document; at most one running and one pending for each."""

    #: (document, result): a fresh layer for the document on screen
    rendered = Signal(object, object)
    #: document whose mask, undo state or status changed
    changed = Signal(object)
    #: (document, message): an edit failed
    failed = Signal(object, str)
    busy_changed = Signal(bool)

    def __init__(
        self,
        lane: Lane,
        current: Callable[[], Document | None],
        view: Callable[[], ViewSettings],
        edges: Callable[[], EdgeOptions],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._lane = lane
        self._current = current
        self._view = view
        self._edges = edges
        self._running: dict[int, object] = {}  # id(doc) -> Job
        self._again: set[int] = set()
        self._idle_callbacks: dict[int, list[Callable[[], None]]] = {}
        self._all_idle_callbacks: list[Callable[[], None]] = []

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def is_busy(self, doc: Document) -> bool:
        return id(doc) in self._running or bool(doc.pending)

    def push(self, doc: Document, command: EditCommand) -> None:
        """Queue an edit for ``doc`` and schedule a job to apply it."""
        if doc.session is None:
            return
        doc.pending.append(command)
        if isinstance(command, StrokeCommand):
            doc.can_undo = True  # optimistic: the worker confirms
        self.request(doc)

    def request(self, doc: Document) -> None:
        """Ask for a fresh picture of ``doc`` (view or edge settings changed, or edits queued)."""
        if doc.session is None:
            return
        doc.generation += 1
        if id(doc) in self._running:
            self._again.add(id(doc))  # the newest request replaces any earlier pending one
            return
        self._start(doc)

    def call_when_idle(self, doc: Document, callback: Callable[[], None]) -> None:
        """Run ``callback`` once every queued edit of ``doc`` has been applied."""
        if not self.is_busy(doc):
            callback()
        else:
            self._idle_callbacks.setdefault(id(doc), []).append(callback)

    def call_when_all_idle(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once no document has edits queued or running."""
        if not self.busy:
            callback()
        else:
            self._all_idle_callbacks.append(callback)

    def _start(self, doc: Document) -> None:
        commands, doc.pending = doc.pending, []
        generation = doc.generation
        session, image = doc.session, doc.image
        on_screen = self._current() is doc
        view = self._view() if on_screen else None
        edges = self._edges()
        was_busy = self.busy
        self._running[id(doc)] = self._lane.submit(
            lambda ctx: run_edit(session, image, commands, edges, view, generation, ctx),
            name=f"edit {doc.name}",
            on_done=lambda result: self._finished(doc, result, None),
            on_error=lambda exc: self._finished(doc, None, exc),
        )
        if not was_busy:
            self.busy_changed.emit(True)

    def _finished(self, doc: Document, result: EditResult | None, error: BaseException | None) -> None:
        self._running.pop(id(doc), None)
        if result is not None and doc.session is not None:
            doc.alpha = result.alpha
            doc.can_undo, doc.can_redo = result.can_undo, result.can_redo
            if result.applied and doc.status is not DocStatus.FAILED:
                doc.edited = doc.edited or result.can_undo
                doc.status = DocStatus.EDITED if result.can_undo else DocStatus.MASKED
            self.changed.emit(doc)
        elif error is not None and not isinstance(error, CancelledError):
            self.failed.emit(doc, str(error) or type(error).__name__)

        if (id(doc) in self._again or doc.pending) and doc.session is not None:
            self._again.discard(id(doc))
            self._start(doc)
        else:
            self._again.discard(id(doc))
            # Stale pictures are dropped: only the newest request's result reaches the canvas.
            if (
                result is not None
                and result.composed
                and result.generation == doc.generation
                and self._current() is doc
            ):
                doc.shown_generation = result.generation
                self.rendered.emit(doc, result)
            for callback in self._idle_callbacks.pop(id(doc), []):
                callback()
        if not self.busy:
            self.busy_changed.emit(False)
            callbacks, self._all_idle_callbacks = self._all_idle_callbacks, []
            for callback in callbacks:
                callback()
