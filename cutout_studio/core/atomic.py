"""The one atomic file write: exports, the settings file and installed model weights use it.

The content goes into a hidden temporary file beside the target (same disk, so the rename is
atomic), is flushed to disk, then moved over the target, and the folder is synced so that
the rename itself survives a power cut. A failure at any point leaves the old file (or no
file) and never a half-written one; the temporary file never outlives a failure, and
:func:`remove_stale_temp_files` clears those a killed process left.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "describe_os_error",
    "is_temp_name_of",
    "move_into_place",
    "remove_older_than",
    "remove_stale_temp_files",
]

_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.[0-9a-f]{8}\.part")


def atomic_write(target: Path, write: Callable[[BinaryIO], object], *, overwrite: bool = True) -> None:
    """Write ``target`` with ``write(stream)``, atomically.

    With ``overwrite`` off an existing ``target`` is never replaced: FileExistsError, even
    when another process creates it while we write. Other failures raise what ``write`` or
    the file system raised (OSError, the encoder's own errors).
    """
    temp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp, fd = _create_temp(target)
        with os.fdopen(fd, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        _move_into_place(temp, target, overwrite)
        temp = None
        _fsync_folder(target.parent)
    finally:
        if temp is not None:
            with suppress(OSError):
                temp.unlink()


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """:func:`atomic_write` of ``data``, replacing ``target``."""
    atomic_write(target, lambda stream: stream.write(data))


def move_into_place(written: Path, target: Path, *, overwrite: bool = True) -> None:
    """Move a complete file (written and flushed by :func:`atomic_write` elsewhere on the same
    disk) over ``target``, durably: the Ray engine's workers write outputs to a staging folder
    and its driver moves each into place just before writing its manifest line."""
    _move_into_place(written, target, overwrite)
    _fsync_folder(target.parent)


def describe_os_error(exc: OSError) -> str:
    """A short reason a user can act on ("the disk is full") for a failed write."""
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EACCES: "permission denied (is the folder read-only?)",
        errno.EPERM: "permission denied (is the folder read-only?)",
        errno.EROFS: "the disk is read-only",
        errno.EDQUOT: "disk quota exceeded",
        errno.ENAMETOOLONG: "the file name is too long",
    }
    return reasons.get(exc.errno or 0, exc.strerror or str(exc) or type(exc).__name__)


def _create_temp(target: Path) -> tuple[Path, int]:
    # os.open with mode 0o666 lets the umask decide the final permissions, as for any new file
    # (mkstemp would leave the file readable by its owner only).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        try:
            return temp, os.open(temp, flags, 0o666)
        except FileExistsError:
            continue


def _move_into_place(temp: Path, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, target)
        return
    # A hard link fails if the name was taken meanwhile (another batch worker, say), where
    # os.replace would silently replace it.
    try:
        os.link(temp, target)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if target.exists():
            raise FileExistsError(errno.EEXIST, "already exists", str(target)) from None
        os.replace(temp, target)
        return
    with suppress(OSError):
        temp.unlink()  # the file is in place under its name; a stray link is only untidy


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; Windows has no directory handles for this)."""
    if os.name != "posix":
        return
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temp_files(folder: Path, names: set[str]) -> int:
    """Delete the temporary files that a write of ``folder/<name>`` (for each name) left when
    its process was killed mid-write; returns how many. Only this module's own temporary names
    (``.<name>.<8 hex digits>.part``) for the given targets are touched."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if is_temp_name_of(entry.name, names) and entry.is_file(follow_symlinks=False):
            with suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed


def is_temp_name_of(name: str, targets: set[str]) -> bool:
    """True for this module's temporary name (``.<target>.<8 hex digits>.part``) of one of
    ``targets`` (the object-store upload on ``file://`` uses the same names)."""
    match = _TEMP_NAME.fullmatch(name)
    return match is not None and match["target"] in targets


def remove_older_than(folder: Path, keep_days: float) -> int:
    """Remove the files of ``folder`` not modified for ``keep_days``; returns how many (stores
    prune themselves with it, so they do not grow for ever)."""
    limit = time.time() - keep_days * 86400
    removed = 0
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_file() and entry.stat().st_mtime < limit:
                entry.unlink()
                removed += 1
        except OSError:
            continue
    return removed
