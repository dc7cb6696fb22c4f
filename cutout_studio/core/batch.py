"""The one batch path: files and folders in, cutouts out, used by the CLI and the GUI alike.

The planner (:mod:`planner`) decides every output's name before anything is written; the run
takes the output folder's lock (:mod:`folder_lock`), removes the temporary files that dead
runs left, and skips a photo only when the manifest (:mod:`manifest`) says that its own output
is there and was made from the same photo with the same settings. Outputs made with other
settings are counted as stale and redone only with ``overwrite``.

Decoding, inference and encoding overlap: a small thread pool decodes the next photos while
the others are cut. On a GPU the model runs batched on the calling thread and a pool snaps
masks to full resolution and encodes; on the CPU every stage is CPU-bound, so each photo is
cut whole (model, snapping, export) by one of several single-threaded workers, which keeps
every core busy whatever the mix of stages. Outputs are written atomically, and the thread
that renames an output into place writes its manifest line and report row at once. A bad file
never stops the batch; it is reported with its reason, in the events and in the report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cutout_studio.core.batch_results import (
    EDITED,
    BatchProgress,
    BatchSummary,
    CancelFlag,
    FileResult,
    OwnEdges,
    Prepared,
    PreparedPhoto,
    quality_warning,
)
from cutout_studio.core.confidence import confidence
from cutout_studio.core.errors import CutoutError
from cutout_studio.core.export import ExportOptions, export_cutout, remove_stale_temp_files
from cutout_studio.core.export.compliance import check_compliance
from cutout_studio.core.folder_lock import FolderLockedError, lock_folders
from cutout_studio.core.image_io import LoadedImage, load_image
from cutout_studio.core.journal import Warn
from cutout_studio.core.manifest import Manifest, settings_fingerprint
from cutout_studio.core.planner import BatchJob, Plan, plan_outputs
from cutout_studio.core.report import REPORT_NAME, Report

if TYPE_CHECKING:
    from cutout_studio.core.segmenter import Segmenter

__all__ = [
    "REPORT_NAME", "BatchJob", "BatchProgress", "BatchSummary", "FileResult", "FolderLockedError",
    "PreparedPhoto", "plan_outputs", "quality_warning", "run_batch", "run_batch_to_end",
]

_log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# running


def run_batch(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str] | None,
    options: ExportOptions,
    *,
    segmenter: Segmenter | None,
    cancel: CancelFlag = None,
    batch_size: int | None = None,
    workers: int | None = None,
    name_suffix: str = "",
    write_report: bool = True,
    prepared: Prepared | None = None,
    warn: Warn | None = None,
    only: Collection[Path] | None = None,
    edges: OwnEdges | None = None,
) -> Generator[BatchProgress, None, BatchSummary]:
    """Cut out every photo; yields one :class:`BatchProgress` per finished file.

    ``out_dir`` None writes each output beside its photo (``cut``). ``prepared`` holds the
    photos the editor has masked already. The generator's return value (``StopIteration.value``,
    or use :func:`run_batch_to_end`) is a :class:`BatchSummary`. ``cancel`` stops the batch
    between files: photos already being encoded are finished and reported, nothing is
    half-written. Raises :class:`FolderLockedError` (before writing anything) when another run
    holds the output folder. ``warn`` gets one line when the report or manifest cannot be
    written (the run goes on). ``only`` (resolved paths) runs just those photos, named as in
    the run of all ``inputs`` (the editor's quick export of one photo of a shoot); ``edges``
    gives photos their own edge settings in place of ``options.edges``.
    """
    if out_dir is not None:
        roots = [Path(out_dir).expanduser().resolve()]
    else:  # beside each photo: the folders are known once the inputs are scanned
        roots = plan_outputs(inputs, None, options, name_suffix=name_suffix).roots
    with lock_folders(roots):
        # planned under the lock, so the manifests read are those this run appends to
        plan = plan_outputs(inputs, out_dir, options, name_suffix=name_suffix)
        if only is not None:
            wanted = {Path(p).resolve() for p in only}
            plan.jobs = [job for job in plan.jobs if job.source.resolve() in wanted]
        report_path = roots[0] / REPORT_NAME if write_report and out_dir is not None else None
        return (yield from _run_plan(plan, report_path, options, segmenter, _cancel_checker(cancel),
                                     batch_size, workers, prepared or {}, warn, edges or {}))


def run_batch_to_end(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str] | None,
    options: ExportOptions,
    *,
    segmenter: Segmenter | None,
    on_progress: Callable[[BatchProgress], None] | None = None,
    cancel: CancelFlag = None,
    batch_size: int | None = None,
    workers: int | None = None,
    name_suffix: str = "",
    write_report: bool = True,
    prepared: Prepared | None = None,
    warn: Warn | None = None,
    only: Collection[Path] | None = None,
    edges: OwnEdges | None = None,
) -> BatchSummary:
    """The one driver of :func:`run_batch` (CLI, batch window, Export all): runs it to the end,
    handing each event to ``on_progress``, and returns its summary. The other arguments are
    :func:`run_batch`'s (spelled out so that callers are type-checked: a ParamSpec cannot add
    ``on_progress``)."""
    gen = run_batch(inputs, out_dir, options, segmenter=segmenter, cancel=cancel, batch_size=batch_size,
                    workers=workers, name_suffix=name_suffix, write_report=write_report, prepared=prepared,
                    warn=warn, only=only, edges=edges)
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            summary: BatchSummary = stop.value  # run_batch's return value
            return summary
        if on_progress is not None:
            on_progress(event)


class _Recorder:
    """Writes each result's report row and manifest line as soon as it is final (any thread)."""

    def __init__(self, report: Report, manifests: dict[Path, Manifest], fingerprint: str) -> None:
        self.report = report
        self.manifests = manifests
        self.fingerprint = fingerprint
        self.count = 0
        self._lock = threading.Lock()

    def record(self, job: BatchJob, result: FileResult, fingerprint: str | None = None) -> FileResult:
        """``fingerprint``: how the output was made (default: as the run's settings say)."""
        if result.status in ("done", "warning") and result.output is not None:
            self.manifests[job.root].record(job.source, result.output, fingerprint or self.fingerprint,
                                            result.status)
        self.report.row(result)
        with self._lock:
            self.count += 1
        return result


