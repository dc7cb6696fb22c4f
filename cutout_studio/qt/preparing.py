"""What the mask lane's jobs do, on the worker thread (and what their results are put into on
the GUI thread): prepare the photo on screen (decode, automatic mask, replay saved edits),
survey another photo of the shoot (mask into the cache, read its record), re-mask a photo in
memory when the shoot's clean plate changes (its marks replayed on the new automatic mask), and
give Export all the mask of a photo not in memory. The scheduling is :mod:`masking`'s.

Every automatic mask is made as the batch makes it: the model's low-resolution mask, fused with
the shoot's clean plate when there is one (:func:`~cutout_studio.core.clean_plate.apply_clean_plate`),
then snapped to the photo; a plate that does not fit the photo leaves the model's mask and a
one-line note. The cache keeps masks by model *and* plate (:func:`~cutout_studio.core.mask_cache.mask_variant`).
"""


from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PySide6.QtGui import QImage

from cutout_studio.core.batch import PreparedPhoto
from cutout_studio.core.clean_plate import apply_clean_plate
from cutout_studio.core.confidence import confidence
from cutout_studio.core.edge_brush import EdgeEdits
from cutout_studio.core.edits import replay
from cutout_studio.core.errors import CutoutError, ModelNotInstalledError
from cutout_studio.core.image_io import LoadedImage, load_image
from cutout_studio.core.mask_cache import MaskCache, mask_variant, quantise
from cutout_studio.core.refine import RefineSession
from cutout_studio.core.session_store import History, SessionRecord, SessionStore, content_key
from cutout_studio.qt.document import DocStatus, Document
from cutout_studio.qt.render import Layer, photo_layer, thumbnail
from cutout_studio.qt.workers import JobContext

if TYPE_CHECKING:  # importing the segmenter loads torch: the GUI does that on a worker
    from cutout_studio.core.segmenter import Segmenter

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plate:
    """The shoot's clean plate as the mask lane uses it: the file, and its identity
    (:func:`~cutout_studio.core.mask_cache.plate_tag`: path, size, time) that names its masks."""

    path: Path | None = None
    tag: str = ""

    def variant(self, model: str) -> str:
        """The name the cache keeps this plate's masks by ``model`` under."""
        return mask_variant(model, self.tag)


NO_PLATE = Plate()


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
    edge_edits: EdgeEdits | None = None  #: the refine-edge patches the replay made
    note: str = ""  #: why saved edits were not restored
    confidence: float | None = None  #: of the automatic mask (core.confidence)
    plate_note: str = ""  #: why the clean plate was not used ("" when used, or none)
    variant: str = ""  #: the model and plate the automatic mask was made with (mask_variant)


@dataclass
class Surveyed:
    """What a survey learnt of a photo of the shoot (no pixels are kept)."""

    key: str | None
    record: SessionRecord | None
    masked: bool  #: its automatic mask is in the cache
    thumb: QImage | None = None  #: made when the photo had to be decoded anyway
    confidence: float | None = None  #: of its automatic mask (core.confidence)
    plate_note: str = ""  #: why the clean plate was not used
    variant: str = ""  #: the model and plate its mask in the cache was made with
    #: masked again (a new clean plate) into another mask than the one it had: an output or an
    #: acceptance of it no longer holds
    changed: bool = False


@dataclass
class Remasked:
    """A photo in memory masked again (the shoot's clean plate changed), its marks replayed."""

    alpha: np.ndarray  #: the new automatic mask
    session: RefineSession
    history: History  #: the steps replayed (the document's when the job started)
    restored: np.ndarray | None  #: the mask with them (None: no steps)
    edge_edits: EdgeEdits
    confidence: float
    plate_note: str
    variant: str
    changed: bool  #: the new automatic mask differs from the one the photo had


