"""The edit pipeline: strokes, undo/redo and edge previews applied on the edit lane, latest wins.

Edits are commands, never dropped: every stroke, undo, redo or reset is appended to the
document's queue and applied in order. What *is* superseded is the picture: one edit job
drains the whole queue, then refines and composes the canvas layer once. While a job runs,
further requests only set a "run again" flag (at most one job pending per document, never a
queue of renders), and each request bumps the document's generation so that the result of a
job that was overtaken by a newer request is dropped instead of shown.

The job also keeps the document's :class:`~cutout_studio.core.session_store.History` (what
autosave writes), advancing it only by what the session really did. When a picture needs
matting and the canvas has nothing yet for the photo, a quick picture without matting is
sent first, so the photo never sits there bare while the slow one is computed.

Refine-edge strokes (:class:`~cutout_studio.qt.document.EdgeBrushCommand`) become patches
of the document's :class:`~cutout_studio.core.edge_brush.EdgeEdits`, laid over the session's
mask in the snapshot (so export uses them) and undone in one order with the session's steps;
they are not in the saved history. When the layer on screen was made for the same view and
edge settings, the job recomposes only the box where the mask changed (a
:class:`~cutout_studio.qt.render.LayerPatch`) and re-traces the outline there.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from cutout_studio.core.edge_brush import EdgeEdits
from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.edits import apply_step, redo_step, undo_step
from cutout_studio.core.errors import CancelledError
from cutout_studio.core.image_io import LoadedImage
from cutout_studio.core.refine import RefineSession
from cutout_studio.core.session_store import History, Step
from cutout_studio.qt.document import (
    DocStatus,
    Document,
    EdgeBrushCommand,
    EditCommand,
    StrokeCommand,
    intended_history,
)
from cutout_studio.qt.outline import OutlineTiles, trace_outline
from cutout_studio.qt.render import (
    Layer,
    LayerPatch,
    ViewSettings,
    changed_box,
    compose,
    compose_patch,
)
from cutout_studio.qt.workers import Job, JobContext, Lane


@dataclass
class EditResult:
    generation: int
    alpha: np.ndarray  #: read-only snapshot of the refined mask
    can_undo: bool
    can_redo: bool
    layer: Layer | None  #: None when the document was not on screen (or the view is the original)
    composed: bool  #: whether ``layer`` reflects the view (False: composition skipped)
    applied: int  #: how many commands were applied
    history: History = dataclasses.field(default_factory=History)  #: after the commands
    mode: str = ""  #: the view mode ``layer`` was made for
    #: when ``layer`` is the base layer that was on screen: the pixels that changed (None: none)
    patch: LayerPatch | None = None
    #: the outline's re-traced tiles, and whether they replace all the tiles shown
    outline: OutlineTiles | None = None
    outline_replace: bool = True
    settings: tuple[object, ...] = ()  #: (view, edges) the layer was made for
    #: seconds spent per phase on the worker: "edit", "snapshot", "diff", "compose", "outline"
    timings: dict[str, float] = dataclasses.field(default_factory=dict)


class SnapshotPool:
    """Full-size mask buffers for the edit lane's snapshots, reused once nobody holds them.

    A 24 MP float mask is 96 MB: the C library maps each new one afresh and the first write
    to each page faults (half a second on a busy machine for one snapshot), so each stroke's
    snapshot goes into a buffer of an earlier one that the GUI, export and autosave have let
    go (its only references are the pool's own). Each buffer remembers which session and
    :attr:`~cutout_studio.core.refine.RefineSession.version` it holds a copy of, so that
    filling it again copies only what the session changed since (a 96 MB copy is tens of ms
    on a busy machine), and a snapshot on screen tells which box a new one differs in. Used
    on the edit lane only.
    """

    #: references to a buffer that only the pool holds: its list, the loop name, getrefcount's argument
    _UNUSED_REFS = 3

    def __init__(self, keep: int = 3) -> None:
        self._buffers: list[np.ndarray] = []
        self._keep = keep
        #: id(buffer) -> (session, version) whose mask it holds exactly
        self._holds: dict[int, tuple[weakref.ref[RefineSession], int]] = {}
        self.allocations = 0  #: fresh buffers made (a diagnostic: the benchmark reports it)

    def _free(self, shape: tuple[int, ...]) -> np.ndarray | None:
        for buffer in self._buffers:
            if buffer.shape == shape and sys.getrefcount(buffer) <= self._UNUSED_REFS:
                return buffer
        return None

    def take(self, shape: tuple[int, ...]) -> np.ndarray:
        """A writable float32 buffer of ``shape`` that no one else references (see :meth:`held`:
        what it holds is forgotten once it is taken, until :meth:`holds` says it again)."""
        buffer = self._free(shape)
        if buffer is None:
            buffer = np.empty(shape, np.float32)
            self._add(buffer)
        buffer.setflags(write=True)
        return buffer

    def held(self, buffer: np.ndarray, session: RefineSession) -> int | None:
        """The version of ``session`` whose mask ``buffer`` holds (None: unknown, or another's)."""
        if not any(buffer is mine for mine in self._buffers):
            return None
        holds = self._holds.get(id(buffer))
        return holds[1] if holds is not None and holds[0]() is session else None

    def holds(self, buffer: np.ndarray, session: RefineSession | None, version: int = 0) -> None:
        """Record that ``buffer`` now holds the mask of ``session`` at ``version`` (None: not a
        session's mask as it is, e.g. with refine-edge patches laid over it)."""
        if session is None:
            self._holds.pop(id(buffer), None)
        else:
            self._holds[id(buffer)] = (weakref.ref(session), version)

    def reserve(self, like: np.ndarray, session: RefineSession | None, version: int = 0) -> None:
        """Have a free buffer ready that holds a copy of ``like`` (the mask of ``session`` at
        ``version``; None: not a session's mask as it is): the photo's first stroke then
        neither pays for fresh memory nor copies the whole mask (done after the mask is shown,
        while the user looks)."""
        buffer = self._free(like.shape)
        if buffer is None:
            buffer = np.empty(like.shape, np.float32)
            self._add(buffer)
        elif session is not None and self.held(buffer, session) == version:
            return
        buffer.setflags(write=True)  # an earlier snapshot, read-only while it was handed out
        np.copyto(buffer, like)
        self.holds(buffer, session, version)

    def _add(self, buffer: np.ndarray) -> None:
        self.allocations += 1
        dropped = self._buffers[self._keep - 1 :]  # the oldest are left to their holders
        self._buffers = [buffer, *self._buffers[: self._keep - 1]]
        for old in dropped:
            self._holds.pop(id(old), None)


def snapshot(
    session: RefineSession, live: np.ndarray, edits: EdgeEdits, pool: SnapshotPool | None
) -> np.ndarray:
    """A copy of the session's mask with the refine-edge patches laid over it, that the GUI,
    export and autosave own. From the pool, only what changed since the buffer's last copy is
    copied (the session reports it)."""
    if pool is None:
        return edits.apply(live)
    alpha = pool.take(live.shape)
    held = pool.held(alpha, session) if edits.empty else None
    pool.holds(alpha, None)  # being written: it holds nothing known until done
    if held is None:
        edits.apply(live, alpha)
    else:
        box = session.changed_since(held)
        if box is not None:
            y0, y1, x0, x1 = box
            np.copyto(alpha[y0:y1, x0:x1], live[y0:y1, x0:x1])
    if edits.empty:
        pool.holds(alpha, session, session.version)
    return alpha


@dataclass(frozen=True)
class Base:
    """The layer on screen, the mask and settings it was made from: an edit patches it in place."""

    layer: Layer
    alpha: np.ndarray
    settings: tuple[object, ...]


def _apply(
    session: RefineSession, edits: EdgeEdits, rgb: np.ndarray, command: EditCommand, history: History
) -> History:
    """Apply one command to the session and the refine-edge patches (:mod:`core.edits`, as a
    reopened photo's replay does); the history after it."""
    if isinstance(command, (StrokeCommand, EdgeBrushCommand)):
        step = command.step()
        return history.add(step) if apply_step(session, edits, rgb, step) else history
    if command.action == "reset":
        apply_step(session, edits, rgb, Step("reset"))
        return history.then("reset")
    if command.action == "undo":
        return history.undo() if undo_step(session, edits) else history
    return history.redo() if redo_step(session, edits) else history


def run_edit(
    doc_session: RefineSession,
    image: LoadedImage,
    commands: list[EditCommand],
    edges: EdgeOptions,
    view: ViewSettings | None,
    generation: int,
    ctx: JobContext,
    history: History | None = None,
    quick_first: bool = False,
    edits: EdgeEdits | None = None,
    base: Base | None = None,
    pool: SnapshotPool | None = None,
) -> EditResult:
    """Apply ``commands`` to the session, then compose the layer for ``view`` (worker thread).

    With ``base`` (the layer on screen, made for the same view and edge settings) only the
    box where the mask changed is recomposed, as a patch for that layer. With
    ``quick_first`` and matting on, a picture without matting goes to ``ctx.progress``
    first (an :class:`EditResult` with ``composed`` False) while the real one is computed.
    """
    history = history if history is not None else History()
    edits = edits if edits is not None else EdgeEdits()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock
        clock = now

    for command in commands:
        history = _apply(doc_session, edits, image.rgb, command, history)
    live = doc_session.refine()
    lap("edit")
    settings = (view, edges)
    patchable = view is not None and base is not None and base.settings == settings
    patchable = patchable and base is not None and base.alpha.shape == live.shape
    # refine() returns a view of a live buffer: copy it so the GUI and export own a snapshot.
    alpha = snapshot(doc_session, live, edits, pool)
    lap("snapshot")
    box: tuple[int, int, int, int] | None = None
    if patchable and base is not None:
        # The session reports what it changed since the snapshot on screen; other snapshots
        # (refine-edge patches over it, or not from the pool) are compared pixel by pixel.
        shown = pool.held(base.alpha, doc_session) if pool is not None and edits.empty else None
        box = doc_session.changed_since(shown) if shown is not None else changed_box(base.alpha, alpha)
    alpha.setflags(write=False)
    lap("diff")

    def result(layer: Layer | None, composed: bool, **extra: object) -> EditResult:
        return EditResult(
            generation,
            alpha,
            doc_session.can_undo or bool(edits.order),
            doc_session.can_redo or bool(edits.undone),
            layer,
            composed,
            len(commands),
            history,
            view.mode if view is not None else "",
            settings=settings,
            timings=timings,
            **extra,  # type: ignore[arg-type]
        )

    if view is None or ctx.cancelled():
        return result(None, False)
    if patchable and base is not None:
        if box is None:
            return result(base.layer, True, outline={}, outline_replace=False)
        patch = compose_patch(image, alpha, edges, view, box, len(base.layer.levels))
        lap("compose")
        if patch is not None:
            outline = trace_outline(alpha, patch.box)
            lap("outline")
            return result(base.layer, True, patch=patch, outline=outline, outline_replace=False)
    if quick_first and edges.matting:
        ctx.progress(result(compose(image, alpha, dataclasses.replace(edges, matting=False), view), False))
    if ctx.cancelled():
        return result(None, False)
    layer = compose(image, alpha, edges, view)
    lap("compose")
    outline = trace_outline(alpha)
    lap("outline")
    if pool is not None:
        # for the next stroke's snapshot, while the user looks
        pool.reserve(alpha, doc_session if edits.empty else None, doc_session.version)
        lap("reserve")
    return result(layer, True, outline=outline, outline_replace=True)


class EditPipeline(QObject):
    """Schedules edit jobs per document; at most one running and one pending for each."""

    #: (document, result): a fresh layer for the document on screen
    rendered = Signal(object, object)
    #: (document, result): a quick picture (no matting) while the real one is computed
    previewed = Signal(object, object)
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
        self._running: dict[int, Job] = {}  # id(doc) -> its running job
        self._inflight: dict[int, list[EditCommand]] = {}  # id(doc) -> commands the job applies
        self._again: set[int] = set()
        self._idle_callbacks: dict[int, list[Callable[[], None]]] = {}
        self._all_idle_callbacks: list[Callable[[], None]] = []
        self._pool = SnapshotPool()

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def is_busy(self, doc: Document) -> bool:
        return id(doc) in self._running or bool(doc.pending)

    def intended_history(self, doc: Document) -> History:
        """The document's history with every queued or running edit counted as done.

        What autosave writes: an edit the user made is saved even if the edit lane has not
        applied it yet (and, at close, never will).
        """
        return intended_history(doc.history, [*self._inflight.get(id(doc), []), *doc.pending])

    def push(self, doc: Document, command: EditCommand) -> None:
        """Queue an edit for ``doc`` and schedule a job to apply it.

        Marks made while the automatic mask is still being computed wait in the queue: the
        job that applies them starts when the mask arrives (:meth:`request`).
        """
        if doc.session is None and doc.image is None:
            return
        doc.pending.append(command)
        if isinstance(command, (StrokeCommand, EdgeBrushCommand)):
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
        assert session is not None and image is not None  # request() checked: the document is loaded
        on_screen = self._current() is doc
        view = self._view() if on_screen else None
        edges = self._edges()
        history = doc.history
        quick = doc.layer is None
        edits = doc.edge_edits
        base = (
            Base(doc.layer, doc.layer_alpha, doc.layer_settings)
            if doc.layer is not None and doc.layer_alpha is not None
            else None
        )
        was_busy = self.busy
        pool = self._pool
        self._inflight[id(doc)] = commands
        self._running[id(doc)] = self._lane.submit(
            lambda ctx: run_edit(
                session, image, commands, edges, view, generation, ctx, history, quick, edits, base, pool
            ),
            name=f"edit {doc.name}",
            on_done=lambda result: self._finished(doc, result, None),
            on_error=lambda exc: self._finished(doc, None, exc),
            on_progress=lambda result: self._preview(doc, result),
        )
        if not was_busy:
            self.busy_changed.emit(True)

    def _preview(self, doc: Document, result: EditResult) -> None:
        if result.generation == doc.generation and doc.layer is None and self._current() is doc:
            self.previewed.emit(doc, result)

    def _finished(self, doc: Document, result: EditResult | None, error: BaseException | None) -> None:
        self._running.pop(id(doc), None)
        commands = self._inflight.pop(id(doc), [])
        if result is None and doc.session is not None and commands:
            # The job never applied its commands (cancelled before it ran, or failed): they are
            # the user's edits, so they go back to the front of the queue instead of vanishing.
            if isinstance(error, CancelledError):
                doc.pending[:0] = commands
        if result is not None and doc.session is not None:
            doc.alpha = result.alpha
            doc.history = result.history
            doc.can_undo, doc.can_redo = result.can_undo, result.can_redo
            if result.applied and doc.status is not DocStatus.FAILED:
                doc.edited = doc.edited or result.can_undo
                doc.status = DocStatus.EDITED if result.can_undo else DocStatus.MASKED
            doc.notify_changed()
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
