"""Does the per-photo confidence rank real errors? Spearman(confidence, MAE) on each set's val part.

For every photo the automatic mask is computed as the editor and the batch compute it, scored
against the ground truth (MAE), and its confidence signals are read
(:mod:`cutout_studio.core.confidence`), with and without the flipped pass. The combination of
the signals is fitted on the *train* parts only (``--fit`` prints the weights to paste into
core/confidence.py); the table reports the *val* parts only, which are never fitted on.

    python bench/bench_confidence.py --train-limit 150          # extract (cached), fit, report
    python bench/bench_confidence.py --select                   # which inputs: 5-fold CV on train
    python bench/bench_confidence.py --fit                      # print the train fit's weights

Per-photo signals are cached in bench/results/confidence_signals.json (keyed by set and name),
so a second run only refits and reports.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Sequence
from pathlib import Path

import common
import cv2
import numpy as np

from cutout_studio.core import confidence as conf
from cutout_studio.core.evaluate import find_pairs
from cutout_studio.core.training.split import split_of

SETS = ("people-ccp", "objects-coco", "davis")
CACHE = common.RESULTS / "confidence_signals.json"
_MAE_FLOOR = 1e-3  # log10 MAE of a near-perfect mask stops here (a 0.0001 MAE is not 10x better)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation, ties given their average rank."""
    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v), dtype=np.float64)
        r[order] = np.arange(len(v), dtype=np.float64)
        for value in np.unique(v):  # average the ranks of ties
            same = v == value
            if same.sum() > 1:
                r[same] = r[same].mean()
        return r
    rx, ry = ranks(np.asarray(x, float)), ranks(np.asarray(y, float))
    rx -= rx.mean()
    ry -= ry.mean()
    return float((rx * ry).sum() / np.sqrt((rx * rx).sum() * (ry * ry).sum()))


def bootstrap(x: np.ndarray, y: np.ndarray, rounds: int = 2000) -> tuple[float, float]:
    """95 % percentile interval of Spearman(x, y) over photos drawn with replacement."""
    rng = np.random.default_rng(0)
    values = []
    for _ in range(rounds):
        pick = rng.integers(0, len(x), len(x))
        if len(set(pick)) > 2:
            values.append(spearman(x[pick], y[pick]))
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def extract(data: Path, train_limit: int, device: str) -> list[dict]:
    """Per-photo MAE, signals and timings (cached); val photos all, train photos spread."""
    import torch

    from cutout_studio.core.image_io import load_image
    from cutout_studio.core.segmenter import Segmenter

    torch.set_num_threads(1)  # a shared machine: one core
    cache: dict[str, dict] = json.loads(CACHE.read_text()) if CACHE.is_file() else {}
    segmenter = Segmenter("default", device=device)
    rows = []
    for set_name in SETS:
        pairs = find_pairs(data / set_name).pairs
        val = [p for p in pairs if split_of(p[0].name) == "val"]
        train = common.spread([p for p in pairs if split_of(p[0].name) == "train"], train_limit)
        for split, chosen in (("val", val), ("train", train)):
            for photo, mask_path in chosen:
                key = f"{set_name}/{photo.name}"
                if key not in cache:
                    cache[key] = _measure(segmenter, load_image(photo).rgb, mask_path)
                    if len(cache) % 25 == 0:
                        CACHE.write_text(json.dumps(cache))
                        print(f"  {len(cache)} photos measured", flush=True)
                rows.append({"set": set_name, "name": photo.name, "split": split, **cache[key]})
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_text(json.dumps(cache))
    return rows


def _measure(segmenter, rgb: np.ndarray, mask_path: Path) -> dict:
    truth = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
    t0 = time.perf_counter()
    lowres = segmenter.predict_lowres([rgb])[0]
    t1 = time.perf_counter()
    flip = conf.flip_disagreement(segmenter, rgb, lowres)
    t2 = time.perf_counter()
    alpha = segmenter.snap(lowres, rgb)
    t3 = time.perf_counter()
    signals = conf.mask_signals(alpha)
    t4 = time.perf_counter()
    return {
        "mae": float(np.mean(np.abs(alpha - truth))),
        "signals": list(conf.as_row(signals))[:-1],
        "flip": flip,
        "ms_model": (t1 - t0) * 1000, "ms_flip": (t2 - t1) * 1000, "ms_snap": (t3 - t2) * 1000,
        "ms_signals": (t4 - t3) * 1000,
    }


def signals_of(row: dict, with_flip: bool) -> conf.ConfidenceSignals:
    return conf.ConfidenceSignals(*row["signals"], flip=row["flip"] if with_flip else None)


def _targets(rows: list[dict]) -> np.ndarray:
    """log10 MAE minus its set's mean over ``rows``: the order within a set is what is fitted."""
    y = np.log10(np.maximum([r["mae"] for r in rows], _MAE_FLOOR))
    sets = np.array([r["set"] for r in rows])
    for name in set(sets):
        y[sets == name] -= y[sets == name].mean()
    return y