def automatic_mask(
    image: LoadedImage, segmenter: Segmenter, key: str | None, cache: MaskCache | None, plate: Plate = NO_PLATE
) -> tuple[np.ndarray, str]:
    """The photo's automatic mask and why the plate was not used ("": used, or none): from the
    cache, or from the model fused with the clean plate (then cached); 8-bit steps either way,
    so that saved strokes replay onto the same mask (worker thread)."""
    name = plate.variant(segmenter.card.name)
    if cache is not None and key is not None:
        cached = cache.load(key, name, (image.width, image.height))
        if cached is not None:
            return cached, cache.note(key, name)
    # as the batch's encode step: the model's mask, the plate fused in, the snap
    low = segmenter.predict_lowres([image.rgb])[0]
    low, note = apply_clean_plate(low, image.rgb, plate.path)
    alpha = quantise(segmenter.snap(low, image.rgb))
    if cache is not None and key is not None:
        cache.save(key, name, alpha, note)
    return alpha, note


def survey(
    path: Path,
    segmenter: Segmenter | None,
    ctx: JobContext,
    store: SessionStore | None,
    cache: MaskCache | None,
    need_thumb: bool,
    plate: Plate = NO_PLATE,
    previous: str = "",
) -> Surveyed:
    """Mask a photo of the shoot into the cache (with the shoot's clean plate), read its saved
    record and the confidence of its automatic mask (worker thread). ``previous``: the mask
    variant it had (surveyed again for a new plate): whether the new mask differs is told."""
    key = content_key(path)  # OSError: the job fails, the photo is marked failed with the reason
    record = store.load(key) if store is not None else None
    name = plate.variant(segmenter.card.name) if segmenter is not None else ""
    masked = bool(name) and cache is not None and cache.has(key, name)
    thumb, trust, note, alpha = None, None, "", None
    if (segmenter is not None and not masked) or need_thumb:
        ctx.check_cancelled()
        image = load_image(path)
        thumb = thumbnail(image.rgb) if need_thumb else None
        if segmenter is not None and not masked:
            ctx.check_cancelled()
            alpha, note = automatic_mask(image, segmenter, key, cache, plate)
            trust = confidence(alpha)
            masked = cache is not None
    changed = False
    if masked and cache is not None:
        mask = cv2.imread(str(cache.path_for(key, name)), cv2.IMREAD_GRAYSCALE)
        if trust is None:  # read back: the mask is a small PNG
            trust = confidence(mask) if mask is not None else None
        note = note or cache.note(key, name)
        if previous and previous != name:
            before = cv2.imread(str(cache.path_for(key, previous)), cv2.IMREAD_GRAYSCALE)
            changed = before is None or mask is None or not np.array_equal(before, mask)
    return Surveyed(key, record, masked, thumb, trust, note, name, changed)


def prepare(
    path: Path,
    image: LoadedImage | None,
    segmenter: Segmenter | None,
    ctx: JobContext,
    key: str | None = None,
    store: SessionStore | None = None,
    cache: MaskCache | None = None,
    plate: Plate = NO_PLATE,
) -> Prepared:
    """Load the photo, get its automatic mask (with the shoot's clean plate) and replay its
    saved edits (worker thread)."""
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
    alpha, plate_note = automatic_mask(image, segmenter, key, cache, plate)
    ctx.check_cancelled()
    session = RefineSession(image.rgb, alpha)
    trust = confidence(alpha)
    variant = plate.variant(segmenter.card.name)
    prepared = Prepared(image, photo, thumb, alpha, session, key, confidence=trust, plate_note=plate_note,
                        variant=variant)
    record = store.load(key) if store is not None and key is not None else None
    if record is not None and not record.history.empty:
        if record.size != (image.width, image.height):
            prepared.note = f"saved edits are for a {record.size[0]}×{record.size[1]} photo: not restored"
            return prepared
        try:
            prepared.edge_edits, prepared.restored = replayed(record.history, image, session)
        except ValueError as exc:  # a hand-edited record: start from the automatic mask
            prepared.note = f"saved edits could not be replayed ({exc})"
            return Prepared(image, photo, thumb, alpha, RefineSession(image.rgb, alpha), key, confidence=trust,
                            plate_note=plate_note, variant=variant)
    prepared.record = record
    return prepared


