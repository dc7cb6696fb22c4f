"""Opening photos: the file and folder dialogs, the recent files menu, drops, and new documents.

:class:`FileOpener` asks where (starting in the last folder opened) and emits ``requested``
with the paths chosen; the window opens them with :meth:`FileOpener.new_documents`, which
scans folders with the one scanner, skips photos already open, marks missing files as failed
(with the reason) and remembers the paths in the recent files and the last folder.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from PySide6.QtCore import QMimeData, QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from cutout_studio.core.image_io import IMAGE_SUFFIXES
from cutout_studio.core.settings import Settings
from cutout_studio.core.shoots import ShootStore
from cutout_studio.qt.document import DocStatus, Document, scan_paths

PathItem = str | os.PathLike[str]


def dropped_paths(mime: QMimeData) -> list[Path]:
    """The local files and folders of a drop (URLs of other kinds are ignored)."""
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


class FileOpener(QObject):
    #: paths the user chose (files or folders) to open
    requested = Signal(list)

    def __init__(self, settings: Settings, parent: QWidget) -> None:
        super().__init__(parent)
        self.settings = settings
        self._parent = parent
        self.recent_menu: QMenu | None = None

    def new_documents(self, items: Sequence[PathItem], open_docs: Iterable[Document],
                      plates: Collection[Path] = ()) -> list[Document]:
        """Documents for the photos in ``items`` that are not open yet (in scan order); ``plates``
        (the shoots' clean plates) are not photos."""
        known = {doc.path.resolve() for doc in open_docs}
        added: list[Document] = []
        for root, path in scan_paths(items, plates):
            if path.resolve() in known:
                continue
            known.add(path.resolve())
            doc = Document(path, root=root)
            if not path.is_file():
                doc.status = DocStatus.FAILED
                doc.message = (
                    f"{path.name}: file not found" if not path.exists() else f"{path.name}: not a file"
                )
            added.append(doc)
        for item in items:
            self.settings.add_recent(Path(item).expanduser().absolute())
        if items:
            # Absolute: the next launch may start in another working directory.
            first = Path(items[0]).expanduser().resolve()
            self.settings.last_open_dir = str(first if first.is_dir() else first.parent)
        return added

    def choose_files(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
        names, _ = QFileDialog.getOpenFileNames(
            self._parent, "Open photos", self.settings.last_open_dir, f"Photos ({patterns});;All files (*)"
        )
        if names:
            self.requested.emit(names)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self._parent, "Open a folder of photos", self.settings.last_open_dir
        )
        if folder:
            self.requested.emit([folder])

    def attach_recent_shoots(self, menu: QMenu, store: ShootStore) -> None:
        """Fill ``menu`` with the shoots last opened (their folders) each time it opens."""

        def fill() -> None:
            menu.clear()
            shoots = store.recent()
            for shoot in shoots:
                action = menu.addAction(str(shoot.folder))
                action.triggered.connect(lambda _checked=False, p=str(shoot.folder): self.requested.emit([p]))
            if not shoots:
                menu.addAction("(none)").setEnabled(False)

        menu.aboutToShow.connect(fill)

    def attach_recent(self, menu: QMenu) -> None:
        """Fill ``menu`` with the recent files each time it opens."""
        self.recent_menu = menu
        menu.aboutToShow.connect(self._fill_recent)

    def _fill_recent(self) -> None:
        menu = self.recent_menu
        assert menu is not None
        menu.clear()
        for entry in self.settings.recent_files:
            action = menu.addAction(entry)
            action.triggered.connect(lambda _checked=False, p=entry: self.requested.emit([p]))
        if not self.settings.recent_files:
            menu.addAction("(none)").setEnabled(False)
