"""Automatic masks ahead of the user: the photo on screen first, then the next ones, then the
rest of the shoot in the background.

The scheduler keeps exactly one job on the mask lane at a time and picks the next document
only when it finishes, so switching photos re-prioritises at once instead of waiting behind a
queue. A running job whose document is no longer wanted is cancelled (it stops between steps).
The photo on screen and the next ones are *prepared* (load, mask, start a RefineSession,
build the display image); documents far from the one on screen are unloaded again, unless
they carry edits. When nothing is wanted, the other photos of the shoot are *surveyed*,
nearest first: masked into the :class:`MaskCache` (so that showing them later costs a read,
not a model run) and looked up in the session store (so that a reopened shoot shows every
photo's status at once), keeping no pixels. Surveys wait while the user paints.

The same job looks the photo up in the session store (by the hash of its bytes) and replays
the strokes saved there, so a photo edited before a quit or a crash comes back edited.

Each photo's confidence (:mod:`~cutout_studio.core.confidence`) is read from its automatic mask
when the mask is computed or read back, for worst-first review. Thumbnails: :mod:`thumbnails`.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage

from cutout_studio.core.confidence import confidence
from cutout_studio.core.errors import CancelledError, CutoutError, ModelNotInstalledError
from cutout_studio.core.image_io import LoadedImage, load_image
from cutout_studio.core.mask_cache import MaskCache, quantise
from cutout_studio.core.refine import RefineSession
from cutout_studio.core.session_store import History, SessionRecord, SessionStore, content_key
from cutout_studio.qt.document import DocStatus, Document
from cutout_studio.qt.render import Layer, photo_layer, thumbnail
from cutout_studio.qt.thumbnails import ThumbnailLoader as ThumbnailLoader  # (its old home)
from cutout_studio.qt.workers import Job, JobContext, Lane

if TYPE_CHECKING:  # importing the segmenter loads torch: the GUI does that on a worker
    from cutout_studio.core.segmenter import Segmenter

_log = logging.getLogger(__name__)

#: Unedited documents kept in memory besides the wanted ones (a 24 MP photo costs ~300 MB).
KEEP_LOADED = 4
#: How many photos after the one on screen are prepared ahead.
PREFETCH = 2
#: Surveys of the rest of the shoot wait this long after the user last painted (strokes first).
HOLD_AFTER_PAINT_S = 1.5


@dataclass
class Decoded:
    """The photo, decoded, before its mask: shown at once (the marks wait for the mask)."""

    image: LoadedImage
    photo: Layer
    thumb: QImage
    key: str | None


@dataclass
class Prepared:
    image: LoadedImage
    photo: Layer
    thumb: QImage
    alpha: np.ndarray | None  #: None when no model is available yet
    session: RefineSession | None
    key: str | None = None  #: the photo's content key (None if its bytes could not be read)
    record: SessionRecord | None = None  #: the saved edits found for it
    restored: np.ndarray | None = None  #: the mask after replaying ``record``'s strokes
    note: str = ""  #: why saved edits were not restored
    confidence: float | None = None  #: of the automatic mask (core.confidence)


@dataclass
class Surveyed:
    """What a survey learnt of a photo of the shoot (no pixels are kept)."""

    key: str | None
    record: SessionRecord | None
    masked: bool  #: its automatic mask is in the cache
    thumb: QImage | None = None  #: made when the photo had to be decoded anyway
    confidence: float | None = None  #: of its automatic mask (core.confidence)


def automatic_mask(
    image: LoadedImage, segmenter: Segmenter, key: str | None, cache: MaskCache | None
) -> np.ndarray:
    """The photo's automatic mask: from the cache, or from the model (then cached); 8-bit steps
    either way, so that saved strokes replay onto the same mask (worker thread)."""
    model = segmenter.card.name
    if cache is not None and key is not None:
        cached = cache.load(key, model, (image.width, image.height))
        if cached is not None:
            return cached
    alpha = quantise(segmenter.predict(image.rgb))
    if cache is not None and key is not None:
        cache.save(key, model, alpha)
    return alpha


def survey(
    path: Path,
    segmenter: Segmenter | None,
    ctx: JobContext,
    store: SessionStore | None,
    cache: MaskCache | None,
    need_thumb: bool,
) -> Surveyed:
    """Mask a photo of the shoot into the cache, read its saved record and the confidence of its
    automatic mask (worker thread)."""
    key = content_key(path)  # OSError: the job fails, the photo is marked failed with the reason
    record = store.load(key) if store is not None else None
    model = segmenter.card.name if segmenter is not None else ""
    masked = bool(model) and cache is not None and cache.path_for(key, model).is_file()
    thumb, trust = None, None
    if (segmenter is not None and not masked) or need_thumb:
        ctx.check_cancelled()
        image = load_image(path)
        thumb = thumbnail(image.rgb) if need_thumb else None
        if segmenter is not None and not masked:
            ctx.check_cancelled()
            trust = confidence(automatic_mask(image, segmenter, key, cache))
            masked = cache is not None
    if trust is None and masked and cache is not None:  # read back: the mask is a small PNG
        mask = cv2.imread(str(cache.path_for(key, model)), cv2.IMREAD_GRAYSCALE)
        trust = confidence(mask) if mask is not None else None
    return Surveyed(key, record, masked, thumb, trust)


def prepare(
    path: Path,
    image: LoadedImage | None,
    segmenter: Segmenter | None,
    ctx: JobContext,
    key: str | None = None,
    store: SessionStore | None = None,
    cache: MaskCache | None = None,
) -> Prepared:
    """Load the photo, get its automatic mask and replay its saved edits (worker thread)."""
    if image is None:
        image = load_image(path)
    if key is None:
        try:
            key = content_key(path)
        except OSError as exc:  # read a moment ago: gone or unreadable now; nothing to restore
            _log.warning("cannot hash %s: %s", path, exc)
    ctx.check_cancelled()
    photo = photo_layer(image.rgb)
    thumb = thumbnail(image.rgb)
    if segmenter is not None:
        # The photo goes on screen now; the user may paint while the model runs.
        ctx.progress(Decoded(image, photo, thumb, key))
    if segmenter is None:
        return Prepared(image, photo, thumb, None, None, key)
    alpha = automatic_mask(image, segmenter, key, cache)
    ctx.check_cancelled()
    session = RefineSession(image.rgb, alpha)
    trust = confidence(alpha)
    prepared = Prepared(image, photo, thumb, alpha, session, key, confidence=trust)
    record = store.load(key) if store is not None and key is not None else None
    if record is not None and not record.history.empty:
        if record.size != (image.width, image.height):
            prepared.note = f"saved edits are for a {record.size[0]}×{record.size[1]} photo: not restored"
            return prepared
        try:
            record.history.replay(session)
        except ValueError as exc:  # a hand-edited record: start from the automatic mask
            prepared.note = f"saved edits could not be replayed ({exc})"
            return Prepared(image, photo, thumb, alpha, RefineSession(image.rgb, alpha), key, confidence=trust)
        restored = np.array(session.refine(), dtype=np.float32)
        restored.setflags(write=False)
        prepared.restored = restored
    prepared.record = record
    return prepared


def load_segmenter(model: str, ctx: JobContext) -> Segmenter:
    """The Segmenter, or a ModelNotInstalledError when its weights are not installed (worker thread).

    Imported here, not at the top: loading torch takes seconds and must not delay the window.
    """
    from cutout_studio.core.models import get_card, installed
    from cutout_studio.core.segmenter import Segmenter

    card = get_card(model)
    # Ask the registry first: a model already loaded in this process would otherwise be
    # reused even though its weights are gone from the models folder.
    if installed(card) is None:
        raise ModelNotInstalledError(f"model '{card.name}' is not installed")
    return Segmenter(model)


def saved_status(record: SessionRecord, edited: bool) -> tuple[DocStatus, Path | None]:
    """The status a photo had when ``record`` was saved, and its output if that still exists;
    ``edited``: its strokes were replayed (or it has some)."""
    output = Path(record.output) if record.output else None
    if output is not None and not output.is_file():
        output = None
    word = record.status
    if output is not None and word in (DocStatus.EXPORTED.value, DocStatus.WARNING.value):
        return DocStatus(word), output
    if word == DocStatus.FINISHED.value:
        return DocStatus.FINISHED, output
    return (DocStatus.EDITED if edited else DocStatus.MASKED), output


def restore(doc: Document, result: Prepared) -> None:
    """Put the saved edits, edge settings and status of ``result.record`` into ``doc`` (GUI thread)."""
    record = result.record
    assert record is not None
    if result.restored is not None:
        doc.alpha = result.restored
        doc.history = record.history
        session = result.session
        assert session is not None  # edits are restored only into a session
        doc.can_undo, doc.can_redo = session.can_undo, session.can_redo
        doc.edited = True
    replayed = result.restored is not None and bool(record.history.done)
    if result.restored is None and not record.history.empty:
        return  # the strokes could not be replayed (result.note says why): start afresh
    doc.status, output = saved_status(record, replayed)
    doc.output_path = output or doc.output_path
    doc.edges = record.edges


class MaskScheduler(QObject):
    prepared = Signal(object)  #: document: loaded (and masked, when a model is available)
    decoded = Signal(object)  #: document: its photo is decoded, its mask is being computed
    failed = Signal(object)  #: document: could not be loaded or masked (doc.message says why)
    started = Signal(object)  #: document: its preparation began
    segmenter_ready = Signal(object)
    model_missing = Signal(str)
    model_failed = Signal(str)
    surveyed = Signal(object)  #: document: its status (and mask, in the cache) is known now
    backlog_changed = Signal(int)  #: photos of the shoot still to survey

    def __init__(
        self,
        lane: Lane,
        model: str = "default",
        parent: QObject | None = None,
        store: SessionStore | None = None,
        cache: MaskCache | None = None,
    ) -> None:
        super().__init__(parent)
        self._lane = lane
        self._model = model
        self._store = store
        self._cache = cache
        self.segmenter: Segmenter | None = None
        self._loading_model = False
        self.model_unavailable = False
        self._wanted: list[Document] = []
        self._shoot: list[Document] = []  #: every document, nearest to the one on screen first
        self._running: tuple[Document, Job] | None = None
        self._loaded: OrderedDict[int, Document] = OrderedDict()  # least recently wanted first
        self._hold_until = 0.0
        self._hold_timer = QTimer(self)
        self._hold_timer.setSingleShot(True)
        self._hold_timer.timeout.connect(self._next)
        self.backlog = 0

    # ------------------------------------------------------------------ model

    def load_model(self) -> None:
        if self._loading_model or self.segmenter is not None:
            return
        self._loading_model = True
        self.model_unavailable = False
        self._lane.submit(
            lambda ctx: load_segmenter(self._model, ctx),
            name="load model",
            on_done=self._model_loaded,
            on_error=self._model_error,
        )

    def _model_loaded(self, segmenter: Segmenter) -> None:
        self._loading_model = False
        self.segmenter = segmenter
        self.segmenter_ready.emit(segmenter)
        self._next()  # photos shown without a mask while the model was missing get one now

    def _model_error(self, exc: BaseException) -> None:
        self._loading_model = False
        self.model_unavailable = True
        message = str(exc) or type(exc).__name__
        if isinstance(exc, ModelNotInstalledError):
            self.model_missing.emit(message)
        else:
            self.model_failed.emit(message)
        self._next()  # photos still load and show, without a mask

    # ------------------------------------------------------------------ scheduling

    def want(self, docs: Sequence[Document], shoot: Sequence[Document] = ()) -> None:
        """Prepare these documents, first one first (the one on screen, then the next ones);
        then survey the rest of ``shoot`` (every document, in the order to survey them)."""
        self._wanted = [d for d in docs if d is not None]
        self._shoot = list(shoot)
        for doc in self._wanted:
            self._touch(doc)
        if self._running is not None and self._running[0] not in self._wanted:
            self._running[1].cancel()
        self._evict()
        self._next()

    def _needs_work(self, doc: Document) -> bool:
        if doc.status is DocStatus.FAILED:
            return False
        if doc.image is None:
            return True
        return doc.alpha is None and self.segmenter is not None

    def hold(self, seconds: float = HOLD_AFTER_PAINT_S) -> None:
        """The user is painting: for ``seconds`` start nothing but the photo on screen's
        preparation (a running job finishes)."""
        self._hold_until = max(self._hold_until, time.monotonic() + seconds)

    def _held(self) -> bool:
        """The user painted a moment ago: True, and the work resumes when the hold ends."""
        wait = self._hold_until - time.monotonic()
        if wait > 0:
            self._hold_timer.start(int(wait * 1000) + 10)
        return wait > 0

    def _to_survey(self, doc: Document) -> bool:
        return (
            not doc.surveyed
            and doc.image is None
            and doc.status in (DocStatus.WAITING, DocStatus.MASKED)
            and doc not in self._wanted
        )

    def _update_backlog(self) -> None:
        backlog = sum(1 for d in self._shoot if not d.surveyed and d.status is not DocStatus.FAILED)
        if backlog != self.backlog:
            self.backlog = backlog
            self.backlog_changed.emit(backlog)

    def _next(self) -> None:
        self._update_backlog()
        if self._running is not None or self._loading_model:
            return
        if self.segmenter is None and not self.model_unavailable:
            self.load_model()
            return
        doc = next((d for d in self._wanted if self._needs_work(d)), None)
        if doc is not None and doc is not self._wanted[0] and self._held():
            return  # only the photo on screen is worth slowing a stroke down for
        if doc is None:
            self._next_survey()
            return
        segmenter, image, path, key, store = self.segmenter, doc.image, doc.path, doc.key, self._store
        cache = self._cache
        if segmenter is not None and doc.status in (DocStatus.WAITING, DocStatus.MASKED):
            # (a photo finished, exported or edited while unloaded keeps saying so while it is
            # loaded again: its saved record may not hold that yet)
            doc.status = DocStatus.WORKING
        job = self._lane.submit(
            lambda ctx: prepare(path, image, segmenter, ctx, key, store, cache),
            name=f"prepare {doc.name}",
            on_done=lambda result: self._done(doc, result),
            on_error=lambda exc: self._error(doc, exc),
            on_progress=lambda decoded: self._decoded(doc, decoded),
        )
        self._running = (doc, job)
        self.started.emit(doc)

    def _next_survey(self) -> None:
        doc = next((d for d in self._shoot if self._to_survey(d)), None)
        if doc is None:
            return
        if self._held():
            return
        segmenter, path, store, cache = self.segmenter, doc.path, self._store, self._cache
        need_thumb = doc.thumbnail is None
        job = self._lane.submit(
            lambda ctx: survey(path, segmenter, ctx, store, cache, need_thumb),
            name=f"survey {doc.name}",
            on_done=lambda result: self._surveyed(doc, result),
            on_error=lambda exc: self._error(doc, exc),
        )
        self._running = (doc, job)

    def _surveyed(self, doc: Document, result: Surveyed) -> None:
        self._running = None
        doc.surveyed = True
        doc.key = doc.key or result.key
        doc.thumbnail = doc.thumbnail or result.thumb
        doc.confidence = result.confidence if result.confidence is not None else doc.confidence
        if doc.image is None and doc.status in (DocStatus.WAITING, DocStatus.MASKED):
            record = result.record
            if record is not None:
                doc.status, output = saved_status(record, bool(record.history.done))
                doc.output_path = output or doc.output_path
                doc.edges = record.edges
            elif result.masked:
                doc.status = DocStatus.MASKED
        self.surveyed.emit(doc)
        self._next()

    def _decoded(self, doc: Document, decoded: Decoded) -> None:
        if doc.image is None:
            doc.image, doc.photo = decoded.image, decoded.photo
        doc.thumbnail = doc.thumbnail or decoded.thumb
        # (the key waits for the mask: autosave must not write marks that have no session yet)
        self.decoded.emit(doc)

    def _done(self, doc: Document, result: Prepared) -> None:
        self._running = None
        doc.surveyed = True  # its status is known: no survey needed
        doc.image = result.image
        if doc.photo is None:  # (the photo shown since it was decoded stays the same object)
            doc.photo = result.photo
        doc.thumbnail = doc.thumbnail or result.thumb
        doc.key = doc.key or result.key
        if result.alpha is not None:
            doc.confidence = result.confidence
            doc.auto_alpha = result.alpha
            doc.alpha = result.alpha
            doc.session = result.session
            doc.can_undo = doc.can_redo = False
            doc.history = History()
            if doc.status in (DocStatus.WAITING, DocStatus.WORKING):
                doc.status = DocStatus.MASKED
            if result.record is not None:
                restore(doc, result)
        elif doc.status is DocStatus.WORKING:
            doc.status = DocStatus.WAITING
        notes = [*result.image.notes, *([result.note] if result.note else [])]
        if notes:
            doc.message = "; ".join(notes)
        self._loaded[id(doc)] = doc
        self.prepared.emit(doc)
        self._evict()
        self._next()

    def _error(self, doc: Document, exc: BaseException) -> None:
        self._running = None
        if isinstance(exc, CancelledError):
            if doc.status is DocStatus.WORKING:
                doc.status = DocStatus.WAITING
        else:
            doc.surveyed = True
            doc.status = DocStatus.FAILED
            if isinstance(exc, CutoutError):
                doc.message = str(exc)
            elif isinstance(exc, OSError):
                doc.message = f"{doc.name}: cannot read the file ({exc.strerror or exc})"
            else:
                doc.message = f"unexpected error: {exc!r}"
            self.failed.emit(doc)
        self._next()

    def _touch(self, doc: Document) -> None:
        if id(doc) in self._loaded:
            self._loaded.move_to_end(id(doc))

    def _evict(self) -> None:
        """Unload the least recently wanted unedited documents beyond KEEP_LOADED."""
        wanted = {id(d) for d in self._wanted}
        running = id(self._running[0]) if self._running else None
        spare = [d for key, d in self._loaded.items() if key not in wanted and key != running]
        for doc in spare[: max(0, len(spare) - KEEP_LOADED)]:
            if doc.edited or doc.pending:
                continue  # the user's work stays in memory
            doc.unload()
            del self._loaded[id(doc)]
