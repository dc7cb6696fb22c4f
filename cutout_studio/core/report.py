"""``cutout-report.csv``: one row per photo, written when its output is in place.

Each run starts the report afresh. Rows are appended and flushed one by one from the thread
that finished the photo, so every output on disk has its row even when the run is stopped
(Ctrl-C) while photos are being finished. Notes of the plan (renamed outputs, duplicates) and
a final "cancelled" line are rows too. A failed write warns once and the run goes on.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from cutout_studio.core.journal import AppendLog, Warn
from cutout_studio.core.scan import REPORT_NAME

__all__ = ["REPORT_NAME", "Report"]


class _Row(Protocol):
    """What a report row reads (read-only, so that frozen results match)."""

    @property
    def source(self) -> Path: ...
    @property
    def status(self) -> str: ...
    @property
    def seconds(self) -> float: ...
    @property
    def message(self) -> str: ...
    @property
    def confidence(self) -> float | None: ...
    @property
    def output(self) -> Path | None: ...
    @property
    def compliance(self) -> str: ...


class Report:
    #: confidence: how much to trust the mask, 0..1 (core.confidence), empty where no mask was made;
    #: compliance: the marketplace check ("ok" or its reasons), empty without a preset
    FIELDS = ("file", "status", "seconds", "message", "confidence", "output", "compliance")

    def __init__(self, path: Path | None, warn: Warn | None = None) -> None:
        self._log = AppendLog(path, what="report", warn=warn, truncate=True) if path is not None else None
        self.path = path if self._write(self.FIELDS) else None

    def _write(self, values: Sequence[str]) -> bool:
        if self._log is None:
            return False
        buffer = io.StringIO()
        csv.writer(buffer).writerow(values)
        return self._log.write(buffer.getvalue())

    def row(self, result: _Row) -> None:
        self._write([str(result.source), result.status, f"{result.seconds:.3f}", result.message,
                     "" if result.confidence is None else f"{result.confidence:.3f}", str(result.output or ""),
                     result.compliance])

    def note(self, text: str) -> None:
        self._write(["", "note", "", text, *[""] * (len(self.FIELDS) - 4)])

    def cancelled(self, left: int) -> None:
        self._write(["", "cancelled", "", f"cancelled, {left} not processed", *[""] * (len(self.FIELDS) - 4)])

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
