"""The one batch path: files and folders in, cutouts out, used by the CLI and the GUI alike.

The planner (:mod:`planner`) decides every output's name before anything is written; the run
takes the output folder's lock (:mod:`folder_lock`), removes the temporary files that dead
runs left, and skips a photo only when the manifest (:mod:`manifest`) says that its own output
is there and was made from the same photo with the same settings. Outputs made with other
settings are counted as stale and redone only with ``overwrite``.

This module is the local driver of the batch's steps (:mod:`batch_steps`, which the Ray
engine in :mod:`ray_engine` drives on a cluster). Decoding, inference and encoding overlap: a
small thread pool decodes the next photos while the others are cut. On a GPU the model runs
batched on the calling thread and a pool snaps masks to full resolution and encodes; on the
CPU every stage is CPU-bound, so each photo is cut whole (model, snapping, export) by one of
several single-threaded workers, which keeps every core busy whatever the mix of stages.
Outputs are written atomically, and the thread that renames an output into place writes its
manifest line and report row at once. A bad file never stops the batch; it is reported with
its reason, in the events and in the report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections import deque
from collections.abc import Callable, Collection, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec

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
from cutout_studio.core.batch_steps import (
    Run,
    cancel_checker,
    decode_job,
    encode_job,
    mask_jobs,
    no_model,
    planned,
    recording,
    report_file,
    resume_state,
    write_job,
)
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.folder_lock import FolderLockedError
from cutout_studio.core.image_io import LoadedImage
from cutout_studio.core.journal import Warn
from cutout_studio.core.manifest import settings_fingerprint
from cutout_studio.core.planner import BatchJob, Plan, plan_outputs
from cutout_studio.core.report import REPORT_NAME

if TYPE_CHECKING:
    from cutout_studio.core.segmenter import Segmenter

__all__ = [
    "REPORT_NAME", "BatchJob", "BatchProgress", "BatchSummary", "FileResult", "FolderLockedError",
    "PreparedPhoto", "cancel_checker", "plan_outputs", "quality_warning", "run_batch", "run_batch_to_end",
]

_P = ParamSpec("_P")

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
    with planned(inputs, out_dir, options, name_suffix=name_suffix, only=only) as (plan, folder):
        return (yield from _run_plan(plan, report_file(folder, write_report), options, segmenter,
                                     cancel_checker(cancel), batch_size, workers, prepared or {}, warn, edges or {}))


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
    return drain(gen, on_progress)


def drain(gen: Generator[BatchProgress, None, BatchSummary],
          on_progress: Callable[[BatchProgress], None] | None) -> BatchSummary:
    """Run a batch generator (either engine's) to the end; returns its summary."""
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            summary: BatchSummary = stop.value  # the generator's return value
            return summary
        if on_progress is not None:
            on_progress(event)


def _run_plan(plan: Plan, report_path: Path | None, options: ExportOptions, segmenter: Segmenter | None,
              is_cancelled: Callable[[], bool], batch_size: int | None, workers: int | None,
              prepared: Prepared, warn: Warn | None, edges: OwnEdges) -> Generator[BatchProgress, None, BatchSummary]:
    model = segmenter.card.name if segmenter is not None else ""
    device = segmenter.device.type if segmenter is not None else "cpu"
    on_cpu = device == "cpu"
    if batch_size is None:
        batch_size = 8 if device == "cuda" else 1
    if workers is None:
        # CPU: one single-threaded worker per core, at most 4 (each holds a photo in memory)
        workers = min(4, os.cpu_count() or 2) if on_cpu else 2
    workers = max(1, workers)
    with recording(plan, report_path, settings_fingerprint(options, model), warn, overwrite=options.overwrite) as run:
        decoders = ThreadPoolExecutor(workers, thread_name_prefix="batch-decode")
        cutters = ThreadPoolExecutor(workers, thread_name_prefix="batch-cut")
        try:
            with _inference_threads(segmenter, workers):
                yield from _loop(plan, options, segmenter, is_cancelled, batch_size, workers, prepared,
                                 run, decoders, cutters, on_cpu, edges)
        finally:
            # Ctrl-C or a closed generator: photos being written are finished (and get their rows)
            # before the report's "cancelled" line
            decoders.shutdown(wait=True, cancel_futures=True)
            cutters.shutdown(wait=True, cancel_futures=True)
    return run.summary


def _loop(plan: Plan, options: ExportOptions, segmenter: Segmenter | None, is_cancelled: Callable[[], bool],
          batch_size: int, workers: int, prepared: Prepared, run: Run, decoders: ThreadPoolExecutor,
          cutters: ThreadPoolExecutor, on_cpu: bool, edges: OwnEdges) -> Iterator[BatchProgress]:
    model = segmenter.card.name if segmenter is not None else ""
    recorder, summary = run.recorder, run.summary
    own_options: dict[Path, ExportOptions] = {}

    def options_for(job: BatchJob) -> ExportOptions:
        """The run's options, with the photo's own edge settings where it has them."""
        own = edges.get(job.source.resolve())
        if own is None or own == options.edges:
            return options
        if job.source not in own_options:
            own_options[job.source] = dataclasses.replace(options, edges=own)
        return own_options[job.source]

    def recorded(job: BatchJob, fingerprint: str | None, step: Callable[Concatenate[BatchJob, _P], FileResult],
                 *args: _P.args, **kwargs: _P.kwargs) -> Future[FileResult]:
        """Run a photo's last step on a worker, which records the result as soon as it is written."""
        return cutters.submit(lambda: recorder.record(job, step(job, *args, **kwargs), fingerprint))

    pending: deque[tuple[BatchJob, float, Future[LoadedImage | FileResult]]] = deque()  # in input order
    encoding: deque[Future[FileResult]] = deque()
    todo = deque(plan.jobs)
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
            skip = None if options.overwrite else resume_state(job, plan, made_by)
            if skip is not None:
                yield finish(skip, job)
            elif ready is not None:
                encoding.append(recorded(job, made_by, write_job, time.perf_counter(), ready.image, ready.alpha, own))
            elif segmenter is None:
                yield finish(no_model(job), job)
            else:
                started = time.perf_counter()
                pending.append((job, started, decoders.submit(decode_job, job, started)))

        batch: list[tuple[BatchJob, float, LoadedImage]] = []
        while pending and len(batch) < batch_size and (not batch or pending[0][2].done()):
            job, started, fut = pending.popleft()
            decoded = fut.result()
            if isinstance(decoded, FileResult):
                yield finish(decoded, job)
            else:
                batch.append((job, started, decoded))
        if batch:
            assert segmenter is not None  # without a model no photo is decoded (they failed above)
            if on_cpu:
                for job, started, image in batch:
                    own = options_for(job)
                    encoding.append(recorded(job, settings_fingerprint(own, model), _cut, started, image, own,
                                             segmenter))
            else:
                masks = mask_jobs(segmenter, [b[0] for b in batch], [b[1] for b in batch], [b[2] for b in batch])
                for (job, started, image), mask in zip(batch, masks):
                    if isinstance(mask, FileResult):
                        yield finish(mask, job)
                        continue
                    own = options_for(job)
                    encoding.append(recorded(job, settings_fingerprint(own, model), encode_job, started, image,
                                             mask, own))
        batch.clear()  # the workers hold the only references to the pixels now
        # hand back finished encodes in order; block only when too many are in flight (memory)
        # or when there is nothing left to decode or infer meanwhile
        while encoding and (encoding[0].done() or len(encoding) > workers or not pending):
            yield finish(encoding.popleft().result())


def _cut(job: BatchJob, started: float, image: LoadedImage, options: ExportOptions,
         segmenter: Segmenter) -> FileResult:
    """One photo from model to file, on a worker thread (the CPU path)."""
    mask = mask_jobs(segmenter, [job], [started], [image])[0]
    if isinstance(mask, FileResult):
        return mask
    return encode_job(job, started, image, mask, options)


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
