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

An object store (a URL output folder, :mod:`storage`) has no locks: there the lock is an
advisory object ``.cutout-lock`` with the holder's host, PID, start time and a heartbeat that
the holder rewrites every minute. A run refuses while it is there, unless its holder is dead:
a PID that no longer runs on this host, or a heartbeat older than :data:`ABANDONED_AFTER`
(a run killed on another machine: the message says how to remove it sooner). Two runs that
start within the same second can both pass the check; each reads the object back after
writing it and the one whose write was overwritten refuses.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from cutout_studio.core import storage
from cutout_studio.core.errors import CutoutError

LOCK_NAME = ".cutout-lock"
#: object stores: how often the holder rewrites its lock object, and when a silent one is dead
HEARTBEAT = 60.0
ABANDONED_AFTER = 600.0

# flock is per open file, so two batches of one process (the editor's) also exclude each other;
# this set makes the message say so instead of naming our own PID as "another run".
_held_here: set[Path] = set()
_held_lock = threading.Lock()


class FolderLockedError(CutoutError):
    """Another run is writing into the output folder."""


@contextlib.contextmanager
def lock_folders(folders: Sequence[Path]) -> Iterator[None]:
    """Hold the lock of every folder (created if missing) for the duration; all or none."""
    held: list[Callable[[], None]] = []
    try:
        for folder in sorted({storage.location(f).resolve() for f in folders}):
            if storage.is_remote(folder):
                held.append(_acquire_object(folder))
            else:
                fd = _acquire(folder)
                held.append(lambda folder=folder, fd=fd: _release(folder, fd))  # type: ignore[misc]
        yield
    finally:
        for release in reversed(held):
            release()


def check_free(folders: Sequence[Path]) -> None:
    """Raise :class:`FolderLockedError` now if another run holds one of ``folders``; creates and
    changes nothing. For fronts that can refuse before they spend seconds loading a model: the
    run still takes the real lock with :func:`lock_folders` (a run may start in between)."""
    for folder in sorted({storage.location(f).expanduser().resolve() for f in folders}):
        _refuse_if_held_here(folder)
        if storage.is_remote(folder):
            _refuse_if_held_object(folder)
            continue
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


def _refuse_if_held_here(folder: Path) -> None:
    with _held_lock:
        if folder in _held_here:
            raise FolderLockedError(f"{folder}: another batch or export of this window is writing there; "
                                    "wait for it to finish or choose another folder")


def _acquire(folder: Path) -> int:
    _refuse_if_held_here(folder)
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
    record = json.dumps(_holder_record())
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


def _holder_record() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}


def _describe_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return _describe(json.loads(os.read(fd, 4096)))
    except (OSError, ValueError):
        return "PID unknown"


def _describe(data: Any) -> str:
    try:
        text = f"PID {int(data['pid'])}"
        if data.get("host") and data["host"] != socket.gethostname():
            text += f" on {data['host']}"
        if data.get("started"):
            text += f", started {data['started']}"
        return text
    except (OSError, ValueError, KeyError, TypeError):
        return "PID unknown"


# --------------------------------------------------------------------------------------------
# object stores: an advisory lock object


def _acquire_object(folder: Path) -> Callable[[], None]:
    """Take a remote folder's lock object; returns what releases it."""
    _refuse_if_held_here(folder)
    _refuse_if_held_object(folder)
    lock = folder / LOCK_NAME
    token = secrets.token_hex(8)
    record = {**_holder_record(), "token": token, "heartbeat": time.time()}
    try:
        storage.write_bytes(lock, json.dumps(record).encode("utf-8"))
    except (OSError, ValueError):
        return lambda: None  # cannot write there: every photo will fail with its own reason
    if _read_object(lock).get("token") != token:  # another run wrote its lock after ours
        raise FolderLockedError(f"{folder}: in use by another cutout-studio run ({_describe(_read_object(lock))}); "
                                "wait for it to finish or choose another output folder")
    with _held_lock:
        _held_here.add(folder)
    stop = threading.Event()

    def beat() -> None:  # a run on another machine tells a live holder from a dead one by this
        while not stop.wait(HEARTBEAT):
            with contextlib.suppress(OSError, ValueError):
                storage.write_bytes(lock, json.dumps({**record, "heartbeat": time.time()}).encode("utf-8"))

    thread = threading.Thread(target=beat, name="cutout-lock-heartbeat", daemon=True)
    thread.start()

    def release() -> None:
        stop.set()
        thread.join()
        with _held_lock:
            _held_here.discard(folder)
        if _read_object(lock).get("token") == token:  # never remove a lock that is not ours
            with contextlib.suppress(OSError, ValueError):
                storage.delete([lock])

    return release


def _refuse_if_held_object(folder: Path) -> None:
    lock = folder / LOCK_NAME
    holder = _read_object(lock)
    if holder and not _abandoned(holder):
        raise FolderLockedError(f"{folder}: in use by another cutout-studio run ({_describe(holder)}); wait for it "
                                f"to finish or choose another output folder (if that run is dead, delete {lock})")


def _read_object(lock: Path) -> dict[str, Any]:
    """The lock object's record ({} when there is none)."""
    text = storage.read_text(lock)
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {"pid": "unknown"}  # not ours to judge: treated as held
    return data if isinstance(data, dict) else {"pid": "unknown"}


def _abandoned(holder: dict[str, Any]) -> bool:
    """Its run is dead: its PID is gone on this host, or it stopped beating long ago."""
    if holder.get("host") == socket.gethostname() and os.name == "posix":  # (signal 0 is Ctrl-C on Windows)
        try:
            os.kill(int(holder["pid"]), 0)
        except ProcessLookupError:
            return True
        except (OSError, ValueError, KeyError, TypeError):
            pass  # alive (another user's), or a PID we cannot read
    try:
        return time.time() - float(holder["heartbeat"]) > ABANDONED_AFTER
    except (KeyError, TypeError, ValueError):
        return False
