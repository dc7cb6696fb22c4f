"""The batch's steps, shared by its two drivers: the local engine (:mod:`batch`, threads) and
the Ray engine (:mod:`ray_engine`, a cluster).

A run plans every output under the output folders' lock (:func:`planned`), opens its report
and manifests (:func:`recording`), then takes each photo through the per-photo steps:
:func:`resume_state` (skip it?), :func:`decode_job`, :func:`mask_jobs` (the model, batched),
:func:`encode_job` (snap the mask to full resolution, then :func:`write_job`). The steps return
a :class:`FileResult` and record nothing; the driver hands each result to the run's
:class:`Recorder` the moment its output is in place, so both drivers write the same files, the
same manifest lines and the same report rows, and a killed run of either resumes the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cutout_studio.core import storage
from cutout_studio.core.atomic import describe_os_error, move_into_place
from cutout_studio.core.batch_results import BatchSummary, CancelFlag, FileResult, quality_warning
from cutout_studio.core.clean_plate import apply_clean_plate
from cutout_studio.core.confidence import confidence
from cutout_studio.core.errors import CutoutError, ExportError
from cutout_studio.core.export import ExportOptions, export_cutout, remove_stale_temp_files
from cutout_studio.core.export.compliance import check_compliance
from cutout_studio.core.folder_lock import lock_folders
from cutout_studio.core.image_io import LoadedImage, load_image
from cutout_studio.core.journal import Warn
from cutout_studio.core.manifest import Manifest
from cutout_studio.core.planner import BatchJob, Plan, plan_outputs
from cutout_studio.core.report import REPORT_NAME, Report

if TYPE_CHECKING:
    from cutout_studio.core.segmenter import Segmenter

_log = logging.getLogger(__name__)

#: what the model steps catch as the model's own failure (a bad input, out of memory on a GPU)
MODEL_ERRORS = (CutoutError, RuntimeError, ValueError)


# --------------------------------------------------------------------------------------------
# the run around the steps


@contextlib.contextmanager
def planned(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str] | None,
    options: ExportOptions,
    *,
    name_suffix: str = "",
    only: Collection[Path] | None = None,
) -> Iterator[tuple[Plan, Path | None]]:
    """Lock the output folders, then plan under the lock (so the manifests read are those this
    run appends to); yields the plan and the report's folder (None without ``out_dir``)."""
    if out_dir is not None:
        roots = [storage.location(out_dir).expanduser().resolve()]
    else:  # beside each photo: the folders are known once the inputs are scanned
        roots = plan_outputs(inputs, None, options, name_suffix=name_suffix).roots
    with lock_folders(roots):
        plan = plan_outputs(inputs, out_dir, options, name_suffix=name_suffix)
        if only is not None:
            wanted = {Path(p).resolve() for p in only}
            plan.jobs = [job for job in plan.jobs if job.source.resolve() in wanted]
        yield plan, roots[0] if out_dir is not None else None


class Recorder:
    """Writes each result's report row and manifest line as soon as it is final (any thread),
    moving an output that was written elsewhere (staged) into place first."""

    def __init__(self, report: Report, manifests: dict[Path, Manifest], fingerprint: str,
                 overwrite: bool = False) -> None:
        self.report = report
        self.manifests = manifests
        self.fingerprint = fingerprint
        self.overwrite = overwrite
        self.count = 0
        self._lock = threading.Lock()

    def record(self, job: BatchJob, result: FileResult, fingerprint: str | None = None) -> FileResult:
        """``fingerprint``: how the output was made (default: as the run's settings say). A
        result whose output is not the job's was staged (by a Ray worker, or for a URL): it is
        published here. On a file system the line follows the move, which is atomic. On an
        object store the move is a PUT or a copy that takes a while, and a line written after it
        could be lost to a kill, leaving an output that the next run would keep as unknown: there
        the line goes first, with the output's size, and the next run trusts it only when the
        object there has that size (:meth:`Manifest.state`)."""
        made_by = fingerprint or self.fingerprint
        staged = result.output
        if result.status in ("done", "warning") and staged is not None:
            manifest = self.manifests[job.root]
            if staged == job.output:
                manifest.record(job.source, job.output, made_by, result.status)
            elif manifest.remote:
                manifest.record(job.source, job.output, made_by, result.status, storage.size_of(staged))
                result = publish(job, result, staged, self.overwrite)
            else:
                result = publish(job, result, staged, self.overwrite)
                if result.output is not None:
                    manifest.record(job.source, job.output, made_by, result.status)
        self.report.row(result)
        with self._lock:
            self.count += 1
        return result


