"""Shoot › Set clean plate… and Clear clean plate: the shoot's empty backdrop in the editor.

The plate is the export options' ``clean_plate`` (:attr:`EditorState.export`), so Export, the
Batch window and recipes take it as they take every other setting; what this module adds is
the editor's side of it:

- a file chosen is read on a worker (a 24 MP plate takes a moment to decode) and refused with a
  one-line reason when it cannot be read, changing nothing;
- whatever sets the plate (this menu, a recipe, opening a shoot) reaches the mask lane
  (:meth:`MaskScheduler.set_plate`, which re-masks the shoot, the photo on screen first) and the
  shoot's record (:meth:`ShootFlow.set_plate`, so that reopening the shoot brings it back);
- the plate is the shoot's, not the user's: it is kept out of ``settings.json``
  (:mod:`persistence`);
- the plate's file is watched: saved again (retouched), the shoot is masked again with it (its
  masks are named by its size and time); moved or deleted, the shoot goes on without it, and
  the status line says so (exports and batches must not be made with a plate that is gone).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from cutout_studio.core.clean_plate import CleanPlate
from cutout_studio.core.errors import CutoutError
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.mask_cache import plate_tag
from cutout_studio.qt.masking import MaskScheduler
from cutout_studio.qt.preparing import NO_PLATE, Plate
from cutout_studio.qt.shoot import ShootFlow
from cutout_studio.qt.state import EditorState
from cutout_studio.qt.workers import JobContext, Lane

__all__ = ["CleanPlateControl", "plate_label"]

_log = logging.getLogger(__name__)

#: quiet time after the plate's file last changed before it is read again (a save is several writes)
SETTLE_MS = 400
_FILTER = "Images (*.jpg *.jpeg *.png *.tif *.tiff *.webp *.bmp);;All files (*)"


def plate_label(options: ExportOptions) -> str:
    """What the tools panel says of the shoot's clean plate."""
    plate = options.clean_plate
    return f"Clean plate: {plate.name}" if plate is not None else "Clean plate: none"


def _check(path: Path, _ctx: JobContext) -> Path:
    """Read the plate once (kept by CleanPlate for the masks) and give its absolute path
    (worker thread); CleanPlateError (one line naming the file) when it cannot be read."""
    CleanPlate.load(path)
    return path.expanduser().absolute()


