"""The one atomic write (cutout_studio.core.atomic) and its users: settings and model weights."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from cutout_studio.core.atomic import atomic_write, atomic_write_bytes
from cutout_studio.core.models import weights
from cutout_studio.core.models.cards import get_card


def test_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "record.json"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["record.json"]


def test_without_overwrite_an_existing_file_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "a.png"
    target.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        atomic_write(target, lambda stream: stream.write(b"theirs"), overwrite=False)
    assert target.read_bytes() == b"mine" and [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    target.write_bytes(b"old")

    def half_then_fail(stream) -> None:
        stream.write(b"ne")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_the_data_is_synced_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    atomic_write_bytes(tmp_path / "x", b"data")
    assert calls == (["fsync", "replace", "fsync"] if os.name == "posix" else ["fsync", "replace"])


def test_installed_weights_and_their_record_are_written_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The weights file and its JSON record go through the atomic write (the record was written
    in place, and neither was synced): a failure writing the record leaves the old one whole."""
    monkeypatch.setenv("CUTOUT_STUDIO_HOME", str(tmp_path))
    card = get_card("u2netp")
    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    first = weights._save(card, state, {"source": "test"})
    record_path = first.path.with_suffix(".json")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    assert record["sha256"] == weights.sha256_of(first.path) == first.sha256
    assert sorted(p.name for p in first.path.parent.iterdir()) == sorted([first.path.name, record_path.name])

    before = record_path.read_bytes()
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith(".json"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        weights._save(card, {"w": torch.zeros(2, 3)}, {"source": "again"})
    assert record_path.read_bytes() == before  # never half a record
    assert sorted(p.name for p in first.path.parent.iterdir()) == sorted([first.path.name, record_path.name])