@dataclass
class Run:
    """An open run: its recorder and the summary the driver adds each result to."""

    recorder: Recorder
    summary: BatchSummary


@contextlib.contextmanager
def recording(plan: Plan, report_path: Path | None, fingerprint: str, warn: Warn | None, *,
              overwrite: bool = False) -> Iterator[Run]:
    """Open the run's report and manifests (holding the lock: the temporary files there were
    left by dead runs and are removed); on the way out, a run that was cancelled or stopped by
    an exception gets its "cancelled" line, and the files are closed. The driver must have
    finished the photos in progress before leaving (their rows come first)."""
    remove_stale_temp_files_of(plan.jobs)
    for root in plan.manifests:
        if storage.is_remote(root):  # outputs that dead runs were encoding here for that folder
            shutil.rmtree(storage.local_stage(root), ignore_errors=True)
    summary = BatchSummary(total=len(plan.jobs), notes=list(plan.notes))
    report = (Report(report_path, warn) if report_path is None or not storage.is_remote(report_path)
              else RemoteReport(report_path, warn))
    summary.report = report.path
    for note in plan.notes:
        report.note(note)
    for manifest in plan.manifests.values():
        manifest.open(warn)
    run = Run(Recorder(report, plan.manifests, fingerprint, overwrite), summary)
    finished = False
    try:
        yield run
        finished = True
    finally:
        if summary.cancelled or not finished:
            summary.cancelled = True
            report.cancelled(summary.total - run.recorder.count)
        report.close()
        for manifest in plan.manifests.values():
            manifest.close()
        for root in plan.manifests:
            if storage.is_remote(root):
                shutil.rmtree(storage.local_stage(root), ignore_errors=True)


def cancel_checker(cancel: CancelFlag) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


def report_file(folder: Path | None, write_report: bool) -> Path | None:
    return folder / REPORT_NAME if write_report and folder is not None else None


def remove_stale_temp_files_of(jobs: Sequence[BatchJob]) -> None:
    """A run killed mid-write leaves hidden ``.part`` files beside the outputs it was writing
    (the output's, or its clip-path sidecar's: ``.NAME.svg.<hex>.part``); the next run on the
    folder (holding its lock, so their writer is dead) clears them, and only them."""
    by_folder: dict[Path, set[str]] = {}
    for job in jobs:
        by_folder.setdefault(job.output.parent, set()).update({job.output.name, sidecar(job.output).name})
    for folder, names in by_folder.items():
        if storage.is_remote(folder):
            storage.remove_stale_parts(folder, names)
        else:
            remove_stale_temp_files(folder, names)


def sidecar(output: Path) -> Path:
    """The clip-path SVG that :func:`export_cutout` writes beside an output, when asked to."""
    return output.with_suffix(".svg")


