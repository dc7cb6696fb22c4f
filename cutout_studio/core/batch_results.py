"""What a batch run reports: each file's result, the progress events and the summary, the
statuses, and the checks that turn a written file into a warning. Shared by the batch
(:mod:`batch`), its report, the command line and the editor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.image_io import LoadedImage

#: done: written; warning: written, but look at it (an empty result); skipped: its own output is
#: up to date; stale: an output is there, made with other settings (kept: redo with overwrite)
Status = Literal["done", "warning", "skipped", "stale", "failed"]
CancelFlag = threading.Event | Callable[[], bool] | None


@dataclass(frozen=True)
class PreparedPhoto:
    """A photo the editor has masked already: written from these pixels, without the model."""

    image: LoadedImage
    alpha: np.ndarray
    edited: bool = False  #: edited by hand: its output is not what a batch would make


#: the editor's masked photos, by resolved path
Prepared = Mapping[Path, PreparedPhoto]
#: photos with edge settings of their own (the editor's per-photo settings), by resolved path
OwnEdges = Mapping[Path, EdgeOptions]

#: the "model" of an output whose mask was edited by hand (in the manifest's fingerprint)
EDITED = "edited in the editor"

# An empty result is not "done" (issue 8, case 10). A cutout whose mask keeps under 1 % of the
# photo is a speck, not a product: on the people set no subject covers under 15 % of the frame,
# on DAVIS 2 of 173 frames fall under 1 %, and on COCO scenes (small objects in street photos,
# not product shots) 16 %. The output is still written, with status "warning" and the reason.
MIN_SUBJECT_SHARE = 0.01
# The model sees a photo at 320x320: a side under 32 px is stretched 10x or more, and what
# comes out says nothing about the photo (3x3 and 10000x10 photos came out fully transparent).
MIN_SIDE = 32


@dataclass(frozen=True)
class FileResult:
    source: Path
    output: Path | None
    status: Status
    seconds: float
    message: str = ""
    compliance: str = ""  #: the marketplace check: "ok" or its reasons; "" without a preset
    confidence: float | None = None  #: of the mask written (core.confidence); None: no mask made


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
    warning: int = 0
    skipped: int = 0
    stale: int = 0
    failed: int = 0
    cancelled: bool = False
    report: Path | None = None
    notes: list[str] = field(default_factory=list)  #: the plan's: renamed outputs, duplicates, …

    def add(self, result: FileResult) -> None:
        setattr(self, result.status, getattr(self, result.status) + 1)

    @property
    def processed(self) -> int:
        return self.done + self.warning + self.skipped + self.stale + self.failed

    def lines(self) -> list[str]:
        """What every front shows at the end: the counts, then what the user may want to do."""
        counts = f"{self.done} done"
        if self.warning:
            counts += f", {self.warning} with warnings"
        counts += f", {self.skipped} skipped (already done)"
        if self.stale:
            counts += f", {self.stale} stale"
        counts += f", {self.failed} failed"
        if self.report:
            counts += f"; report: {self.report}"
        lines = [counts]
        if self.stale:
            lines.append(f"{self.stale} output(s) were made with other settings (or from an earlier version of "
                         "the photo) and were kept: pass --overwrite to redo them")
        if self.cancelled:
            lines.append(f"cancelled, {self.total - self.processed} not processed")
        return lines


def quality_warning(alpha: np.ndarray) -> str:
    """Why this result should be looked at before use ("" when it looks like a cutout)."""
    height, width = alpha.shape[:2]
    if min(height, width) < MIN_SIDE:
        return f"the photo is only {width}x{height} px: too small for the model to find a subject"
    # every 4th pixel both ways: 1/16 of the work, plenty to tell 1 % apart
    share = float(np.count_nonzero(alpha[::4, ::4] >= 0.5)) / alpha[::4, ::4].size
    if share < MIN_SUBJECT_SHARE:
        return f"the mask kept {share * 100:.1f} % of the photo: the cutout is (almost) empty"
    return ""
