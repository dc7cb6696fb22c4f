"""The filmstrip's thumbnails: one photo at a time on their own, lower-priority lane."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from cutout_studio.core.errors import CutoutError
from cutout_studio.core.image_io import load_image
from cutout_studio.qt.document import DocStatus, Document
from cutout_studio.qt.render import thumbnail
from cutout_studio.qt.workers import Lane


class ThumbnailLoader(QObject):
    """Makes the filmstrip's thumbnails one photo at a time on its own lane."""

    ready = Signal(object)  #: document whose thumbnail (or failure) is known

    def __init__(self, lane: Lane, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lane = lane
        self._queue: list[Document] = []
        self._busy = False

    def add(self, docs: Sequence[Document]) -> None:
        self._queue.extend(docs)
        self._next()

    def _next(self) -> None:
        while self._queue and not self._busy:
            doc = self._queue.pop(0)
            if doc.thumbnail is not None or doc.status is DocStatus.FAILED:
                continue
            self._busy = True
            self._start(doc)

    def _start(self, doc: Document) -> None:
        """Make ``doc``'s thumbnail on the lane (a method, so the callbacks close over ``doc``)."""
        path = doc.path
        self._lane.submit(
            lambda ctx: thumbnail(load_image(path).rgb),
            name=f"thumbnail {doc.name}",
            on_done=lambda thumb: self._done(doc, thumb, None),
            on_error=lambda exc: self._done(doc, None, exc),
        )

    def _done(self, doc: Document, thumb: QImage | None, exc: BaseException | None) -> None:
        self._busy = False
        if thumb is not None and doc.thumbnail is None:
            doc.thumbnail = thumb
        elif isinstance(exc, CutoutError) and doc.status is DocStatus.WAITING:
            # The photo cannot be read: say so now rather than when it is opened.
            doc.status = DocStatus.FAILED
            doc.message = str(exc)
        self.ready.emit(doc)
        self._next()
