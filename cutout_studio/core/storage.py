"""Object-store URLs for the batch (``s3://``, ``gs://``, ``file://``, ``memory://``…) through fsspec.

A local path keeps its own code path everywhere: this module is only reached through a
:class:`UrlPath`, which :func:`location` makes of a URL. A UrlPath travels where the batch's
paths travel (jobs, results, manifests) and answers the same questions (``name``, ``parent``,
``/``, ``relative_to``, ``exists()``…), so the planner, scanner and manifest work on it
unchanged; every read or write of its content goes through the functions below. Its
``__fspath__`` raises, so a spot that would hand it to the OS fails loudly instead of writing a
local file named ``s3:``.

What object stores give and what they do not, and how the batch lives with it:

- a single PUT of a whole object is atomic (readers see the old object or the new one), so
  each output is encoded into a local staging folder, then uploaded in one put
  (:func:`upload`); on ``file://`` (a local disk, where a copy is not atomic) the upload goes
  to a hidden temporary name and is renamed into place;
- there is no append: the manifest is written as one small object per line
  (:class:`ChunkLog`), written before the output's put, merged into one object when a run
  starts and ends;
- there are no locks: the folder lock is an advisory object (``folder_lock``);
- a rename is a copy and a delete (atomic per object, not per folder).

Credentials come from the filesystem package's usual places (for s3fs: the AWS environment
variables, ``~/.aws``, an instance role; for gcsfs: ``GOOGLE_APPLICATION_CREDENTIALS``,
gcloud's login, the metadata server). fsspec is an optional extra: ``pip install -e ".[cloud]"``
plus the protocol's package (``s3fs``, ``gcsfs``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, cast

from cutout_studio.core.errors import CutoutError
from cutout_studio.core.image_io import LoadedImage, is_image_path, load_image
from cutout_studio.core.journal import Warn

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

_URL = re.compile(r"^(?P<protocol>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$", re.DOTALL)
#: the package that brings each common protocol (fsspec's own message is not a pip command)
PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
            "abfss": "adlfs", "oci": "ocifs", "hf": "huggingface_hub", "sftp": "paramiko", "ssh": "paramiko"}
CLOUD_EXTRA = 'pip install -e ".[cloud]"'
_LOCAL_PROTOCOLS = ("file", "local")  #: URLs whose path part starts with '/' (file:///tmp/x)


class StorageError(CutoutError):
    """A URL that cannot be used here: fsspec or its protocol's package is not installed, or
    the protocol is unknown (the command line turns it into a usage error: exit status 2)."""


def is_url(item: object) -> bool:
    """True for ``proto://…`` text (a UrlPath too); False for local paths (``C:\\x``, ``./x``)."""
    if isinstance(item, UrlPath):
        return True
    return isinstance(item, str) and _URL.match(item) is not None and len(item.split("://", 1)[0]) > 1


def check_url(url: str) -> None:
    """Raise :class:`StorageError` (one line: what to install) unless ``url`` can be opened."""
    match = _URL.match(url)
    if match is None:
        raise StorageError(f"{url}: not a URL")
    protocol = match["protocol"].lower()
    try:
        import fsspec
    except ImportError:
        raise StorageError(f"{url}: URLs need fsspec, an optional extra: {CLOUD_EXTRA}") from None
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError:
        package = PACKAGES.get(protocol)
        hint = f"pip install {package}" if package else "install the fsspec filesystem package for it"
        raise StorageError(f"{url}: {protocol}:// needs {package or 'its filesystem package'}: {hint}") from None
    except ValueError:
        raise StorageError(f"{url}: unknown protocol {protocol}:// (fsspec knows no filesystem for it)") from None


class UrlPath(PurePosixPath):
    """A location in an fsspec filesystem, held as the pure path ``/<protocol>:/<bucket>/<key>``
    (so that its parts never equal a local path's) and shown as its URL."""

    @classmethod
    def from_url(cls, url: str) -> UrlPath:
        match = _URL.match(url)
        if match is None:
            raise ValueError(f"not a URL: {url}")
        rest = match["rest"].strip("/")
        return cls("/", f"{match['protocol'].lower()}:", *([rest] if rest else []))

    @property
    def protocol(self) -> str:
        return self.parts[1][:-1] if len(self.parts) > 1 else ""

    def __str__(self) -> str:
        if not self.is_absolute() or len(self.parts) < 2:  # a relative part of a URL (relative_to)
            return super().__str__()
        slash = "/" if self.protocol in _LOCAL_PROTOCOLS else ""
        return f"{self.protocol}://{slash}{'/'.join(self.parts[2:])}"

    def __repr__(self) -> str:
        return f"UrlPath({str(self)!r})"

    def __fspath__(self) -> str:
        raise TypeError(f"{self} is a URL, not a local path: read and write it through core.storage")

    def as_posix(self) -> str:
        return str(self)

    @property
    def is_top(self) -> bool:
        """The protocol's root (above the buckets): nothing of ours is looked for there."""
        return len(self.parts) <= 2

    # the read-only questions the planner and scanner ask of a Path
    def resolve(self, strict: bool = False) -> UrlPath:
        return self

    def expanduser(self) -> UrlPath:
        return self

    def exists(self) -> bool:
        return _query(self, "exists")

    def is_file(self) -> bool:
        return _query(self, "isfile")

    def is_dir(self) -> bool:
        return _query(self, "isdir")

    @property
    def fs(self) -> AbstractFileSystem:
        import fsspec

        return fsspec.filesystem(self.protocol)

    @property
    def key(self) -> str:
        """The path that the filesystem's methods take."""
        return cast(str, self.fs._strip_protocol(str(self)))