def _run_plan(plan: Plan, report_path: Path | None, options: ExportOptions, segmenter: Segmenter | None,
              is_cancelled: Callable[[], bool], batch_size: int | None, workers: int | None,
              prepared: Prepared, warn: Warn | None, edges: OwnEdges) -> Generator[BatchProgress, None, BatchSummary]:
    jobs = plan.jobs
    _remove_stale_temp_files(jobs)  # we hold the lock: what is there was left by dead runs
    summary = BatchSummary(total=len(jobs), notes=list(plan.notes))
    report = Report(report_path, warn)
    summary.report = report.path
    for note in plan.notes:
        report.note(note)
    for manifest in plan.manifests.values():
        manifest.open(warn)
    model = segmenter.card.name if segmenter is not None else ""
    fingerprint = settings_fingerprint(options, model)
    recorder = _Recorder(report, plan.manifests, fingerprint)
    device = segmenter.device.type if segmenter is not None else "cpu"
    on_cpu = device == "cpu"
    if batch_size is None:
        batch_size = 8 if device == "cuda" else 1
    if workers is None:
        # CPU: one single-threaded worker per core, at most 4 (each holds a photo in memory)
        workers = min(4, os.cpu_count() or 2) if on_cpu else 2
    workers = max(1, workers)
    decoders = ThreadPoolExecutor(workers, thread_name_prefix="batch-decode")
    cutters = ThreadPoolExecutor(workers, thread_name_prefix="batch-cut")
    finished = False
    try:
        with _inference_threads(segmenter, workers):
            yield from _loop(jobs, plan, options, segmenter, is_cancelled, batch_size, workers, prepared,
                             recorder, summary, decoders, cutters, on_cpu, edges)
        finished = True
    finally:
        # Ctrl-C or a closed generator: photos being written are finished (and get their rows)
        decoders.shutdown(wait=True, cancel_futures=True)
        cutters.shutdown(wait=True, cancel_futures=True)
        if summary.cancelled or not finished:
            summary.cancelled = True
            report.cancelled(summary.total - recorder.count)
        report.close()
        for manifest in plan.manifests.values():
            manifest.close()
    return summary


