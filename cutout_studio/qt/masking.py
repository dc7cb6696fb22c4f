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

The shoot's clean plate (:meth:`MaskScheduler.set_plate`) is part of every automatic mask and
of its name in the cache: when it is set, changed or cleared, the photos in memory are *re-masked*
(the photo on screen first; each keeps its marks, replayed on the new automatic mask, and the
new mask is taken only once the edit lane has nothing of that photo in hand, else the job runs
again with the newer marks) and the rest of the shoot is surveyed again.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from cutout_studio.core.batch import PreparedPhoto
from cutout_studio.core.errors import CancelledError, CutoutError, ModelNotInstalledError
from cutout_studio.core.mask_cache import MaskCache
from cutout_studio.core.session_store import History, SessionStore
from cutout_studio.qt.document import DocStatus, Document
from cutout_studio.qt.preparing import (
    NO_PLATE,
    Decoded,
    Plate,
    Prepared,
    Remasked,
    Surveyed,
    export_mask,
    load_segmenter,
    prepare,
    remask,
    restore,
    survey,
    take_saved_state,
)
from cutout_studio.qt.workers import Job, Lane

if TYPE_CHECKING:  # importing the segmenter loads torch: the GUI does that on a worker
    from cutout_studio.core.segmenter import Segmenter

_log = logging.getLogger(__name__)

#: Unedited documents kept in memory besides the wanted ones (a 24 MP photo costs ~300 MB).
KEEP_LOADED = 4
#: How many photos after the one on screen are prepared ahead.
PREFETCH = 2
#: Surveys of the rest of the shoot wait this long after the user last painted (strokes first).
HOLD_AFTER_PAINT_S = 1.5


