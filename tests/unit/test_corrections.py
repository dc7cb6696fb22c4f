"""The corrections set (core/corrections.py): what the editor keeps for personal tuning, and
`cutout-studio corrections list|delete`."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cutout_studio.cli import main
from cutout_studio.core.corrections import MAX_SIDE, CorrectionsSet
from cutout_studio.core.training.data import load_training_sets, read_pair

DATA = Path(__file__).resolve().parents[1] / "data"
PHOTOS = [DATA / f"people-ccp__ccp000{k}.jpg" for k in (1, 3)] + [DATA / "objects-coco__tv02_000000063740.jpg"]


def real_pair(photo: Path) -> tuple[np.ndarray, np.ndarray]:
    return read_pair(photo, photo.with_suffix(".png"))


@pytest.fixture
def corrections(tmp_path: Path) -> CorrectionsSet:
    return CorrectionsSet(tmp_path / "corrections")


def test_keeps_exactly_the_finished_photo_and_mask_in_the_trainers_layout(corrections, tmp_path):
    rgb, mask = real_pair(PHOTOS[0])
    alpha = mask.astype(np.float32) / 255.0
    entry = corrections.add(rgb, alpha, PHOTOS[0], shoot="/shoots/spring")
    photo = cv2.imread(str(corrections.photo_path(entry)))[..., ::-1]
    kept = cv2.imread(str(corrections.mask_path(entry)), cv2.IMREAD_UNCHANGED)
    assert photo.shape == rgb.shape and kept.shape == mask.shape  # small photos are kept at their size
    assert np.array_equal(kept, mask)  # the mask exactly (PNG), the photo as a good JPEG
    assert np.abs(photo.astype(int) - rgb.astype(int)).mean() < 3
    index = json.loads((corrections.root / "index.json").read_text())["photos"]
    assert [(e["source"], e["shoot"]) for e in index] == [(str(PHOTOS[0].resolve()), "/shoots/spring")]
    assert index[0]["date"][:2] == "20"
    # the trainer reads the set as it is, with no val part held out when asked for all pairs
    (trained,) = load_training_sets([corrections.root])
    assert [p for p, _ in (*trained.train, *trained.val)] == [corrections.photo_path(entry)]


def test_big_photos_are_shrunk_and_the_same_photo_finished_again_replaces_its_entry(corrections):
    rgb, mask = real_pair(PHOTOS[1])
    big_rgb = cv2.resize(rgb, (rgb.shape[1] * 4, rgb.shape[0] * 4), interpolation=cv2.INTER_CUBIC)
    big_mask = cv2.resize(mask, (rgb.shape[1] * 4, rgb.shape[0] * 4), interpolation=cv2.INTER_NEAREST)
    first = corrections.add(big_rgb, big_mask, PHOTOS[1])
    assert max(first.width, first.height) == MAX_SIDE
    assert cv2.imread(str(corrections.mask_path(first))).shape[:2] == (first.height, first.width)
    edited = big_mask.copy()
    edited[: edited.shape[0] // 2] = 0  # finished again after more edits
    again = corrections.add(big_rgb, edited, PHOTOS[1])
    assert [e.name for e in corrections.entries()] == [again.name] == [first.name]
    kept = cv2.imread(str(corrections.mask_path(again)), cv2.IMREAD_GRAYSCALE)
    assert kept[: kept.shape[0] // 2 - 1].max() == 0  # the last finished mask is what is kept


def test_delete_and_delete_all_remove_files_and_entries(corrections):
    entries = [corrections.add(*real_pair(p), p) for p in PHOTOS]
    assert len(corrections) == 3 and corrections.size_bytes() > 0
    assert corrections.delete({entries[1].name}) == 1
    assert [e.name for e in corrections.entries()] == [entries[0].name, entries[2].name]
    assert not corrections.photo_path(entries[1]).exists() and not corrections.mask_path(entries[1]).exists()
    assert corrections.clear() == 2
    assert corrections.entries() == [] and corrections.size_bytes() == 0
    assert not any(corrections.images.iterdir()) and not any(corrections.masks.iterdir())


def test_a_mask_of_another_size_is_refused_with_a_reason(corrections):
    rgb, mask = real_pair(PHOTOS[0])
    with pytest.raises(Exception, match="not the photo's size"):
        corrections.add(rgb, mask[:-1], PHOTOS[0])
    assert corrections.entries() == []


def test_cli_lists_and_deletes(capsys):
    corrections = CorrectionsSet()  # the session home's data folder
    corrections.clear()
    entries = [corrections.add(*real_pair(p), p) for p in PHOTOS[:2]]
    assert main(["corrections", "list"]) == 0
    out = capsys.readouterr().out
    assert entries[0].name in out and entries[1].name in out and "2 photo(s)" in out
    assert main(["corrections", "delete", entries[0].name]) == 0
    assert [e.name for e in corrections.entries()] == [entries[1].name]
    with pytest.raises(SystemExit) as exit_info:
        main(["corrections", "delete", "no-such-photo"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "no kept photo named no-such-photo" in err and len(err.splitlines()) == 1
    assert main(["corrections", "delete", "--all"]) == 0
    assert corrections.entries() == []