def _query(path: UrlPath, method: str) -> bool:
    if len(path.parts) < 3:
        return False
    try:
        return bool(getattr(path.fs, method)(path.key))
    except (OSError, ValueError):  # no such bucket, no access: not there for us
        return False


def location(item: str | os.PathLike[str]) -> Path:
    """``item`` as the batch's location: a :class:`UrlPath` for a URL, else a local Path.

    Typed as Path so that the one pipeline keeps its signatures; a UrlPath answers the Path
    questions the pipeline asks, and its content is read and written through this module."""
    if isinstance(item, UrlPath):
        return cast(Path, item)
    if isinstance(item, str) and is_url(item):
        return cast(Path, UrlPath.from_url(item))
    return Path(item)


def is_remote(path: object) -> bool:
    return isinstance(path, UrlPath)


def in_process_only(items: Sequence[str | os.PathLike[str]]) -> str | None:
    """The first URL that only this process can see (``memory://``): other processes, such as
    Ray's workers, would each see an empty store of their own."""
    return next((str(item) for item in items if is_url(item) and _url(location(item)).protocol == "memory"), None)


def _url(path: Path) -> UrlPath:
    assert isinstance(path, UrlPath), path
    return path


def _is_local_disk(fs: AbstractFileSystem) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


# --------------------------------------------------------------------------------------------
# scanning and reading


def walk(root: Path, skip_dir: Path | None) -> Iterator[Path]:
    """The photos under a remote folder, in the order ``os.walk`` gives a local one (each
    folder's files sorted, then its subfolders sorted), hidden files and folders left out."""
    top = _url(root)
    base = top.key.rstrip("/")
    found: list[tuple[tuple[tuple[int, str], ...], UrlPath]] = []
    for key in top.fs.find(base, withdirs=False, detail=False):
        relative = PurePosixPath(str(key)[len(base):].lstrip("/"))
        parts = relative.parts
        if not parts or any(part.startswith(".") for part in parts) or not is_image_path(parts[-1]):
            continue
        path = top.joinpath(*parts)
        if skip_dir is not None and is_remote(skip_dir) and _url(skip_dir) in path.parents:
            continue
        order = tuple((1, part) for part in parts[:-1]) + ((0, parts[-1]),)
        found.append((order, path))
    for _, path in sorted(found, key=lambda pair: pair[0]):
        yield cast(Path, path)


def identity(path: Path) -> tuple[str, int, int]:
    """(URL, size, modification time in ns) of an object; size -1 when it cannot be read.
    Stores name the time differently (mtime, LastModified, updated, created)."""
    url = _url(path)
    try:
        info: dict[str, Any] = url.fs.info(url.key)
    except (OSError, ValueError):
        return str(url), -1, -1
    return str(url), int(info.get("size") or 0), _time_ns(info)


def size_of(path: Path) -> int:
    """The size of a local file or an object; -1 when it is not there."""
    if not is_remote(path):
        try:
            return path.stat().st_size
        except OSError:
            return -1
    url = _url(path)
    try:
        return int(url.fs.info(url.key).get("size") or 0)
    except (OSError, ValueError):
        return -1


