"""Per-photo state of the editor: the photo, its automatic mask, its refinement and its status.

A :class:`Document` is owned by the GUI thread. The heavy fields (``image``, ``auto_alpha``,
``session``) are produced on the mask lane and handed over whole; after that only the edit
lane calls into ``session``. ``alpha`` is an immutable snapshot of the current (refined) mask
that the edit lane publishes after every change, so export never reads a buffer that a
stroke may be writing.

A document says when its edit state changed (mask, undo state, status) through ``changed``,
so the filmstrip, the actions and autosave follow it without the edit lane knowing them.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, SignalInstance
from PySide6.QtGui import QImage

from cutout_studio.core.edge_brush import EdgeEdits
from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.image_io import LoadedImage
from cutout_studio.core.refine import RefineSession, StrokeKind
from cutout_studio.core.scan import scan_inputs
from cutout_studio.core.session_store import History, Step
from cutout_studio.qt.outline import OutlineTiles
from cutout_studio.qt.render import Layer


class DocStatus(enum.Enum):
    WAITING = "waiting"
    WORKING = "computing mask"
    MASKED = "masked"
    EDITED = "edited"
    FINISHED = "finished"  #: accepted by the user (not exported yet)
    EXPORTED = "exported"
    WARNING = "exported, check it"  #: written, but the result looks empty (see ``message``)
    FAILED = "failed"


@dataclass(frozen=True)
class StrokeCommand:
    kind: StrokeKind  #: "fg", "bg" or "erase"
    points: tuple[tuple[float, float], ...]  #: full-resolution (x, y) pixel coordinates
    radius: float

    def step(self) -> Step:
        return Step(self.kind, self.points, self.radius)


@dataclass(frozen=True)
class EdgeBrushCommand:
    """A refine-edge stroke: matting where painted (not a mark; a step of the saved history)."""

    points: tuple[tuple[float, float], ...]
    radius: float
    hardness: float  #: 0..1, see :mod:`cutout_studio.core.edge_brush`

    def step(self) -> Step:
        return Step("refine", self.points, self.radius, self.hardness)


@dataclass(frozen=True)
class HistoryCommand:
    action: str  #: "undo", "redo" or "reset"


EditCommand = StrokeCommand | EdgeBrushCommand | HistoryCommand


def intended_history(history: History, commands: Iterable[EditCommand]) -> History:
    """``history`` after ``commands`` that are queued but not applied yet (what the user asked for)."""
    for command in commands:
        if isinstance(command, (StrokeCommand, EdgeBrushCommand)):
            history = history.add(command.step())
        elif isinstance(command, HistoryCommand):
            history = history.then(command.action)
    return history


class DocumentSignals(QObject):
    """The signals of a :class:`Document` (a dataclass cannot be a QObject itself)."""

    changed = Signal(object)  #: the document whose mask, undo state or status changed


@dataclass(eq=False)
class Document:
    path: Path
    status: DocStatus = DocStatus.WAITING
    message: str = ""  #: the reason of a failure, or notes about the photo
    image: LoadedImage | None = None
    auto_alpha: np.ndarray | None = None
    session: RefineSession | None = None
    alpha: np.ndarray | None = None  #: read-only snapshot of the current mask (before edge settings)
    photo: Layer | None = None  #: the photo as a display image (made on a worker)
    thumbnail: QImage | None = None
    output_path: Path | None = None  #: where this photo was last exported (or batch output)
    #: the folder the photo was opened from (None: opened as a file): outputs mirror it, as a
    #: batch of that folder would name them
    root: Path | None = None
    #: this photo's own edge settings (None: the shoot's defaults)
    edges: EdgeOptions | None = None
    can_undo: bool = False
    can_redo: bool = False
    #: edits waiting for the edit lane, in order; drained by the next edit job
    pending: list[EditCommand] = field(default_factory=list)
    #: bumped by every request that changes what the canvas should show (latest wins)
    generation: int = 0
    shown_generation: int = -1
    edited: bool = False  #: any stroke was ever applied (kept in memory, never evicted)
    #: the photo's identity in the session store (hash of its bytes), known once it is loaded
    key: str | None = None
    #: the steps applied to ``session`` so far (confirmed by the edit lane): what autosave writes
    history: History = field(default_factory=History)
    #: the last picture the canvas showed for this photo, and the view mode it was made for:
    #: shown again at once when the photo comes back on screen, until a fresh one arrives
    layer: Layer | None = None
    layer_mode: str = ""
    #: the alpha ``layer`` was composed from: an edit recomposes only where the mask differs
    layer_alpha: np.ndarray | None = None
    layer_settings: tuple[object, ...] = ()  #: the (view, edge options) ``layer`` was made for
    #: the mask's outline as drawn by the outline view: (tile row, column) -> QPainterPath
    outline: OutlineTiles = field(default_factory=dict)
    #: refine-edge brush patches over the marks' mask (see core.edge_brush)
    edge_edits: EdgeEdits = field(default_factory=EdgeEdits)
    signals: DocumentSignals = field(default_factory=DocumentSignals, repr=False)
    #: its status is known (masked into the cache and its saved record read, or prepared)
    surveyed: bool = False
    #: how much to trust its automatic mask, 0..1 (core.confidence; worst-first review), once known
    confidence: float | None = None
    #: the name shown when it differs from ``name`` (a namesake from another folder is open)
    display_name: str = ""
    #: the model and clean plate its automatic mask was made with (core.mask_cache.mask_variant)
    mask_variant: str = ""
    #: why the shoot's clean plate was not used for it (another set-up or size); "" when it was
    plate_note: str = ""
    #: being masked again with the shoot's new clean plate (it stays on screen and editable)
    remasking: bool = False

    @property
    def changed(self) -> SignalInstance:
        """Emitted (with the document) after its mask, undo state or status changed."""
        return self.signals.changed

    def notify_changed(self) -> None:
        self.signals.changed.emit(self)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def finished(self) -> bool:
        """Accepted or exported, and not changed since: the shoot's work on it is done."""
        return self.status in (DocStatus.FINISHED, DocStatus.EXPORTED)

    @property
    def label(self) -> str:
        """The photo's name as the filmstrip shows it (folder-relative where names repeat)."""
        return self.display_name or self.name

    @property
    def ready(self) -> bool:
        """The photo is loaded and has its automatic mask: the canvas can show it and brushes work."""
        return self.session is not None and self.alpha is not None and self.image is not None

    def status_text(self) -> str:
        text = self.status.value
        if self.status in (DocStatus.FAILED, DocStatus.WARNING) and self.message:
            text += f": {self.message}"
        elif self.plate_note and self.status is not DocStatus.FAILED:
            text += " · no clean plate"  # the reason is in the tooltip and on the status line
        return text

    def unload(self) -> None:
        """Drop the pixels (to bound memory); the status stays, the photo reloads when shown again."""
        self.image = None
        self.auto_alpha = None
        self.session = None
        self.alpha = None
        self.photo = None
        self.layer = None
        self.layer_alpha = None
        self.outline = {}
        self.edge_edits = EdgeEdits()
        self.history = History()
        self.pending.clear()
        self.can_undo = self.can_redo = False
        self.remasking = False
        if self.status is DocStatus.WORKING:
            self.status = DocStatus.WAITING


def scan_paths(items: Iterable[str | os.PathLike[str]], plates: Collection[Path] = ()) -> list[tuple[Path | None, Path]]:
    """(folder it was found in or None, photo) for the photos named directly and every photo
    inside the folders: the engine's one scanner, so the editor opens what a batch would cut
    (never our own outputs nor a shoot's clean plate, each photo once)."""
    return scan_inputs(items, plates=plates).photos