def remask(
    image: LoadedImage,
    segmenter: Segmenter,
    key: str | None,
    cache: MaskCache | None,
    plate: Plate,
    history: History,
    ctx: JobContext,
    before: np.ndarray | None = None,
) -> Remasked:
    """A photo in memory masked again with ``plate`` (the shoot's clean plate changed) and
    ``history`` (its marks) replayed on the new automatic mask (worker thread); ``before``: the
    automatic mask it had (whether the new one differs is told)."""
    alpha, note = automatic_mask(image, segmenter, key, cache, plate)
    ctx.check_cancelled()
    session = RefineSession(image.rgb, alpha)
    edits, restored = EdgeEdits(), None
    if not history.empty:
        edits, restored = replayed(history, image, session)  # ValueError: the job fails, as prepare's
    changed = before is None or not np.array_equal(before, alpha)
    return Remasked(alpha, session, history, restored, edits, confidence(alpha), note,
                    plate.variant(segmenter.card.name), changed)


def export_mask(
    path: Path,
    segmenter: Segmenter | None,
    store: SessionStore | None,
    cache: MaskCache | None,
    plate: Plate = NO_PLATE,
) -> PreparedPhoto | None:
    """A photo not in memory as Export all must write it: its automatic mask (from the cache,
    the model only if missing) with its saved strokes replayed (worker thread). None without a
    model or when it cannot be read: the batch then loads it and reports why itself."""
    if segmenter is None:
        return None
    try:
        image = load_image(path)
        key = content_key(path)
    except (CutoutError, OSError):
        return None
    alpha, _note = automatic_mask(image, segmenter, key, cache, plate)
    record = store.load(key) if store is not None else None
    if record is None or record.history.empty or record.size != (image.width, image.height):
        return PreparedPhoto(image, alpha, False)
    try:
        _edits, restored = replayed(record.history, image, RefineSession(image.rgb, alpha))
    except ValueError:  # a hand-edited record: the editor shows the automatic mask too
        return PreparedPhoto(image, alpha, False)
    return PreparedPhoto(image, restored, True)


def replayed(history: History, image: LoadedImage, session: RefineSession) -> tuple[EdgeEdits, np.ndarray]:
    """Replay ``history`` (a photo's edits) into a fresh ``session``: the refine-edge patches and
    the mask they give (read-only); ValueError for steps the session refuses (worker thread)."""
    edits = replay(history, session, image.rgb)
    restored = np.array(edits.apply(session.refine()), dtype=np.float32)
    restored.setflags(write=False)
    return edits, restored


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
    # "edited" without strokes: its edge settings changed after an export, which is still stale
    return (DocStatus.EDITED if edited or word == DocStatus.EDITED.value else DocStatus.MASKED), output


def restore(doc: Document, result: Prepared) -> None:
    """Put the saved edits, edge settings and status of ``result.record`` into ``doc`` (GUI thread)."""
    record = result.record
    assert record is not None
    if result.restored is not None:
        doc.alpha = result.restored
        doc.history = record.history
        doc.edge_edits = result.edge_edits or EdgeEdits()
        session = result.session
        assert session is not None  # edits are restored only into a session
        doc.can_undo, doc.can_redo = session.can_undo, session.can_redo
        doc.edited = True
    replayed = result.restored is not None and bool(record.history.done)
    if result.restored is None and not record.history.empty:
        return  # the strokes could not be replayed (result.note says why): start afresh
    take_saved_state(doc, record, replayed)


def take_saved_state(doc: Document, record: SessionRecord, edited: bool) -> None:
    """The status, output and edge settings ``record`` saved, into ``doc`` (GUI thread; for a
    photo loaded or surveyed). What this session set is newer than the record (an acceptance
    in the review, edges given to every unfinished photo) when autosave has not written it yet:
    an acceptance and the photo's own edges are kept."""
    status, output = saved_status(record, edited)
    doc.status = DocStatus.FINISHED if doc.status is DocStatus.FINISHED else status
    doc.output_path = output or doc.output_path
    doc.edges = doc.edges if doc.edges is not None else record.edges
