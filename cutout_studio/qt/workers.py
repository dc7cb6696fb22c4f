"""The one worker pattern of the editor: serial lanes of background jobs.

Every long operation (automatic mask, refinement, edge preview, export, batch, model install)
is a plain function run by a :class:`Lane`: a private ``QThreadPool`` with a single thread, so
jobs of one lane run one after the other (which is what makes a ``RefineSession`` safe: only
the edit lane ever touches it) while different lanes run side by side.

A job function receives a :class:`JobContext` to report progress and to notice cancellation.
Its result, error and progress reach the GUI thread through queued signals of a small QObject
that lives in the GUI thread; callbacks therefore always run on the GUI thread.

Closing the window never waits for a long job (a matting solve cannot be interrupted): the
lanes cancel their jobs, wait a moment for the ones that stop at once, and hand the rest to
a module-level list that keeps their thread pool and Python objects alive until they end, so
a late result finds its signals intact (instead of "Signal source has been deleted") and is
dropped. :func:`wait_detached` lets the process wait for them, with a bound, before it exits.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal

from cutout_studio.core.errors import CancelledError, CutoutError

_log = logging.getLogger(__name__)


class JobContext:
    """What a job function may use: progress reports and the cancel flag."""

    def __init__(self, signals: _JobSignals, cancel: threading.Event) -> None:
        self._signals = signals
        self.cancel_event = cancel

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise CancelledError("cancelled")

    def progress(self, value: Any) -> None:
        """Send ``value`` to the job's ``on_progress`` callback (on the GUI thread)."""
        self._signals.progress.emit(value)


class _JobSignals(QObject):
    done = Signal(object)
    failed = Signal(object)
    progress = Signal(object)


class Job(QRunnable):
    """One submitted function. ``cancel()`` asks it to stop; a job cancelled before it starts never runs."""

    def __init__(self, lane: Lane, name: str, fn: Callable[[JobContext], Any]) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python keeps the reference (Lane._jobs) until it is finished
        self.name = name
        self._lane = lane
        self._fn = fn
        self.signals = _JobSignals()  # created on the GUI thread: its queued slots run there
        self._cancel = threading.Event()
        self.finished = False

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:  # worker thread
        try:
            if self._cancel.is_set():
                raise CancelledError("cancelled")
            result = self._fn(JobContext(self.signals, self._cancel))
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the GUI, never kill the thread
            if not isinstance(exc, CutoutError):
                # Unexpected: keep the traceback for the log (the GUI shows only the message).
                exc.traceback_text = traceback.format_exc()  # type: ignore[attr-defined]
            self.signals.failed.emit(exc)
        else:
            self.signals.done.emit(result)
        finally:
            # The closure holds photos and sessions: free them now, whoever still holds the Job.
            self._fn = None  # type: ignore[assignment]


class Lane(QObject):
    """A serial queue of jobs on one background thread."""

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._jobs: set[Job] = set()
        self.closed = False  # after shutdown, late results are dropped: their receivers may be gone

    def submit(
        self,
        fn: Callable[[JobContext], Any],
        *,
        name: str = "",
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
    ) -> Job:
        """Queue ``fn(context)``; its outcome goes to ``on_done(result)`` or ``on_error(exc)``.

        A job cancelled before it ran, or that raised :class:`CancelledError`, reports to
        ``on_error`` with that error, so callers always hear back exactly once.
        """
        job = Job(self, name or getattr(fn, "__name__", "job"), fn)

        def finish() -> None:
            job.finished = True
            self._jobs.discard(job)

        def done(result: Any) -> None:
            finish()
            if on_done is not None and not self.closed:
                on_done(result)

        def failed(exc: BaseException) -> None:
            finish()
            if not isinstance(exc, CutoutError):
                _log.error("job %s/%s failed:\n%s", self.name, job.name, getattr(exc, "traceback_text", exc))
            if on_error is not None and not self.closed:
                on_error(exc)

        job.signals.done.connect(done, Qt.ConnectionType.QueuedConnection)
        job.signals.failed.connect(failed, Qt.ConnectionType.QueuedConnection)
        if on_progress is not None:
            job.signals.progress.connect(
                lambda value: None if self.closed else on_progress(value), Qt.ConnectionType.QueuedConnection
            )
        self._jobs.add(job)
        self._pool.start(job)
        return job

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def cancel_all(self) -> None:
        for job in list(self._jobs):
            job.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the lane is idle (used when the window closes); True if it finished in time."""
        return self._pool.waitForDone(msecs)

    def detach(self) -> None:
        """Let running jobs outlive this lane's owner (the window): see the module's docstring."""
        _prune_detached()
        self._pool.setParent(None)  # the window's deletion must neither delete nor wait for it
        _DETACHED.append((self._pool, self._jobs))


class Lanes(QObject):
    """The editor's lanes: masks, edits (refine/preview), long jobs (export, batch, install),
    thumbnails, autosave."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.mask = Lane("mask", self)
        self.edit = Lane("edit", self)
        self.jobs = Lane("jobs", self)
        self.thumbs = Lane("thumbs", self)
        self.save = Lane("save", self)  # autosave of the edits: tiny writes, never behind a batch

    def all(self) -> tuple[Lane, ...]:
        return (self.mask, self.edit, self.jobs, self.thumbs, self.save)

    def shutdown(self, msecs: int = 250) -> None:
        """Cancel every job, give them ``msecs`` in all to stop, and detach those still running."""
        deadline = time.monotonic() + msecs / 1000
        for lane in self.all():
            lane.closed = True
            lane.cancel_all()
        for lane in self.all():
            if not lane.wait(max(0, int((deadline - time.monotonic()) * 1000))):
                lane.detach()


#: (thread pool, its unfinished jobs) of lanes whose window is gone: kept alive until they end.
_DETACHED: list[tuple[QThreadPool, set[Job]]] = []


def _prune_detached() -> None:
    _DETACHED[:] = [(pool, jobs) for pool, jobs in _DETACHED if pool.activeThreadCount() or jobs]


def wait_detached(msecs: int) -> bool:
    """Wait up to ``msecs`` for jobs left running by closed windows; True when none is left."""
    deadline = time.monotonic() + msecs / 1000
    for pool, _jobs in list(_DETACHED):
        if not pool.waitForDone(max(0, int((deadline - time.monotonic()) * 1000))):
            return False
    _DETACHED.clear()
    return True
