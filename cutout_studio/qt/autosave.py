"""Autosave of every photo's edits into the session store, and what quitting could still lose.

After each edit (a stroke, undo, redo, reset, an export, its edge settings, accepting it) the
document is marked; half a
second after the last mark its record is written on the save lane, so a burst of strokes
costs one write and the GUI thread never touches the disk. At close, :meth:`Autosaver.flush`
writes whatever is still due on the GUI thread (a few small files) and reports failures:
only those, a running export or a running batch make the window ask before quitting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from cutout_studio.core.session_store import History, SessionRecord, SessionStore
from cutout_studio.qt.document import DocStatus, Document
from cutout_studio.qt.workers import Lane

_log = logging.getLogger(__name__)

#: Quiet time after the last edit before its record is written.
DEBOUNCE_MS = 500


class Autosaver(QObject):
    #: the set of photos whose edits could not be saved changed (see ``errors``)
    errors_changed = Signal()

    def __init__(
        self,
        lane: Lane,
        store: SessionStore,
        history_of: Callable[[Document], History],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self._lane = lane
        self._history_of = history_of
        self._dirty: dict[int, Document] = {}
        self._written: dict[int, SessionRecord] = {}  # id(doc) -> the last record written
        #: id(doc) -> (document, reason) for photos whose last write failed
        self.errors: dict[int, tuple[Document, str]] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._write_due)

    @property
    def pending(self) -> bool:
        """Edits not on disk yet (due, being written, or whose write failed)."""
        return bool(self._dirty) or self._lane.busy or bool(self.errors)

    def mark(self, doc: Document) -> None:
        """``doc``'s edits or export state changed: save them soon."""
        if doc.key is None:
            return  # not loaded yet: nothing of it can have changed
        self._dirty[id(doc)] = doc
        self._timer.start()

    def settle(self, doc: Document) -> None:
        """``doc`` was just loaded with what the store holds for it: nothing is due."""
        record = self.record_for(doc)
        if record is not None:
            self._written[id(doc)] = record

    def record_for(self, doc: Document) -> SessionRecord | None:
        """What the store should hold for ``doc`` now; None when there is nothing worth keeping."""
        if doc.key is None:
            return None  # never loaded nor surveyed: nothing of it can have changed
        if doc.image is not None:
            history = self._history_of(doc)
            size = (doc.image.width, doc.image.height)
        elif doc.surveyed:
            # Not in memory (its edge settings or status changed from the shoot): its strokes
            # are those on disk, not the empty history of an unloaded document.
            saved = self.store.load(doc.key)
            history = saved.history if saved is not None else History()
            size = saved.size if saved is not None else (0, 0)
        else:
            return None
        worth_keeping = (
            not history.empty or doc.output_path is not None or doc.edges is not None or doc.finished
        )
        if not worth_keeping:
            return None
        status = doc.status
        if history != doc.history and status in (
            DocStatus.EXPORTED, DocStatus.WARNING, DocStatus.MASKED, DocStatus.FINISHED
        ):
            # edits still queued (a quit right after a stroke): once applied they make the photo
            # "edited", and an earlier export no longer shows them
            status = DocStatus.EDITED
        return SessionRecord(
            key=doc.key,
            source=str(doc.path.absolute()),
            size=size,
            history=history,
            output=str(doc.output_path.absolute()) if doc.output_path is not None else None,
            status=status.value,
            edges=doc.edges,
        )

    def _take_due(self) -> list[tuple[Document, SessionRecord]]:
        due: list[tuple[Document, SessionRecord]] = []
        for key, doc in list(self._dirty.items()):
            record = self.record_for(doc)
            if record is not None and record != self._written.get(key):
                due.append((doc, record))
        self._dirty.clear()
        return due

    def _write_due(self) -> None:
        due = self._take_due()
        if not due:
            return
        store = self.store
        self._lane.submit(
            lambda _ctx: _write_all(store, [record for _doc, record in due]),
            name="autosave",
            on_done=lambda failures: self._written_all(due, failures),
            on_error=lambda exc: self._written_all(due, [str(exc)] * len(due)),
        )

    def _written_all(
        self, due: Sequence[tuple[Document, SessionRecord]], failures: Sequence[str | None]
    ) -> None:
        for (doc, record), failure in zip(due, failures, strict=True):
            if failure is None:
                self._written[id(doc)] = record
                self.errors.pop(id(doc), None)
            else:
                self.errors[id(doc)] = (doc, failure)
                self._written.pop(id(doc), None)
                self._dirty[id(doc)] = doc  # retried with the next edit, and at close
        self.errors_changed.emit()

    def flush(self, docs: Sequence[Document], wait_ms: int = 2000) -> list[str]:
        """Write every record still due, now, on this thread; returns one line per failure.

        ``docs`` are all open documents: a record may be due because its mark is waiting for
        the timer, or because the edit lane has edits it never applied (they are saved too).
        """
        self._timer.stop()
        self._lane.wait(wait_ms)  # a write in flight must not land after (and over) ours
        for doc in docs:
            if doc.key is not None and doc.image is not None:
                self._dirty[id(doc)] = doc
        due = self._take_due()
        failures = _write_all(self.store, [record for _doc, record in due])
        self._written_all(due, failures)
        return [f"{doc.name}: {reason}" for doc, reason in self.errors.values()]


def _write_all(store: SessionStore, records: Sequence[SessionRecord]) -> list[str | None]:
    """Write each record; the reason of each failure (None for a success), in order."""
    failures: list[str | None] = []
    for record in records:
        try:
            store.save(record)
        except OSError as exc:
            _log.warning("cannot autosave the edits of %s: %s", Path(record.source).name, exc)
            failures.append(exc.strerror or str(exc))
        else:
            failures.append(None)
    return failures