class RemoteReport(Report):
    """The report of a remote output folder: written locally (in the folder's staging folder),
    uploaded whole, as one object, every :attr:`UPLOAD_EVERY` seconds and at the end. Object
    stores cannot append, and the report is for people, not for resume (the manifest's lines
    are written one by one): a killed run's report misses at most its last minute."""

    UPLOAD_EVERY = 60.0

    def __init__(self, target: Path, warn: Warn | None) -> None:
        self.target = target
        self._warn = warn
        self._uploaded = time.monotonic()
        self._upload_lock = threading.Lock()
        self._local = storage.local_stage(target.parent) / f"report-{os.getpid()}.csv"
        super().__init__(self._local, warn)
        if self.path is not None:
            self.path = target
            self._upload()

    def _write(self, values: Sequence[str]) -> bool:
        written = super()._write(values)
        if written and time.monotonic() - self._uploaded > self.UPLOAD_EVERY:
            self._upload()
        return written

    def close(self) -> None:
        super().close()
        if self.path is not None:
            self._upload()
        with contextlib.suppress(OSError):
            self._local.unlink()

    def _upload(self) -> None:
        with self._upload_lock:
            self._uploaded = time.monotonic()
            try:
                storage.upload(self._local, self.target, overwrite=True)
            except (OSError, ValueError) as exc:
                if self.path is not None and self._warn is not None:
                    self._warn(f"warning: cannot write the report {self.target}: {exc}; the run goes on without it")
                self.path = None


# --------------------------------------------------------------------------------------------
# the per-photo steps: each returns what it made, or the photo's FileResult when it failed


def resume_state(job: BatchJob, plan: Plan, fingerprint: str) -> FileResult | None:
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


def no_model(job: BatchJob) -> FileResult:
    return FileResult(job.source, None, "failed", 0.0, f"{job.source.name}: no segmentation model is installed")


def decode_job(job: BatchJob, started: float) -> LoadedImage | FileResult:
    """The photo's pixels, or its failure (unreadable, not an image, too large…)."""
    try:
        return storage.load_photo(job.source) if storage.is_remote(job.source) else load_image(job.source)
    except CutoutError as exc:
        return FileResult(job.source, None, "failed", time.perf_counter() - started, str(exc))
    except OSError as exc:  # a remote read (local reads say why as CutoutErrors): gone, no access
        why = "not found" if isinstance(exc, FileNotFoundError) else describe_os_error(exc)
        return FileResult(job.source, None, "failed", time.perf_counter() - started,
                          f"{job.source.name}: cannot read: {why}")


def mask_jobs(segmenter: Segmenter, jobs: Sequence[BatchJob], started: Sequence[float],
              images: Sequence[LoadedImage]) -> list[np.ndarray | FileResult]:
    """The model's low-resolution masks of photos in one pass; when the pass fails, each
    photo's failure."""
    try:
        return list(segmenter.predict_lowres([image.rgb for image in images]))
    except MODEL_ERRORS as exc:
        return [model_failed(job, t, exc) for job, t in zip(jobs, started)]
    except Exception as exc:  # noqa: BLE001 - as in write_job
        return [internal_error(job, t, exc) for job, t in zip(jobs, started)]


def encode_job(job: BatchJob, started: float, image: LoadedImage, mask_lowres: np.ndarray,
               options: ExportOptions, dest: Path | None = None) -> FileResult:
    """Fuse the model's mask with the clean plate's (:mod:`clean_plate`), snap it to the
    photo, then :func:`write_job`."""
    from cutout_studio.core.segmenter import Segmenter  # torch: loaded once a model is needed

    try:
        # the clean plate (if any) adds what the model missed before the snap
        mask_lowres, note = apply_clean_plate(mask_lowres, image.rgb, options.clean_plate)
        alpha = Segmenter.snap(mask_lowres, image.rgb)
    except Exception as exc:  # noqa: BLE001 - as in write_job
        return internal_error(job, started, exc)
    if note:
        image = dataclasses.replace(image, notes=[*image.notes, f"{job.source.name}: {note}"])
    return write_job(job, started, image, alpha, options, dest)


