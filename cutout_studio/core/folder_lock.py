"""One run at a time per output folder.

A run takes ``.cutout-lock`` in each output folder before it plans, cleans or writes anything
there; a second run on the same folder (another process, or another batch in the same editor)
refuses at once with one line naming the holder — it does not wait, because a batch can run
for hours and a command that hangs silently looks broken. The lock is an OS file lock
(``flock``; ``msvcrt.locking`` on Windows) on that file, which the kernel releases when the
holder dies, even by SIGKILL: a dead run never blocks the next one. The file also holds the
holder's PID, host and start time, for the message.

Because every run that writes into a folder holds its lock, the hidden ``.part`` files found
there by the run that has just taken the lock belong to runs that are dead, and only then
are they removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from cutout_studio.core.errors import CutoutError

LOCK_NAME = ".cutout-lock"

# flock is per open file, so two batches of one process (the editor's) also exclude each other;
# this set makes the message say so instead of naming our own PID as "another run".
_held_here: set[Path] = set()
_held_lock = threading.Lock()


class FolderLockedError(CutoutError):
    """Another run is writing into the output folder."""


@contextlib.contextmanager
def lock_folders(folders: Sequence[Path]) -> Iterator[None]:
    """Hold the lock of every folder (created if missing) for the duration; all or none."""
    held: list[tuple[Path, int]] = []
    try:
        for folder in sorted({Path(f).resolve() for f in folders}):
            held.append((folder, _acquire(folder)))
        yield
    finally:
        for folder, fd in reversed(held):
            _release(folder, fd)


def check_free(folders: Sequence[Path]) -> None:
    """Raise :class:`FolderLockedError` now if another run holds one of ``folders``; creates and
    changes nothing. For fronts that can refuse before they spend seconds loading a model: the
    run still takes the real lock with :func:`lock_folders` (a run may start in between)."""
    for folder in sorted({Path(f).expanduser().resolve() for f in folders}):
        with _held_lock:
            if folder in _held_here:
                raise FolderLockedError(f"{folder}: another batch or export of this window is writing there; "
                                        "wait for it to finish or choose another folder")
        try:
            fd = os.open(folder / LOCK_NAME, os.O_RDWR)
        except OSError:
            continue  # no lock file (or no folder): nobody holds it
        try:
            if not _try_lock(fd):
                raise FolderLockedError(f"{folder}: in use by another cutout-studio run ({_describe_holder(fd)}); "
                                        "wait for it to finish or choose another output folder")
            _unlock(fd)
        finally:
            os.close(fd)


def _acquire(folder: Path) -> int:
    with _held_lock:
        if folder in _held_here:
            raise FolderLockedError(f"{folder}: another batch or export of this window is writing there; "
                                    "wait for it to finish or choose another folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return -1  # cannot even create the folder: every photo will fail with its own reason
    path = folder / LOCK_NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            return -1  # a read-only folder: nothing can be written there anyway, nothing to guard
        if not _try_lock(fd):
            holder = _describe_holder(fd)
            os.close(fd)
            raise FolderLockedError(f"{folder}: in use by another cutout-studio run ({holder}); "
                                    "wait for it to finish or choose another output folder")
        # the previous holder may have removed the file between our open and our lock: then we
        # locked a file nobody else will look at, and must try again with the current one
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except OSError:
            same = False
        if same:
            break
        os.close(fd)
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                         "started": time.strftime("%Y-%m-%d %H:%M:%S")})
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, record.encode("utf-8"))
    with _held_lock:
        _held_here.add(folder)
    return fd


def _release(folder: Path, fd: int) -> None:
    if fd < 0:
        return
    with _held_lock:
        _held_here.discard(folder)
    # remove the file while still holding the lock; a run that opened it meanwhile notices
    # (samestat above) and takes the new one
    with contextlib.suppress(OSError):
        os.unlink(folder / LOCK_NAME)
    os.close(fd)  # closing releases the OS lock


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # (not os.name: mypy narrows platform-specific modules on sys.platform)
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _describe_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = json.loads(os.read(fd, 4096))
        text = f"PID {int(data['pid'])}"
        if data.get("host") and data["host"] != socket.gethostname():
            text += f" on {data['host']}"
        if data.get("started"):
            text += f", started {data['started']}"
        return text
    except (OSError, ValueError, KeyError, TypeError):
        return "PID unknown"