class CleanPlateControl(QObject):
    """Sets and clears the shoot's clean plate and keeps the mask lane and the shoot's record on it."""

    #: a status line and how long to show it (ms)
    message = Signal(str, int)
    #: a plate refused (one line): nothing changed
    refused = Signal(str)

    def __init__(
        self,
        state: EditorState,
        lane: Lane,
        masks: MaskScheduler,
        shoot: ShootFlow,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._state = state
        self._lane = lane
        self._masks = masks
        self._shoot = shoot
        self._parent = parent
        self._folder = ""
        self._checking: Path | None = None
        self._watcher = QFileSystemWatcher(self)
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self._file_changed)
        self._watcher.fileChanged.connect(lambda _name: self._settle.start())
        state.export_changed.connect(self._follow)
        shoot.plate_opened.connect(self._shoot_opened)
        self._follow(state.export)

    @property
    def path(self) -> Path | None:
        """The plate in use (None: none)."""
        return self._state.export.clean_plate

    def choose(self) -> None:
        """Ask for the plate's file, then :meth:`set` it."""
        start = self._folder or (str(self._shoot.shoot.folder) if self._shoot.shoot is not None else "")
        name, _ = QFileDialog.getOpenFileName(self._parent, "Set the shoot's clean plate (the empty backdrop)",
                                              start, _FILTER)
        if name:
            self.set(Path(name))

    def set(self, path: Path, *, quiet: bool = False) -> None:
        """Use ``path`` as the shoot's clean plate once it is read (on the worker); a file that
        cannot be read is refused with one line and nothing changes. ``quiet``: the shoot's own
        plate coming back (a failure is a status line, not a dialog)."""
        self._checking = path
        self._folder = str(Path(path).expanduser().absolute().parent)
        self._lane.submit(
            lambda ctx: _check(Path(path), ctx),
            name=f"read clean plate {Path(path).name}",
            on_done=lambda checked: self._checked(path, checked),
            on_error=lambda exc: self._refuse(path, exc, quiet),
        )

    def clear(self) -> None:
        """No clean plate for this shoot: its masks are the model's again."""
        self._checking = None
        if self.path is not None:
            self._state.export = dataclasses.replace(self._state.export, clean_plate=None)
            self.message.emit("Clean plate cleared: the shoot is masked again without it", 8000)

    def _checked(self, asked: Path, checked: Path) -> None:
        if self._checking != asked:
            return  # another plate was asked for (or cleared) since
        self._checking = None
        if checked == self.path:
            self.message.emit(f"Clean plate: {checked.name} is already the shoot's", 6000)
            return
        try:
            self._state.export = dataclasses.replace(self._state.export, clean_plate=checked)
        except CutoutError as exc:  # changed on disk since it was read
            self._refuse(asked, exc, False)
            return
        self.message.emit(f"Clean plate: {checked.name}: the shoot is masked again with it, this photo first", 8000)

    def _refuse(self, asked: Path, exc: BaseException, quiet: bool) -> None:
        if self._checking == asked:
            self._checking = None
        reason = str(exc) if isinstance(exc, CutoutError) else f"clean plate {Path(asked).name}: {exc}"
        if self._masks.plate.path == asked and self.path != asked:
            # the shoot's plate, given to the masks while it was read: masked without it after all
            # (its record keeps it: the drive it is on may only be unmounted)
            self._masks.set_plate(NO_PLATE)
        if quiet:
            self.message.emit(f"The shoot's {reason}: not used", 15000)
        else:
            self.refused.emit(reason)

    def _shoot_opened(self, plate: Path | None) -> None:
        """A shoot was opened: its own plate (or none) comes back."""
        if plate is None:
            self._checking = None
            if self.path is not None:
                self._state.export = dataclasses.replace(self._state.export, clean_plate=None)
        elif plate != self.path:
            try:  # the masks use it from the first photo on (read on the mask lane); checked meanwhile
                self._masks.set_plate(Plate(plate, plate_tag(plate)))
            except OSError:
                pass  # the check says why
            self.set(plate, quiet=True)

    def _follow(self, options: ExportOptions) -> None:
        """The plate in the export options (however it was set) is the one the masks and the
        shoot's record use."""
        path = options.clean_plate
        if path == self._masks.plate.path:
            self._shoot.set_plate(path)
            return
        plate = NO_PLATE
        if path is not None:
            try:
                plate = Plate(path, plate_tag(path))  # one stat: the plate's identity in the cache
            except OSError as exc:  # gone since the options read it
                self.refused.emit(f"clean plate {path.name}: cannot read it: {exc.strerror or exc}")
                return
        self._masks.set_plate(plate)
        self._shoot.set_plate(path)
        self._watch(path)

    def _watch(self, path: Path | None) -> None:
        if self._watcher.files():
            self._watcher.removePaths(self._watcher.files())
        if path is not None:
            self._watcher.addPath(str(path))

    def _file_changed(self) -> None:
        """The plate's file changed on disk (watched, then quiet for a moment): masked again
        with it, or without it when it is gone."""
        path = self.path
        if path is None:
            return
        try:
            tag = plate_tag(path)
        except OSError:
            self._state.export = dataclasses.replace(self._state.export, clean_plate=None)
            self.message.emit(f"The clean plate {path.name} was moved or deleted: the shoot is masked without it "
                              "(Shoot › Set clean plate… to use it again)", 20000)
            return
        self._watcher.addPath(str(path))  # saved by a rename: watched again under its name
        if tag != self._masks.plate.tag:
            # read again on a worker (the options read it only from that cache: never here)
            self._lane.submit(lambda ctx: _check(path, ctx), name=f"read clean plate {path.name}")
            self._masks.set_plate(Plate(path, tag))
            self.message.emit(f"The clean plate {path.name} changed: the shoot is masked again with it", 8000)