def _output_outdated(doc: Document) -> bool:
    """``doc``'s automatic mask changed (a new clean plate): an export or an acceptance of the
    mask it had no longer holds, as after an edit; True when its status changed."""
    if doc.status in (DocStatus.EXPORTED, DocStatus.WARNING, DocStatus.FINISHED):
        doc.status = DocStatus.EDITED
        return True
    return False


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
    #: document: masked again with the shoot's clean plate (its marks replayed): a new picture is
    #: due (or it could not be: ``doc.plate_note`` says why, the mask it had stays)
    remasked = Signal(object)
    plate_changed = Signal()  #: the masks are made with another clean plate from now on

    def __init__(
        self,
        lane: Lane,
        model: str = "default",
        parent: QObject | None = None,
        store: SessionStore | None = None,
        cache: MaskCache | None = None,
        when_idle: Callable[[Document, Callable[[], None]], None] | None = None,
    ) -> None:
        """``when_idle(doc, callback)``: run ``callback`` once the edit lane has no edit of
        ``doc`` queued or running (a re-masked photo's session is swapped only then)."""
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
        self._when_idle = when_idle if when_idle is not None else (lambda _doc, callback: callback())
        self._plate = NO_PLATE
        #: re-masked documents waiting for their edit lane to be idle: id(doc) -> the result
        self._awaiting: dict[int, Remasked] = {}

    def export_mask(self, path: Path) -> PreparedPhoto | None:
        """See :func:`export_mask` (worker thread: reads files only)."""
        return export_mask(path, self.segmenter, self._store, self._cache, self._plate)

    # ------------------------------------------------------------------ clean plate

    @property
    def plate(self) -> Plate:
        return self._plate

    @property
    def mask_variant(self) -> str:
        """What the cache names the automatic masks made now ("" before the model is loaded)."""
        return self._plate.variant(self.segmenter.card.name) if self.segmenter is not None else ""

    def set_plate(self, plate: Plate) -> None:
        """Make the automatic masks with ``plate`` (checked readable by the caller): the photos in
        memory are re-masked, the photo on screen first, and the rest of the shoot surveyed again."""
        if plate == self._plate:
            return
        self._plate = plate
        self._awaiting.clear()  # results made with the plate before are not taken
        for doc in self._shoot:
            doc.remasking = False  # (until its re-mask with this plate starts, if it needs one)
            if doc.image is None and doc.status is not DocStatus.FAILED:
                doc.surveyed = False  # its mask in the cache is another plate's
        if self._running is not None:
            self._running[1].cancel()  # made with the plate before: started again with this one
        self.plate_changed.emit()
        self._next()

    def _stale(self, doc: Document) -> bool:
        """A photo in memory whose automatic mask was made with another plate (or none)."""
        return (
            self.segmenter is not None
            and doc.image is not None
            and doc.auto_alpha is not None
            and doc.mask_variant != self.mask_variant
            and id(doc) not in self._awaiting
        )

    # ------------------------------------------------------------------ model

    def use_model(self, model: str) -> None:
        """Mask with ``model`` from now on (photos already masked keep their masks)."""
        self._model = model
        self.segmenter = None
        self.load_model()

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
        return (doc.alpha is None and self.segmenter is not None) or self._stale(doc)

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
        # (a photo finished, edited or exported is surveyed again only for a new clean plate:
        # its mask goes into the cache, its status stays)
        return not doc.surveyed and doc.image is None and doc.status is not DocStatus.FAILED and (
            doc.status in (DocStatus.WAITING, DocStatus.MASKED) or bool(doc.mask_variant)
        ) and doc not in self._wanted

    def _update_backlog(self) -> None:
        backlog = sum(1 for d in self._shoot if (not d.surveyed and d.status is not DocStatus.FAILED)
                      or d.remasking or self._stale(d))  # (photos in memory masked again for a new plate)
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
        if self._stale(doc):
            self._remask(doc)
            return
        segmenter, image, path, key, store = self.segmenter, doc.image, doc.path, doc.key, self._store
        cache, plate = self._cache, self._plate
        if segmenter is not None and doc.status in (DocStatus.WAITING, DocStatus.MASKED):
            # (a photo finished, exported or edited while unloaded keeps saying so while it is
            # loaded again: its saved record may not hold that yet)
            doc.status = DocStatus.WORKING
        job = self._lane.submit(
            lambda ctx: prepare(path, image, segmenter, ctx, key, store, cache, plate),
            name=f"prepare {doc.name}",
            on_done=lambda result: self._done(doc, result),
            on_error=lambda exc: self._error(doc, exc),
            on_progress=lambda decoded: self._decoded(doc, decoded),
        )
        self._running = (doc, job)
        self.started.emit(doc)

    def _remask(self, doc: Document) -> None:
        """Mask ``doc`` (in memory) again with the plate; its confirmed marks are replayed."""
        segmenter, image, key, cache, plate, history, before = (
            self.segmenter, doc.image, doc.key, self._cache, self._plate, doc.history, doc.auto_alpha)
        assert segmenter is not None and image is not None  # _stale() checked
        doc.remasking = True
        job = self._lane.submit(
            lambda ctx: remask(image, segmenter, key, cache, plate, history, ctx, before),
            name=f"re-mask {doc.name}",
            on_done=lambda result: self._remasked(doc, result),
            on_error=lambda exc: self._remask_failed(doc, exc),
        )
        self._running = (doc, job)
        self.started.emit(doc)

    def _remasked(self, doc: Document, result: Remasked) -> None:
        self._running = None
        if doc.image is not None and result.variant == self.mask_variant:
            self._awaiting[id(doc)] = result
            # the session is the edit lane's while it works on it: swapped once it is idle
            self._when_idle(doc, lambda: self._take_remask(doc, result))
        self._next()

    def _take_remask(self, doc: Document, result: Remasked) -> None:
        if self._awaiting.get(id(doc)) is not result:
            return  # the plate changed again, or the photo was unloaded
        del self._awaiting[id(doc)]
        if doc.image is None or doc.session is None or doc.history != result.history:
            self._next()  # marks made meanwhile: masked again with them (the mask is cached now)
            return
        doc.remasking = False
        doc.auto_alpha = result.alpha
        doc.session = result.session
        doc.alpha = result.restored if result.restored is not None else result.alpha
        doc.edge_edits = result.edge_edits
        doc.can_undo = result.session.can_undo or bool(result.edge_edits.order)
        doc.can_redo = result.session.can_redo or bool(result.edge_edits.undone)
        doc.confidence = result.confidence
        doc.plate_note = result.plate_note
        doc.mask_variant = result.variant
        if result.changed:
            _output_outdated(doc)
        self.remasked.emit(doc)
        doc.notify_changed()
        self._next()

    def _remask_failed(self, doc: Document, exc: BaseException) -> None:
        self._running = None
        doc.remasking = False
        if not isinstance(exc, CancelledError):
            # the photo keeps the mask it has: said on the status line, not a failed photo
            doc.plate_note = f"could not mask it again: {exc}"
            doc.mask_variant = self.mask_variant
            self.remasked.emit(doc)
        self._next()

    def _next_survey(self) -> None:
        loaded = next((d for d in self._loaded.values() if self._stale(d)), None)
        if loaded is not None and not self._held():
            self._remask(loaded)  # a photo kept in memory: Export all takes its mask as it is
            return
        doc = next((d for d in self._shoot if self._to_survey(d)), None)
        if doc is None:
            return
        if self._held():
            return
        segmenter, path, store, cache = self.segmenter, doc.path, self._store, self._cache
        need_thumb, plate, previous = doc.thumbnail is None, self._plate, doc.mask_variant
        job = self._lane.submit(
            lambda ctx: survey(path, segmenter, ctx, store, cache, need_thumb, plate, previous),
            name=f"survey {doc.name}",
            on_done=lambda result: self._surveyed(doc, result),
            on_error=lambda exc: self._error(doc, exc),
        )
        self._running = (doc, job)

    def _surveyed(self, doc: Document, result: Surveyed) -> None:
        self._running = None
        doc.key = doc.key or result.key
        doc.thumbnail = doc.thumbnail or result.thumb
        if result.variant != self.mask_variant:  # made with the plate before: surveyed again
            self._next()
            return
        doc.surveyed = True
        doc.confidence = result.confidence if result.confidence is not None else doc.confidence
        doc.plate_note = result.plate_note
        doc.mask_variant = result.variant
        outdated = result.changed and _output_outdated(doc)
        record = result.record
        # edge settings given before its key was known (all unfinished photos) were never saved
        unsaved = doc.edges is not None and doc.edges != (record.edges if record is not None else None)
        if doc.image is None and doc.status in (DocStatus.WAITING, DocStatus.MASKED):
            if record is not None:
                take_saved_state(doc, record, bool(record.history.done))
            elif result.masked:
                doc.status = DocStatus.MASKED
        self.surveyed.emit(doc)
        if unsaved or outdated:
            doc.notify_changed()  # autosave writes them now
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
            doc.plate_note = result.plate_note
            doc.mask_variant = result.variant
            doc.remasking = False
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
            self._awaiting.pop(id(doc), None)
            del self._loaded[id(doc)]