def fit(rows: list[dict], names: Sequence[str], ridge: float = 1e-2) -> tuple[dict[str, float], float, float]:
    """Least squares of the centred log10 MAE on the inputs ``names`` (train rows only): the
    weights by name, and the predictions' median and spread (MID, SCALE)."""
    with_flip = "log flip" in names
    x = np.array([[1.0, *(conf.features(signals_of(r, with_flip))[n] for n in names)] for r in rows])
    penalty = ridge * np.eye(x.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    weights = np.linalg.solve(x.T @ x + penalty, x.T @ _targets(rows))
    predicted = x @ weights
    named = {"intercept": float(weights[0]), **{n: float(w) for n, w in zip(names, weights[1:])}}
    return named, float(np.median(predicted)), float(predicted.std() or 1.0)


def cross_validated(rows: list[dict], names: Sequence[str], folds: int = 5) -> list[float]:
    """Spearman per set of a ``folds``-fold cross-validated fit on the train rows (choosing inputs)."""
    order = np.random.default_rng(0).permutation(len(rows))
    predicted = np.zeros(len(rows))
    for held in np.array_split(order, folds):
        rest = [rows[i] for i in sorted(set(range(len(rows))) - set(held))]
        weights, _, _ = fit(rest, names)
        for i in held:
            inputs = conf.features(signals_of(rows[i], "log flip" in names))
            predicted[i] = weights["intercept"] + sum(w * inputs[n] for n, w in weights.items() if n != "intercept")
    return [spearman(-predicted[[i for i, r in enumerate(rows) if r["set"] == s]],
                     np.array([r["mae"] for r in rows if r["set"] == s])) for s in SETS]


def select(rows: list[dict]) -> None:
    """Every subset of the inputs, ranked by its worst set's cross-validated Spearman (train only)."""
    train = [r for r in rows if r["split"] == "train"]
    names = list(conf.features(signals_of(train[0], True)))
    results = []
    for k in range(1, len(names) + 1):
        for subset in itertools.combinations(names, k):
            rho = cross_validated(train, subset)
            results.append((max(rho), subset, rho))
    results.sort(key=lambda item: item[0])
    for label, keep in (("with flip", lambda sub: True), ("mask only", lambda sub: "log flip" not in sub)):
        print(f"best subsets, {label} (5-fold CV on the train parts, ρ per set):")
        for worst, subset, rho in [r for r in results if keep(r[1])][:5]:
            print(f"  {worst:+.3f}  {', '.join(subset)}  ({', '.join(f'{v:+.3f}' for v in rho)})")


def table(rows: list[dict]) -> list[list[object]]:
    """Spearman(confidence, MAE) per set and split, for the core's weights and single signals."""
    out = []
    for set_name in SETS:
        for split in ("train", "val"):
            part = [r for r in rows if r["set"] == set_name and r["split"] == split]
            if len(part) < 3:
                continue
            mae = np.array([r["mae"] for r in part])
            mask_only = np.array([conf.score(signals_of(r, False)) for r in part])
            with_flip = np.array([conf.score(signals_of(r, True)) for r in part])
            flip_alone = -np.array([r["flip"] for r in part])
            band_alone = -np.array([r["signals"][0] for r in part])
            low, high = bootstrap(mask_only, mae)
            out.append([set_name, split, len(part), f"{mae.mean():.4f}", f"{spearman(mask_only, mae):+.3f}",
                        f"{low:+.2f} … {high:+.2f}",
                        f"{spearman(with_flip, mae):+.3f}", f"{spearman(flip_alone, mae):+.3f}",
                        f"{spearman(band_alone, mae):+.3f}"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=common.DEFAULT_DATA)
    parser.add_argument("--train-limit", type=int, default=150, help="train photos per set (spread)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fit", action="store_true", help="print the weights fitted on the train parts")
    parser.add_argument("--select", action="store_true", help="rank subsets of the inputs by CV on the train parts")
    args = parser.parse_args()
    rows = extract(args.data, args.train_limit, args.device)
    if args.select:
        select(rows)
    if args.fit:
        train = [r for r in rows if r["split"] == "train"]
        for label, current in (("MASK", conf.WEIGHTS_MASK), ("FLIP", conf.WEIGHTS_FLIP)):
            weights, mid, scale = fit(train, [n for n in current if n != "intercept"])
            print(f"WEIGHTS_{label} = {{{', '.join(f'{n!r}: {w:.4f}' for n, w in weights.items())}}}")
            print(f"MID_{label}, SCALE_{label} = {mid:.4f}, {scale:.4f}")
    header = ["set", "split", "photos", "mean MAE", "ρ confidence", "95 % interval", "ρ confidence+flip", "ρ flip alone",
              "ρ band alone"]
    rows_out = table(rows)
    common.print_table(header, rows_out)
    ms = {k: float(np.median([r[k] for r in rows])) for k in ("ms_model", "ms_flip", "ms_snap", "ms_signals")}
    print("median ms per photo: " + ", ".join(f"{k[3:]} {v:.1f}" for k, v in ms.items()))
    common.write_results("confidence", {"machine": common.machine_info(), "table": [dict(zip(header, r))
                                                                                   for r in rows_out], "ms": ms})


if __name__ == "__main__":
    main()