def write_job(job: BatchJob, started: float, image: LoadedImage, alpha: np.ndarray, options: ExportOptions,
              dest: Path | None = None) -> FileResult:
    """Export one photo to ``dest`` (default: its output), atomically. What the result says is
    worked out before the file is written: nothing slow between the rename and the driver's
    manifest line."""
    try:
        check = check_compliance(image, alpha, options)  # None without a marketplace preset
        warnings = [w for w in (quality_warning(alpha), check.label() if check and not check.ok else "") if w]
        trust = confidence(alpha)
        target = dest or job.output
        if storage.is_remote(target):
            out = _export_remote(image, alpha, target, job.root, options, upload=dest is not None)
        else:
            out = export_cutout(image, alpha, target, options)
    except CutoutError as exc:
        return FileResult(job.source, None, "failed", time.perf_counter() - started, str(exc))
    except MemoryError:
        return FileResult(job.source, None, "failed", time.perf_counter() - started,
                          f"{job.source.name}: not enough memory")
    except Exception as exc:  # noqa: BLE001 - one photo's bug must not end the whole batch
        return internal_error(job, started, exc)
    message = "; ".join([f"{job.source.name}: {'; '.join(warnings)}", *image.notes] if warnings else image.notes)
    return FileResult(job.source, out, "warning" if warnings else "done", time.perf_counter() - started, message,
                      compliance=check.line() if check else "", confidence=trust)


def model_failed(job: BatchJob, started: float, exc: Exception) -> FileResult:
    return FileResult(job.source, None, "failed", time.perf_counter() - started,
                      f"{job.source.name}: model failed ({exc})")


def internal_error(job: BatchJob, started: float, exc: Exception) -> FileResult:
    _log.error("batch: %s failed", job.source, exc_info=exc)
    return FileResult(job.source, None, "failed", time.perf_counter() - started,
                      f"{job.source.name}: internal error ({type(exc).__name__}: {exc}); see the log")


def _export_remote(image: LoadedImage, alpha: np.ndarray, target: Path, root: Path, options: ExportOptions, *,
                   upload: bool) -> Path:
    """:func:`export_cutout` for a URL: encoded into this machine's staging folder for the
    output folder; returns the staged file, which the recorder puts in place (one PUT, atomic
    on object stores). ``upload``: put it at ``target`` now (a Ray worker's staging object,
    which the driver moves into place), and return ``target``."""
    folder = storage.local_stage(root) / secrets.token_hex(6)
    folder.mkdir(parents=True)
    written = export_cutout(image, alpha, folder / target.name, options)
    if not upload:
        return written
    try:
        if sidecar(written).exists():
            storage.upload(sidecar(written), sidecar(target), overwrite=True)
        storage.upload(written, target, overwrite=True)
    except OSError as exc:
        raise ExportError(f"{target.name}: cannot write: {describe_os_error(exc)}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return target


def publish(job: BatchJob, result: FileResult, staged: Path, overwrite: bool) -> FileResult:
    """Move an output written to ``staged`` into place, with its clip-path sidecar first; the
    result then names the output. A local file goes to a URL in one put (and its local staging
    folder is removed), a staged object by a server-side move, a local file by a rename."""
    move: Callable[..., None]
    if storage.is_remote(job.output):
        move = storage.move if storage.is_remote(staged) else storage.upload
    else:
        move = move_into_place
    try:
        if sidecar(staged).exists():
            move(sidecar(staged), sidecar(job.output), overwrite=overwrite)
        move(staged, job.output, overwrite=overwrite)
    except FileExistsError as exc:
        name = storage.location(str(exc.filename)).name if exc.filename else job.output.name
        return dataclasses.replace(result, output=None, status="failed", message=f"{name}: already exists (use overwrite)")
    except OSError as exc:
        return dataclasses.replace(result, output=None, status="failed",
                                   message=f"{job.output.name}: cannot write: {describe_os_error(exc)}")
    finally:
        if storage.is_remote(job.output) and not storage.is_remote(staged):
            shutil.rmtree(staged.parent, ignore_errors=True)  # the photo's own folder in local_stage
    return dataclasses.replace(result, output=job.output)
