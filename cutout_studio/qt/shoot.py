"""The shoot in the editor: its folder, output folder and edge defaults, each photo's own edge
settings, and getting through it (accept and next, next unfinished, how far along it is).

A *shoot* is what the editor has open: the folder opened (or the common folder of the photos
opened). Its record (:class:`~cutout_studio.core.shoots.Shoot`) holds the output folder that
quick export and Export all write to, the edge settings new photos start from and the shoot's
clean plate (set in :mod:`plate`, brought back when the shoot is opened again). Each
photo's edge settings are its own (``Document.edges``, autosaved with its edits): the panel
shows the photo on screen's, and changing them changes only that photo (an exported or
finished photo becomes "edited" again: its output no longer shows them).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.shoots import Shoot, ShootStore, common_folder
from cutout_studio.qt.document import DocStatus, Document
from cutout_studio.qt.state import EditorState

_log = logging.getLogger(__name__)

#: statuses whose output (or acceptance) no longer holds once the photo changes
_DONE = (DocStatus.EXPORTED, DocStatus.WARNING, DocStatus.FINISHED)


def shoot_inputs(docs: Sequence[Document]) -> list[Path]:
    """What a batch of this shoot would be given: each folder opened once, and the photos opened
    as files; the planner names outputs from these, so every export path agrees on names."""
    inputs: list[Path] = []
    for doc in docs:
        item = doc.root if doc.root is not None else doc.path
        if item not in inputs:
            inputs.append(item)
    return inputs


class ShootFlow(QObject):
    """The shoot's record and the photo-by-photo flow through it (see the module docstring)."""

    #: (finished, total) changed
    progress_changed = Signal(int, int)
    #: a status line and how long to show it (ms)
    message = Signal(str, int)
    #: a shoot was opened: its clean plate (a Path, or None) is the one to use now
    plate_opened = Signal(object)
    #: the user marked a photo finished (accept and next, or accepted in the review)
    photo_finished = Signal(object)

    def __init__(
        self,
        state: EditorState,
        documents: Callable[[], Sequence[Document]],
        current: Callable[[], Document | None],
        show: Callable[[Document], None],
        store: ShootStore | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.store = store if store is not None else ShootStore()
        self._documents = documents
        self._current = current
        self._show = show
        self.shoot: Shoot | None = None
        self._showing = False  # the panel is being set to a photo's edges: not a user change
        state.edges_changed.connect(self._edges_changed)

    # ------------------------------------------------------------------ the shoot's record

    def opened(self, items: Sequence[str | os.PathLike[str]]) -> None:
        """Photos or folders were opened: the first one opened decides the shoot (a folder, or
        the folder of the photos) and puts it first in Recent shoots. A shoot opened before
        brings back its edge defaults; a new one takes the panel's."""
        if self.shoot is not None or not items:
            return
        folder = common_folder([Path(item) for item in items])
        if folder is None:
            return
        # a new shoot starts from what the panel shows (set before opening it)
        self.shoot = self.store.opened(folder, new_edges=self.state.edges, new_plate=self.state.export.clean_plate)
        self.state.edges = self.shoot.edges
        self.plate_opened.emit(self.shoot.clean_plate)

    @property
    def output_dir(self) -> Path | None:
        """Where quick export and Export all write (None: nothing opened yet)."""
        return self.shoot.output if self.shoot is not None else None

    def set_output_dir(self, folder: Path) -> None:
        """The user exported the whole shoot into ``folder``: quick export follows it."""
        if self.shoot is None or self.shoot.output == folder:
            return
        self.shoot = dataclasses.replace(self.shoot, output_dir=folder)
        self._save()

    def set_plate(self, plate: Path | None) -> None:
        """The shoot's clean plate is now ``plate`` (None: none): remembered for the next opening."""
        if self.shoot is None or self.shoot.clean_plate == plate:
            return
        self.shoot = dataclasses.replace(self.shoot, clean_plate=plate)
        self._save()

    def _save(self) -> None:
        if self.shoot is None:
            return
        try:
            self.store.save(self.shoot)
        except OSError as exc:
            self.message.emit(f"Could not save the shoot's settings: {exc.strerror or exc}", 8000)

    # ------------------------------------------------------------------ edge settings

    def edges_for(self, doc: Document) -> EdgeOptions:
        """The photo's own edge settings, or the shoot's defaults."""
        if doc.edges is not None:
            return doc.edges
        return self.shoot.edges if self.shoot is not None else self.state.edges

    def showing(self, doc: Document) -> None:
        """``doc`` is now on screen: the panel shows its edge settings."""
        self._showing = True
        try:
            self.state.edges = self.edges_for(doc)
        finally:
            self._showing = False

    def _edges_changed(self, edges: EdgeOptions) -> None:
        doc = self._current()
        if self._showing or doc is None or edges == self.edges_for(doc):
            return
        doc.edges = edges
        if doc.status in _DONE:
            doc.status = DocStatus.EDITED  # its output (or acceptance) does not show them
        doc.notify_changed()

    def apply_to_unfinished(self) -> int:
        """Give the photo on screen's edge settings to every unfinished photo and to the shoot
        (photos opened later start from them); returns how many photos changed."""
        edges = self.state.edges
        changed = 0
        for doc in self._documents():
            if doc.finished or doc.status is DocStatus.FAILED or self.edges_for(doc) == edges:
                continue
            doc.edges = edges
            if doc.status in _DONE:
                doc.status = DocStatus.EDITED
            doc.notify_changed()
            changed += 1
        if self.shoot is not None and self.shoot.edges != edges:
            self.shoot = dataclasses.replace(self.shoot, edges=edges)
            self._save()
        self.message.emit(f"Edge settings given to {changed} unfinished photo(s) and to the shoot", 6000)
        return changed

    # ------------------------------------------------------------------ getting through it

    def progress(self) -> tuple[int, int]:
        docs = self._documents()
        return sum(1 for d in docs if d.finished), len(docs)

    def update_progress(self) -> None:
        self.progress_changed.emit(*self.progress())

    def doc_changed(self, _doc: Document) -> None:
        """A photo's status changed: the shoot's progress may have."""
        self.update_progress()

    def accept_and_next(self) -> bool:
        """Mark the photo on screen finished and show the next unfinished one; False (with the
        reason) when it cannot be accepted yet."""
        doc = self._current()
        if doc is None:
            return False
        if not doc.ready:
            reason = doc.message if doc.status is DocStatus.FAILED else "wait for its mask"
            self.message.emit(f"{doc.label} cannot be accepted: {reason}", 5000)
            return False
        self.mark_finished(doc)
        if not self.step_unfinished(1):
            finished, total = self.progress()
            self.message.emit(f"Every photo is finished ({finished} of {total})", 8000)
        return True

    def mark_finished(self, doc: Document) -> None:
        """The user accepts ``doc``: it is finished (autosave and the progress follow) and
        ``photo_finished`` says so (the corrections set keeps it when asked to)."""
        if not doc.finished:
            doc.status = DocStatus.FINISHED
            doc.notify_changed()
        self.photo_finished.emit(doc)

    def step_unfinished(self, direction: int) -> bool:
        """Show the next (direction > 0) or previous unfinished photo, wrapping around."""
        docs = list(self._documents())
        current = self._current()
        if not docs:
            return False
        start = docs.index(current) if current in docs else -1
        for offset in range(1, len(docs) + 1):
            doc = docs[(start + offset * (1 if direction > 0 else -1)) % len(docs)]
            if doc is not current and not doc.finished:
                self._show(doc)
                return True
        return False