def _loop(jobs: Sequence[BatchJob], plan: Plan, options: ExportOptions, segmenter: Segmenter | None,
          is_cancelled: Callable[[], bool], batch_size: int, workers: int, prepared: Prepared, recorder: _Recorder,
          summary: BatchSummary, decoders: ThreadPoolExecutor, cutters: ThreadPoolExecutor,
          on_cpu: bool, edges: OwnEdges) -> Iterator[BatchProgress]:
    model = segmenter.card.name if segmenter is not None else ""
    own_options: dict[Path, ExportOptions] = {}

    def options_for(job: BatchJob) -> ExportOptions:
        """The run's options, with the photo's own edge settings where it has them."""
        own = edges.get(job.source.resolve())
        if own is None or own == options.edges:
            return options
        if job.source not in own_options:
            own_options[job.source] = dataclasses.replace(options, edges=own)
        return own_options[job.source]

    pending: deque[tuple[BatchJob, float, Future[LoadedImage]]] = deque()  # in input order
    encoding: deque[Future[FileResult]] = deque()
    todo = deque(jobs)
    max_ahead = max(2 * batch_size, workers + 1)  # bounds memory: a few photos in flight

    def finish(result: FileResult, job: BatchJob | None = None) -> BatchProgress:
        if job is not None:  # a result of this thread; the workers record their own
            recorder.record(job, result)
        summary.add(result)
        return BatchProgress(summary.processed, summary.total, result)

    while todo or pending or encoding:
        if is_cancelled():
            summary.cancelled = True
            todo.clear()
            for _, _, fut in pending:
                fut.cancel()
            pending.clear()
            # photos queued for a worker but not started are dropped; running ones finish
            for queued in encoding:
                queued.cancel()
            encoding = deque(fut for fut in encoding if not fut.cancelled())
        while todo and len(pending) < max_ahead:
            job = todo.popleft()
            own = options_for(job)
            ready = prepared.get(job.source.resolve())
            made_by = settings_fingerprint(own, EDITED if ready is not None and ready.edited else model)
            skip = None if options.overwrite else _resume_state(job, plan, made_by)
            if skip is not None:
                yield finish(skip, job)
                continue
            if ready is not None:
                encoding.append(cutters.submit(_write, job, time.perf_counter(), ready.image, ready.alpha, own,
                                               recorder, made_by))
            elif segmenter is None:
                yield finish(FileResult(job.source, None, "failed", 0.0,
                                        f"{job.source.name}: no segmentation model is installed"), job)
            else:
                pending.append((job, time.perf_counter(), decoders.submit(load_image, job.source)))

        batch: list[tuple[BatchJob, float, LoadedImage]] = []
        while pending and len(batch) < batch_size and (not batch or pending[0][2].done()):
            job, started, fut = pending.popleft()
            try:
                batch.append((job, started, fut.result()))
            except CutoutError as exc:
                yield finish(FileResult(job.source, None, "failed", time.perf_counter() - started, str(exc)), job)
        if batch:
            assert segmenter is not None  # without a model no photo is decoded (they failed above)
            if on_cpu:
                for job, started, image in batch:
                    own = options_for(job)
                    encoding.append(cutters.submit(_cut, job, started, image, own, segmenter, recorder,
                                                   settings_fingerprint(own, model)))
            else:
                try:
                    masks = segmenter.predict_lowres([image.rgb for _, _, image in batch])
                except (CutoutError, RuntimeError, ValueError) as exc:
                    for job, started, _ in batch:
                        yield finish(_model_failed(job, started, exc), job)
                    masks = []
                for (job, started, image), mask in zip(batch, masks):
                    own = options_for(job)
                    encoding.append(cutters.submit(_encode, job, started, image, mask, own, segmenter,
                                                   recorder, settings_fingerprint(own, model)))
        batch.clear()  # the workers hold the only references to the pixels now
        # hand back finished encodes in order; block only when too many are in flight (memory)
        # or when there is nothing left to decode or infer meanwhile
        while encoding and (encoding[0].done() or len(encoding) > workers or not pending):
            yield finish(encoding.popleft().result())


