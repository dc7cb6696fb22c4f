"""The one output planner: every photo of a run gets its own output path before anything is written.

Used by ``batch``, ``cut`` and the editor's Export all. The inputs are scanned once
(:mod:`scan`: duplicates and outputs of ours left out), then each photo is mapped to a path:

- a single input folder's tree is mirrored directly under the output folder; with several
  input folders each gets a subfolder of its name (``photos``, ``photos_2`` when two differ
  only by their parents); loose files go into the output folder itself;
- with no output folder (``cut`` without ``-o``) each output goes beside its photo;
- a name is never given twice in a run, never names an input photo, and never takes an output
  that the manifest says belongs to another photo. Outputs the manifest gives to this photo
  keep their names across runs (so resume finds them); the others are resolved in input order:
  the first photo gets ``NAME.png``, a photo of the same name and folder but another type gets
  ``NAME_jpg.png``, any other namesake ``NAME_2.png``, ``NAME_3.png``… Each such rename is a
  note of the plan, shown in the summary and written to the report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cutout_studio.core.export import ExportOptions, output_stem, output_suffix
from cutout_studio.core.manifest import Manifest
from cutout_studio.core.scan import scan_inputs
from cutout_studio.core.storage import location


@dataclass(frozen=True)
class BatchJob:
    source: Path
    output: Path
    root: Path  #: the output folder whose manifest and lock cover this output


@dataclass
class Plan:
    jobs: list[BatchJob] = field(default_factory=list)
    manifests: dict[Path, Manifest] = field(default_factory=dict)  #: by output root
    notes: list[str] = field(default_factory=list)  #: renames, duplicates, outputs left out

    @property
    def roots(self) -> list[Path]:
        return list(self.manifests)


def plan_outputs(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str] | None,
    options: ExportOptions,
    *,
    name_suffix: str = "",
) -> Plan:
    """Map every photo the inputs name to a unique output path (nothing is written)."""
    # a URL's locations are UrlPaths (core.storage): the same planning, through fsspec
    out_root = location(out_dir).expanduser().resolve() if out_dir is not None else None
    suffix = output_suffix(options)
    plates = [options.clean_plate] if options.clean_plate is not None else []
    scan = scan_inputs(inputs, exclude=out_root, plates=plates)
    plan = Plan()
    roots = [root for root in dict.fromkeys(r for r, _ in scan.photos) if root is not None]
    bases = _folder_bases(roots, out_root)
    wanted: list[tuple[Path, Path, Path]] = []  # (source, wanted output, output root)
    for root, photo in scan.photos:
        if out_root is None:
            folder = photo.expanduser().resolve().parent
            wanted.append((photo, folder / photo.name, folder))
        elif root is None:
            wanted.append((photo, out_root / photo.name, out_root))
        else:
            wanted.append((photo, bases[root] / photo.relative_to(root), out_root))
    for _, _, root in wanted:
        if root not in plan.manifests:
            plan.manifests[root] = Manifest.load(root)

    taken: dict[Path, Path] = {photo.resolve(): photo.resolve() for _, photo in scan.photos}
    # first the outputs the manifest already gives to these photos, so that they keep them
    sticky: dict[int, Path] = {}
    for index, (photo, like, root) in enumerate(wanted):
        default = _named(like, like.stem, options, name_suffix, suffix)
        for candidate in (default, _typed(like, options, name_suffix, suffix)):
            owner = plan.manifests[root].owner(candidate)
            if owner is not None and owner == photo.resolve() and candidate not in taken:
                sticky[index] = candidate
                taken[candidate] = photo.resolve()
                break
    for index, (photo, like, root) in enumerate(wanted):
        output = sticky.get(index) or _free_name(photo, like, options, name_suffix, suffix, taken,
                                                 plan.manifests[root])
        taken[output] = photo.resolve()
        plan.jobs.append(BatchJob(photo, output, root))
        if output.stem != f"{output_stem(options, like.stem)}{name_suffix}":
            plan.notes.append(f"{photo}: another photo has the same name; its output is {output.name}")
    if scan.duplicates:
        names = ", ".join(str(p) for p in scan.duplicates[:3]) + (" …" if len(scan.duplicates) > 3 else "")
        plan.notes.append(f"{len(scan.duplicates)} input(s) named twice, cut once: {names}")
    if scan.own_outputs:
        names = ", ".join(p.name for p in scan.own_outputs[:3]) + (" …" if len(scan.own_outputs) > 3 else "")
        plan.notes.append(f"{len(scan.own_outputs)} file(s) are outputs of ours and were left out: {names}")
    for plate in scan.plates:
        plan.notes.append(f"{plate.name}: the clean plate, not cut")
    return plan


def _named(like: Path, stem: str, options: ExportOptions, name_suffix: str, suffix: str) -> Path:
    """``like``'s output for the (possibly disambiguated) photo name ``stem``: the preset's
    naming pattern is applied to the disambiguated name (shoe_2_cutout.png, not shoe_cutout_2)."""
    return like.with_name(f"{output_stem(options, stem)}{name_suffix}{suffix}")


def _typed(like: Path, options: ExportOptions, name_suffix: str, suffix: str) -> Path:
    kind = like.suffix.lstrip(".").lower()
    return _named(like, f"{like.stem}_{kind}", options, name_suffix, suffix)


def _free_name(photo: Path, like: Path, options: ExportOptions, name_suffix: str, suffix: str,
               taken: dict[Path, Path], manifest: Manifest) -> Path:
    source = photo.resolve()

    def free(candidate: Path) -> bool:
        # a name the manifest gives to a photo that no longer exists (moved or deleted) is free
        owner = manifest.owner(candidate)
        return candidate not in taken and (owner is None or owner == source or not owner.exists())

    default = _named(like, like.stem, options, name_suffix, suffix)
    if free(default):
        return default
    holder = taken.get(default) or manifest.owner(default) or default
    if holder.parent == source.parent and holder.stem == source.stem:
        typed = _typed(like, options, name_suffix, suffix)  # photo.jpg beside photo.png: named by type
        if free(typed):
            return typed
    n = 2
    while True:
        candidate = _named(like, f"{like.stem}_{n}", options, name_suffix, suffix)
        if free(candidate):
            return candidate
        n += 1


def _folder_bases(roots: list[Path], out_root: Path | None) -> dict[Path, Path]:
    """Where each input folder's tree goes: the output folder itself for one input folder, a
    subfolder of the folder's name (made unique) for several."""
    if out_root is None:
        return {root: root for root in roots}
    if len(roots) <= 1:
        return {root: out_root for root in roots}
    bases: dict[Path, Path] = {}
    used: set[str] = set()
    for root in roots:
        name, n = root.name or "root", 2
        while name.lower() in used:
            name, n = f"{root.name}_{n}", n + 1
        used.add(name.lower())
        bases[root] = out_root / name
    return bases
