"""The one batch path: files and folders in, cutouts out, used by the CLI and the GUI alike.

Decoding, inference and encoding overlap: a small thread pool decodes the next photos while
the others are cut. On a GPU the model runs batched on the calling thread and a pool snaps
masks to full resolution and encodes; on the CPU every stage is CPU-bound, so each photo is
cut whole (model, snapping, export) by one of several single-threaded workers, which keeps
every core busy whatever the mix of stages. Outputs are written atomically, so a file that
exists is complete: a killed batch resumes by skipping the outputs already there (and
removing the temporary files the kill left). A bad file never stops the batch; it is
reported with its reason, in the events and in ``cutout-report.csv``.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cutout_studio.core.errors import CutoutError
from cutout_studio.core.export import ExportOptions, export_cutout, output_suffix, remove_stale_temp_files
from cutout_studio.core.image_io import LoadedImage, is_image_path, load_image

if TYPE_CHECKING:
    from cutout_studio.core.segmenter import Segmenter

_log = logging.getLogger(__name__)

REPORT_NAME = "cutout-report.csv"
Status = Literal["done", "skipped", "failed"]
CancelFlag = threading.Event | Callable[[], bool] | None


@dataclass(frozen=True)
class BatchJob:
    source: Path
    output: Path


@dataclass(frozen=True)
class FileResult:
    source: Path
    output: Path | None
    status: Status
    seconds: float
    message: str = ""


@dataclass(frozen=True)
class BatchProgress:
    """One finished file: ``done`` of ``total`` files are finished, this one included."""

    done: int
    total: int
    result: FileResult


@dataclass
class BatchSummary:
    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    cancelled: bool = False
    report: Path | None = None

    def add(self, result: FileResult) -> None:
        setattr(self, result.status, getattr(self, result.status) + 1)


# --------------------------------------------------------------------------------------------
# planning


def collect_jobs(inputs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
                 options: ExportOptions, *, name_suffix: str = "") -> list[BatchJob]:
    """Pair every input photo with its output path, mirroring folder structure under ``out_dir``.

    A single input folder's tree is mirrored directly under ``out_dir``; with several input
    folders each gets a subfolder of its own name. Loose files go straight into ``out_dir``.

    Files named explicitly are always included (a non-image then fails with its reason);
    folders are scanned recursively for image files, skipping hidden ones and ``out_dir``
    itself when it lies inside an input folder.
    """
    out_root = Path(out_dir).expanduser().resolve()
    suffix = ".png" if options.output == "mask" else output_suffix(options)
    jobs: list[BatchJob] = []
    taken: set[Path] = set()
    paths = [Path(item).expanduser() for item in inputs]
    # one folder maps onto the output folder itself; several each get a subfolder of their name
    several_folders = sum(p.is_dir() for p in paths) > 1
    for path in paths:
        if path.is_dir():
            root = path.resolve()
            base = out_root / root.name if several_folders else out_root
            for src in sorted(_scan_folder(root, out_root)):
                jobs.append(_job(src, base / src.relative_to(root), suffix, taken, name_suffix))
        else:
            jobs.append(_job(path, out_root / path.name, suffix, taken, name_suffix))
    return jobs


def _scan_folder(root: Path, out_root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and (here / d).resolve() != out_root]
        for name in filenames:
            if not name.startswith(".") and is_image_path(here / name):
                yield here / name


def _job(src: Path, out_like: Path, suffix: str, taken: set[Path], name_suffix: str) -> BatchJob:
    out = out_like.with_name(f"{out_like.stem}{name_suffix}{suffix}")
    if out in taken:  # photo.jpg and photo.png in one folder: keep both, named by their source type
        kind = out_like.suffix.lstrip(".").lower()
        out = out_like.with_name(f"{out_like.stem}_{kind}{name_suffix}{suffix}")
    taken.add(out)
    return BatchJob(src, out)


# --------------------------------------------------------------------------------------------
# running


def run_batch(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    options: ExportOptions,
    *,
    segmenter: Segmenter,
    cancel: CancelFlag = None,
    batch_size: int | None = None,
    workers: int | None = None,
    name_suffix: str = "",
    write_report: bool = True,
) -> Iterator[BatchProgress]:
    """Cut out every photo; yields one :class:`BatchProgress` per finished file.

    The generator's return value (``StopIteration.value``, or use :func:`run_batch_to_end`)
    is a :class:`BatchSummary`. ``cancel`` stops the batch between files: photos already
    being encoded are finished, nothing is half-written, and the report lists what was done.
    """
    jobs = collect_jobs(inputs, out_dir, options, name_suffix=name_suffix)
    _remove_stale_temp_files(jobs)
    out_root = Path(out_dir).expanduser().resolve()
    is_cancelled = _cancel_checker(cancel)
    summary = BatchSummary(total=len(jobs), report=out_root / REPORT_NAME if write_report else None)
    on_cpu = segmenter.device.type == "cpu"
    if batch_size is None:
        batch_size = 8 if segmenter.device.type == "cuda" else 1
    if workers is None:
        # CPU: one single-threaded worker per core, at most 4 (each holds a photo in memory)
        workers = min(4, os.cpu_count() or 2) if on_cpu else 2
    workers = max(1, workers)

    with _Report(summary.report) as report, _inference_threads(segmenter, workers), \
            ThreadPoolExecutor(workers, thread_name_prefix="batch-decode") as decoders, \
            ThreadPoolExecutor(workers, thread_name_prefix="batch-cut") as cutters:
        if not report.writable:
            summary.report = None
        pending = deque()  # (job, started, future of LoadedImage) in input order
        encoding: deque[Future[FileResult]] = deque()
        todo = deque(jobs)
        max_ahead = max(2 * batch_size, workers + 1)  # bounds memory: a few photos in flight

        def finish(result: FileResult) -> BatchProgress:
            summary.add(result)
            report.write(result)
            return BatchProgress(summary.done + summary.skipped + summary.failed, summary.total, result)

        while todo or pending or encoding:
            if is_cancelled():
                summary.cancelled = True
                todo.clear()
                for _, _, fut in pending:
                    fut.cancel()
                pending.clear()
                # photos queued for a worker but not started are dropped; running ones finish
                for fut in encoding:
                    fut.cancel()
                encoding = deque(fut for fut in encoding if not fut.cancelled())
            while todo and len(pending) < max_ahead:
                job = todo.popleft()
                if job.output.exists() and not options.overwrite:
                    yield finish(FileResult(job.source, job.output, "skipped", 0.0, "output exists (already done)"))
                    continue
                pending.append((job, time.perf_counter(), decoders.submit(load_image, job.source)))

            batch: list[tuple[BatchJob, float, LoadedImage]] = []
            while pending and len(batch) < batch_size and (not batch or pending[0][2].done()):
                job, started, fut = pending.popleft()
                try:
                    batch.append((job, started, fut.result()))
                except CutoutError as exc:
                    yield finish(FileResult(job.source, None, "failed", time.perf_counter() - started, str(exc)))
            if batch and on_cpu:
                for job, started, image in batch:
                    encoding.append(cutters.submit(_cut, job, started, image, options, segmenter))
            elif batch:
                try:
                    masks = segmenter.predict_lowres([image.rgb for _, _, image in batch])
                except (CutoutError, RuntimeError, ValueError) as exc:
                    for job, started, _ in batch:
                        yield finish(_model_failed(job, started, exc))
                    masks = []
                for (job, started, image), mask in zip(batch, masks):
                    encoding.append(cutters.submit(_encode, job, started, image, mask, options, segmenter))
            batch.clear()  # the workers hold the only references to the pixels now
            # hand back finished encodes in order; block only when too many are in flight (memory)
            # or when there is nothing left to decode or infer meanwhile
            while encoding and (encoding[0].done() or len(encoding) > workers or not pending):
                yield finish(encoding.popleft().result())
        if summary.cancelled:
            report.note_cancelled(summary)
    return summary


def run_batch_to_end(*args, on_progress: Callable[[BatchProgress], None] | None = None,
                     **kwargs) -> BatchSummary:
    """Run :func:`run_batch` to completion and return its summary."""
    gen = run_batch(*args, **kwargs)
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(event)


def _remove_stale_temp_files(jobs: Sequence[BatchJob]) -> None:
    """A batch killed mid-write leaves hidden ``.part`` files beside the outputs it was writing;
    the run that resumes it clears them, so that what is left is only complete outputs."""
    by_folder: dict[Path, set[str]] = {}
    for job in jobs:
        by_folder.setdefault(job.output.parent, set()).add(job.output.name)
    for folder, names in by_folder.items():
        remove_stale_temp_files(folder, names)


def _model_failed(job: BatchJob, started: float, exc: Exception) -> FileResult:
    return FileResult(job.source, None, "failed", time.perf_counter() - started,
                      f"{job.source.name}: model failed ({exc})")


def _internal_error(job: BatchJob, started: float, exc: Exception) -> FileResult:
    _log.error("batch: %s failed", job.source, exc_info=exc)
    return FileResult(job.source, None, "failed", time.perf_counter() - started,
                      f"{job.source.name}: internal error ({type(exc).__name__}: {exc}); see the log")


def _cut(job: BatchJob, started: float, image: LoadedImage, options: ExportOptions,
         segmenter: Segmenter) -> FileResult:
    """One photo from model to file, on a worker thread (the CPU path)."""
    try:
        mask = segmenter.predict_lowres([image.rgb])[0]
    except (CutoutError, RuntimeError, ValueError) as exc:
        return _model_failed(job, started, exc)
    except Exception as exc:  # noqa: BLE001 - as in _encode
        return _internal_error(job, started, exc)
    return _encode(job, started, image, mask, options, segmenter)


def _encode(job: BatchJob, started: float, image: LoadedImage, mask_lowres, options: ExportOptions,
            segmenter: Segmenter) -> FileResult:
    try:
        alpha = segmenter.upsample(mask_lowres, image.rgb)
        out = export_cutout(image, alpha, job.output, options)
    except CutoutError as exc:
        return FileResult(job.source, None, "failed", time.perf_counter() - started, str(exc))
    except MemoryError:
        return FileResult(job.source, None, "failed", time.perf_counter() - started,
                          f"{job.source.name}: not enough memory")
    except Exception as exc:  # noqa: BLE001 - one photo's bug must not end the whole batch
        return _internal_error(job, started, exc)
    message = "; ".join(image.notes)
    return FileResult(job.source, out, "done", time.perf_counter() - started, message)


@contextlib.contextmanager
def _inference_threads(segmenter: Segmenter, workers: int) -> Iterator[None]:
    """On the CPU, share the cores between the workers instead of within each model pass.

    U²-Netp's convolutions are small: one single-threaded pass per core gets more photos per
    minute than passes spread over every core, which also leave cores idle while a photo is
    being snapped and encoded.
    """
    if segmenter.device.type != "cpu":
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // workers))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _cancel_checker(cancel: CancelFlag) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


class _Report:
    """``cutout-report.csv``: one row per file, flushed as it happens so a killed batch keeps it."""

    FIELDS = ("file", "status", "seconds", "message", "output")

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fh = None
        self._writer = None

    def __enter__(self) -> _Report:
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = self.path.open("w", newline="", encoding="utf-8")
            except OSError:
                self._fh = None  # a read-only output folder: each file then fails with its own reason
            else:
                self._writer = csv.writer(self._fh)
                self._writer.writerow(self.FIELDS)
        return self

    @property
    def writable(self) -> bool:
        return self._writer is not None

    def write(self, result: FileResult) -> None:
        if self._writer is None:
            return
        self._writer.writerow([str(result.source), result.status, f"{result.seconds:.3f}", result.message,
                               str(result.output or "")])
        self._fh.flush()

    def note_cancelled(self, summary: BatchSummary) -> None:
        if self._writer is not None:
            left = summary.total - summary.done - summary.skipped - summary.failed
            self._writer.writerow(["", "cancelled", "", f"batch cancelled; {left} file(s) not processed", ""])

    def __exit__(self, *exc_info) -> None:
        if self._fh is not None:
            self._fh.close()