def _resume_state(job: BatchJob, plan: Plan, fingerprint: str) -> FileResult | None:
    """The result of a photo that is not cut again (its output is there), or None to cut it."""
    state = plan.manifests[job.root].state(job.source, job.output, fingerprint)
    if state == "missing":
        return None
    if state == "fresh":
        return FileResult(job.source, job.output, "skipped", 0.0, "output exists (already done)")
    if state == "stale":
        why = "made with other settings or from an earlier version of the photo"
    else:
        why = "there is no record of how it was made (an earlier version, or made by hand)"
    return FileResult(job.source, job.output, "stale", 0.0,
                      f"{job.output.name}: kept, {why}; overwrite to redo it")


def _remove_stale_temp_files(jobs: Sequence[BatchJob]) -> None:
    """A run killed mid-write leaves hidden ``.part`` files beside the outputs it was writing;
    the next run on the folder (holding its lock, so their writer is dead) clears them."""
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
         segmenter: Segmenter, recorder: _Recorder, fingerprint: str) -> FileResult:
    """One photo from model to file, on a worker thread (the CPU path)."""
    try:
        mask = segmenter.predict_lowres([image.rgb])[0]
    except (CutoutError, RuntimeError, ValueError) as exc:
        return recorder.record(job, _model_failed(job, started, exc))
    except Exception as exc:  # noqa: BLE001 - as in _write
        return recorder.record(job, _internal_error(job, started, exc))
    return _encode(job, started, image, mask, options, segmenter, recorder, fingerprint)


def _encode(job: BatchJob, started: float, image: LoadedImage, mask_lowres: np.ndarray, options: ExportOptions,
            segmenter: Segmenter, recorder: _Recorder, fingerprint: str) -> FileResult:
    try:
        alpha = segmenter.snap(mask_lowres, image.rgb)
    except Exception as exc:  # noqa: BLE001 - as in _write
        return recorder.record(job, _internal_error(job, started, exc))
    return _write(job, started, image, alpha, options, recorder, fingerprint)


def _write(job: BatchJob, started: float, image: LoadedImage, alpha: np.ndarray, options: ExportOptions,
           recorder: _Recorder, fingerprint: str) -> FileResult:
    """Export one photo and record it at once: the row exists as soon as the file does (its
    contents are worked out first: nothing slow between the rename and the manifest line)."""
    try:
        check = check_compliance(image, alpha, options)  # None without a marketplace preset
        warnings = [w for w in (quality_warning(alpha), check.label() if check and not check.ok else "") if w]
        trust = confidence(alpha)
        out = export_cutout(image, alpha, job.output, options)
    except CutoutError as exc:
        result = FileResult(job.source, None, "failed", time.perf_counter() - started, str(exc))
    except MemoryError:
        result = FileResult(job.source, None, "failed", time.perf_counter() - started,
                            f"{job.source.name}: not enough memory")
    except Exception as exc:  # noqa: BLE001 - one photo's bug must not end the whole batch
        result = _internal_error(job, started, exc)
    else:
        message = "; ".join([f"{job.source.name}: {'; '.join(warnings)}", *image.notes] if warnings else image.notes)
        result = FileResult(job.source, out, "warning" if warnings else "done", time.perf_counter() - started, message,
                            compliance=check.line() if check else "", confidence=trust)
    return recorder.record(job, result, fingerprint)


@contextlib.contextmanager
def _inference_threads(segmenter: Segmenter | None, workers: int) -> Iterator[None]:
    """On the CPU, share the cores between the workers instead of within each model pass.

    U²-Netp's convolutions are small: one single-threaded pass per core gets more photos per
    minute than passes spread over every core, which also leave cores idle while a photo is
    being snapped and encoded.
    """
    if segmenter is None or segmenter.device.type != "cpu":
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
