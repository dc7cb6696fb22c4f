"""Append-only text files that a batch must never die of: the report and the manifest.

A row is written and flushed as soon as its photo is in place, from whichever thread finished
it. A write that fails (a full disk, a folder made read-only, a report that is a symlink to
``/dev/full``) is reported once, as one line through ``warn``, and the file is given up for the
rest of the run: the photos are what matter, and they go on being written while they fit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

_log = logging.getLogger(__name__)

Warn = Callable[[str], None]


class AppendLog:
    """Lines appended to ``path`` (opened on the first write), each flushed at once; thread-safe."""

    def __init__(self, path: Path, *, what: str, warn: Warn | None = None, truncate: bool = False) -> None:
        self.path = path
        self.what = what  #: "report", "manifest": names the file in the warning
        self._warn = warn or (lambda message: _log.warning("%s", message))
        self._mode = "w" if truncate else "a"
        self._fh: IO[str] | None = None
        self._lock = threading.Lock()
        self.failed = False  #: a write failed; nothing more is written

    def write(self, text: str) -> bool:
        """Append ``text`` (one or more whole lines) and flush; False once the file is given up."""
        with self._lock:
            if self.failed:
                return False
            try:
                fh = self._fh
                if fh is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    fh = self._fh = self.path.open(self._mode, encoding="utf-8", newline="")
                fh.write(text)
                fh.flush()
            except OSError as exc:
                self.failed = True
                self._close_quietly()
                self._warn(f"warning: cannot write the {self.what} {self.path}: {exc.strerror or exc}; "
                           f"the run goes on without it")
                return False
            return True

    def close(self) -> None:
        with self._lock:
            self._close_quietly()

    def _close_quietly(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()
            except OSError:
                pass  # the flush at close failed: the write that failed already said so