def _time_ns(info: dict[str, Any]) -> int:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created", "mtime_ns"):
        value = info.get(key)
        if value is None:
            continue
        if key == "mtime_ns":
            return int(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if isinstance(value, datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, (int, float)):
            return int(value * 1e9)
    etag = str(info.get("ETag") or info.get("etag") or info.get("md5Hash") or "")
    return int(hashlib.sha256(etag.encode()).hexdigest()[:15], 16) if etag else -1


def read_bytes(path: Path) -> bytes:
    url = _url(path)
    return cast(bytes, url.fs.cat_file(url.key))


def read_text(path: Path) -> str:
    """The object's text ('' when it is missing or unreadable: as for an absent local file)."""
    try:
        return read_bytes(path).decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return ""


def load_photo(path: Path) -> LoadedImage:
    """Decode a remote photo from one GET: the same pixels and the same one-line reasons (named
    after the object) as :func:`load_image` of a local copy."""
    stream = io.BytesIO(read_bytes(path))
    stream.name = path.name  # load_image names the photo in its messages by the stream's name
    return dataclasses.replace(load_image(stream), path=None)


def write_bytes(path: Path, data: bytes) -> None:
    """One PUT of a whole object (atomic on object stores)."""
    url = _url(path)
    if _is_local_disk(url.fs):
        url.fs.makedirs(url.fs._parent(url.key), exist_ok=True)
    url.fs.pipe_file(url.key, data)


def delete(paths: list[Path]) -> None:
    """Remove objects; those already gone are no error."""
    if not paths:
        return
    fs = _url(paths[0]).fs
    with contextlib.suppress(FileNotFoundError):
        fs.rm([_url(p).key for p in paths])


def remove_empty_folder(folder: Path) -> None:
    """Object stores have no empty folders; a disk (``file://``) does: remove one of ours."""
    url = _url(folder)
    if _is_local_disk(url.fs):
        with contextlib.suppress(OSError):
            url.fs.rmdir(url.key)


def listing(folder: Path) -> list[Path]:
    """The objects directly in a remote folder (none when it does not exist)."""
    url = _url(folder)
    try:
        keys = url.fs.ls(url.key, detail=False)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [cast(Path, url / PurePosixPath(str(key)).name) for key in sorted(keys)]


# --------------------------------------------------------------------------------------------
# writing outputs: stage locally, then one put


def local_stage(root: Path) -> Path:
    """This machine's staging folder for a remote output folder: outputs are encoded here and
    uploaded. One per output folder, so that the run holding its lock can clear what dead runs
    left (only this folder of ours is ever removed)."""
    digest = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "cutout-studio-stage" / digest


def upload(local: Path, target: Path, *, overwrite: bool) -> None:
    """Put a complete local file at ``target`` in one piece. Without ``overwrite`` an existing
    object is kept (FileExistsError); object stores have no create-if-absent, so two writers
    racing for one name are excluded by the folder lock, not here."""
    url = _url(target)
    fs = url.fs
    if not overwrite and fs.exists(url.key):
        raise FileExistsError(17, "already exists", str(url))
    if _is_local_disk(fs):  # a copy on a disk is not atomic: write a hidden name, then rename
        fs.makedirs(fs._parent(url.key), exist_ok=True)
        temp = f"{fs._parent(url.key)}/.{url.name}.{secrets.token_hex(4)}.part"
        try:
            fs.put_file(os.fspath(local), temp)
            fs.mv(temp, url.key)
        finally:
            with contextlib.suppress(OSError):
                if fs.exists(temp):
                    fs.rm_file(temp)
        return
    fs.put_file(os.fspath(local), url.key)


def move(staged: Path, target: Path, *, overwrite: bool) -> None:
    """Move a complete object into place (the Ray engine's driver publishing a worker's
    output): a rename on ``file://``, a server-side copy then a delete on object stores."""
    url, to = _url(staged), _url(target)
    if not overwrite and to.fs.exists(to.key):
        raise FileExistsError(17, "already exists", str(to))
    if _is_local_disk(to.fs):
        to.fs.makedirs(to.fs._parent(to.key), exist_ok=True)
    to.fs.mv(url.key, to.key)


def remove_tree(folder: Path) -> None:
    url = _url(folder)
    with contextlib.suppress(FileNotFoundError, OSError):
        if url.fs.exists(url.key):
            url.fs.rm(url.key, recursive=True)


def remove_stale_parts(folder: Path, names: set[str]) -> int:
    """:func:`atomic.remove_stale_temp_files` for a remote folder: the hidden ``.part`` names
    that :func:`upload` uses on ``file://`` (and nothing else) for the given targets."""
    from cutout_studio.core.atomic import is_temp_name_of

    if not _is_local_disk(_url(folder).fs):  # an object store's put leaves nothing half-made
        return 0
    stale = [path for path in listing(folder) if is_temp_name_of(path.name, names)]
    delete(stale)
    return len(stale)


# --------------------------------------------------------------------------------------------
# the manifest's lines as objects


class ChunkLog:
    """Lines "appended" to a remote folder as one small object each (``<run>-<seq>.jsonl``):
    object stores cannot append, and rewriting one growing object per line would cost the
    whole manifest each time. Each line's object is written at once (before the output it
    records is put: :meth:`manifest.Manifest.state`), so a killed run loses no line; the
    manifest merges the objects into one when a run starts and ends. Same interface as
    :class:`journal.AppendLog`."""

    def __init__(self, folder: Path, *, what: str, warn: Warn | None = None) -> None:
        self.folder = folder
        self.what = what
        self._warn = warn
        self._run = f"{time.time_ns():020d}-{secrets.token_hex(4)}"  # sorts the runs' lines in order
        self._seq = 0
        self._lock = threading.Lock()
        self.written: list[Path] = []
        self.failed = False

    def write(self, text: str) -> bool:
        with self._lock:  # the number under the lock, the PUT outside it: threads write at once
            if self.failed:
                return False
            self._seq += 1
            path = self.folder / f"{self._run}-{self._seq:08d}.jsonl"
        try:
            write_bytes(path, text.encode("utf-8"))
        except (OSError, ValueError) as exc:
            with self._lock:
                already, self.failed = self.failed, True
            if not already and self._warn is not None:
                self._warn(f"warning: cannot write the {self.what} {self.folder}: {exc}; the run goes on without it")
            return False
        with self._lock:
            self.written.append(path)
        return True

    def close(self) -> None:
        pass
