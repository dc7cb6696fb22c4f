"""The batch on a Ray cluster (``cutout-studio batch … --engine ray``): the second driver of the
batch's steps (:mod:`batch_steps`), for catalogues that outgrow one machine.

The run is the local engine's: the same plan under the output folder's lock, the same resume
rule, report, manifest, statuses and per-photo errors. Only where the steps run differs. On
Ray Data, photos are decoded by tasks, the model runs in a pool of actors (one per GPU where
the cluster has GPUs, batched), and snapping and encoding are tasks again. The workers return
each photo's :class:`FileResult` without recording it; the driver records it as it comes back.

So that a killed driver never leaves an output without its manifest line (which the next run
would take for someone else's file and keep), the workers write each output, atomically, into
a hidden staging folder in the output folder (``.cutout-staging``, same disk), and the driver
moves it into place just before writing its line: the window a kill can hit is the local
engine's. A cancelled run stops handing out photos (a flag file in the staging folder, which
every worker sees on the shared file system), finishes those in flight and writes its
"cancelled" line.

Paths are local, on a file system that every node mounts at the same path (NFS, a cluster
file system), or URLs (``s3://``, ``gs://``, ``file://``: :mod:`storage`), which every node
reads and writes through fsspec with its own credentials; then the staging folder and the
cancel flag are objects in the output folder, and moving an output into place is a
server-side copy. Ray is an optional dependency, imported only when this engine runs.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
import os
import pickle
import secrets
import shutil
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cutout_studio.core import storage
from cutout_studio.core.batch_results import BatchProgress, BatchSummary, CancelFlag, FileResult
from cutout_studio.core.batch_steps import (
    Run,
    cancel_checker,
    decode_job,
    encode_job,
    mask_jobs,
    planned,
    recording,
    report_file,
    resume_state,
)
from cutout_studio.core.errors import CutoutError
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.image_io import LoadedImage
from cutout_studio.core.journal import Warn
from cutout_studio.core.manifest import settings_fingerprint
from cutout_studio.core.planner import BatchJob, Plan

if TYPE_CHECKING:
    from cutout_studio.core.segmenter import Segmenter

#: what ``--engine ray`` says when Ray is not installed
INSTALL_HINT = 'the Ray engine needs Ray, an optional extra: pip install -e ".[ray]" (or pip install "ray[data]")'
#: the hidden folder in the output folder where workers write outputs before the driver moves them
STAGING = ".cutout-staging"
_CANCEL_FLAG = "cancel"
_NOT_STARTED = pickle.dumps(None)  # a photo dropped after the cancel: not processed


class RayMissingError(CutoutError):
    """Ray is not installed (the CLI turns it into a usage error: exit status 2)."""


def ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None


def run_batch_ray(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    options: ExportOptions,
    *,
    model: str = "default",
    device: str = "auto",
    half: bool | None = None,
    cancel: CancelFlag = None,
    batch_size: int | None = None,
    actors: int | None = None,
    address: str | None = None,
    warn: Warn | None = None,
) -> Generator[BatchProgress, None, BatchSummary]:
    """:func:`batch.run_batch` on Ray: yields one :class:`BatchProgress` per finished photo and
    returns the :class:`BatchSummary`. The model (``model``, ``device``, ``half``: as for
    :class:`Segmenter`) is loaded by each actor on its own node. ``address``: the cluster's
    (``auto``, ``ray://host:10001``…); None joins the Ray instance this process started already,
    else starts one on this machine. ``actors``: model actors (default: one per GPU, else one
    per two CPUs); ``batch_size``: photos per model pass (default 8 with GPUs, else 1)."""
    if not ray_available():
        raise RayMissingError(INSTALL_HINT)
    memory = storage.in_process_only([*inputs, out_dir])
    if memory is not None:
        raise storage.StorageError(f"{memory}: memory:// lives in this process only; Ray's workers cannot see it")
    import ray

    from cutout_studio.core.models.cards import get_card

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, logging_level="WARNING", log_to_driver=True)
    try:
        with planned(inputs, out_dir, options) as (plan, folder):
            assert folder is not None  # out_dir is given
            engine = _Engine(plan, folder, options, (get_card(model).name, model, device, half), batch_size, actors)
            return (yield from engine.run(cancel_checker(cancel), warn))
    finally:
        if started_here:
            ray.shutdown()


@dataclasses.dataclass
class _Engine:
    plan: Plan
    folder: Path
    options: ExportOptions
    model: tuple[str, str, str, bool | None]  #: card name (for the fingerprint), name, device, half
    batch_size: int | None
    actors: int | None

    def run(self, is_cancelled: Callable[[], bool], warn: Warn | None) -> Generator[BatchProgress, None, BatchSummary]:
        fingerprint = settings_fingerprint(self.options, self.model[0])
        with recording(self.plan, report_file(self.folder, True), fingerprint, warn,
                       overwrite=self.options.overwrite) as run:
            staging = self.folder / STAGING
            _remove_tree(staging)  # we hold the lock: what is there was left by dead runs
            todo: list[int] = []
            for index, job in enumerate(self.plan.jobs):
                skip = None if self.options.overwrite else resume_state(job, self.plan, fingerprint)
                if skip is None:
                    todo.append(index)
                else:
                    yield _finish(run, job, skip)
            if todo:
                here = staging / secrets.token_hex(4)
                try:
                    yield from self._stream(todo, here, run, is_cancelled)
                finally:
                    _remove_tree(staging)
        return run.summary

    def _stream(self, todo: list[int], here: Path, run: Run, is_cancelled: Callable[[], bool]) -> Iterator[BatchProgress]:
        import ray

        if not storage.is_remote(here):  # (object stores have no folders to make)
            here.mkdir(parents=True)
        flag = here / _CANCEL_FLAG
        _, name, device, half = self.model
        # GPU actors where the cluster has GPUs, unless the model is told to run on the CPU
        gpus = int(ray.cluster_resources().get("GPU", 0)) if device != "cpu" else 0
        cpus = int(ray.cluster_resources().get("CPU", 1))
        batch_size = self.batch_size or (8 if gpus else 1)
        # actors hold a CPU each: on a CPU-only cluster half the CPUs are left to decode and encode
        actors = self.actors or (gpus if gpus else max(1, cpus // 2))
        rows = [_row(i, self.plan.jobs[i], here) for i in todo]
        # blocks of one model batch: a task decodes that many photos, and no more are held at once
        dataset = ray.data.from_items(rows, override_num_blocks=math.ceil(len(rows) / batch_size))
        _quiet(ray)
        dataset = (
            # num_cpus on both sides: a GPU actor (no CPU) is not fused with the decoding tasks, so
            # the GPU is never left waiting while its actor decodes JPEGs
            dataset.map(_decode_row, fn_kwargs={"flag": str(flag)}, num_cpus=1)
            .map_batches(_Masker, fn_constructor_kwargs={"model": name, "device": device, "half": half},
                         batch_size=batch_size, batch_format="numpy",
                         compute=ray.data.ActorPoolStrategy(size=actors),
                         num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1)
            .map(_encode_row, fn_kwargs={"options": self.options})
        )
        if is_cancelled():  # before the first photo: none is started
            run.summary.cancelled = True
            _touch(flag)
        stream = iter(dataset.iter_rows())
        while True:
            try:
                row = next(stream)
            except StopIteration:
                break
            except ray.exceptions.RayError as exc:  # a worker or node lost, a bug in a stage
                raise CutoutError(f"Ray stopped the run: {str(exc).strip().splitlines()[0]}") from exc
            if is_cancelled() and not run.summary.cancelled:
                run.summary.cancelled = True
                _touch(flag)  # the workers stop decoding; the photos in flight are finished
            result = pickle.loads(row["item"])
            if result is None:
                continue  # dropped after the cancel
            job = self.plan.jobs[int(row["i"])]
            yield _finish(run, job, result)  # the recorder moves the staged output into place
        if is_cancelled():
            run.summary.cancelled = True


def _finish(run: Run, job: BatchJob, result: FileResult) -> BatchProgress:
    run.recorder.record(job, result)
    run.summary.add(result)
    return BatchProgress(run.summary.processed, run.summary.total, result)


def _row(index: int, job: BatchJob, here: Path) -> dict[str, Any]:
    """What a worker needs of a photo (plain strings: Ray Data keeps them as Arrow columns);
    ``dest``: where it writes the output, in the staging folder."""
    return {"i": index, "source": str(job.source), "output": str(job.output), "root": str(job.root),
            "dest": str(here / job.output.relative_to(job.root))}


def _job(row: dict[str, Any]) -> BatchJob:
    return BatchJob(storage.location(row["source"]), storage.location(row["output"]), storage.location(row["root"]))


def _remove_tree(folder: Path) -> None:
    if storage.is_remote(folder):
        storage.remove_tree(folder)
    else:
        shutil.rmtree(folder, ignore_errors=True)


def _touch(flag: Path) -> None:
    if storage.is_remote(flag):
        storage.write_bytes(flag, b"")
    else:
        flag.touch()


def _quiet(ray: Any) -> None:
    """The command line shows its own progress bar: Ray Data's bars and progress logs are left out."""
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False


# --------------------------------------------------------------------------------------------
# the stages, run by Ray's workers: each carries the photo on as one pickled item


def _decode_row(row: dict[str, Any], flag: str) -> dict[str, Any]:
    if storage.location(flag).exists():  # cancelled: this photo is not started
        return {**row, "item": _NOT_STARTED, "spent": 0.0}
    started = time.perf_counter()
    decoded = decode_job(_job(row), started)
    return {**row, "item": pickle.dumps(decoded, protocol=5), "spent": time.perf_counter() - started}


class _Masker:
    """An actor holding the model: masks a batch of decoded photos in one pass."""

    def __init__(self, model: str, device: str, half: bool | None) -> None:
        from cutout_studio.core.segmenter import Segmenter

        self.segmenter: Segmenter | None = None
        self.error = ""
        try:
            self.segmenter = Segmenter(model, device=device, half=half)
        except CutoutError as exc:  # no weights on this node: each photo says so
            self.error = str(exc)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [pickle.loads(item) for item in batch["item"]]
        spent = np.asarray(batch["spent"], dtype=np.float64).copy()
        ready = [k for k, item in enumerate(items) if isinstance(item, LoadedImage)]
        now = time.perf_counter()
        batch_jobs = [_job({key: batch[key][k] for key in ("source", "output", "root")}) for k in ready]
        starts = [now - spent[k] for k in ready]
        if self.segmenter is None:
            masks: list[np.ndarray | FileResult] = [
                FileResult(job.source, None, "failed", 0.0, f"{job.source.name}: {self.error}") for job in batch_jobs]
        else:
            masks = mask_jobs(self.segmenter, batch_jobs, starts, [items[k] for k in ready])
        for k, mask in zip(ready, masks):
            items[k] = mask if isinstance(mask, FileResult) else (items[k], mask)
        spent[ready] += time.perf_counter() - now
        out = np.empty(len(items), dtype=object)
        out[:] = [pickle.dumps(item, protocol=5) for item in items]
        return {**batch, "item": out, "spent": spent}


def _encode_row(row: dict[str, Any], options: ExportOptions) -> dict[str, Any]:
    item = pickle.loads(row["item"])
    if isinstance(item, tuple):  # (photo, mask): snap, check and write to the staging folder
        image, mask = item
        item = encode_job(_job(row), time.perf_counter() - float(row["spent"]), image, mask, options,
                          storage.location(row["dest"]))
    return {"i": row["i"], "dest": row["dest"], "item": pickle.dumps(item, protocol=5)}
