"""--clip-path (issue 13, item 5): the outline as Bézier curves, in an SVG beside the output and
as Photoshop's clipping path inside JPEG, TIFF and PSD files.

The files are read back with the small parsers below (SVG path data; 8BIM image resources
with Adobe's path records), the curves sampled densely and compared with the mask of the
output: the area they enclose (IoU) and the distance between the two outlines.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage
from scipy.spatial import cKDTree

from cutout_studio.cli import build_parser
from cutout_studio.cli_flags import UsageError, export_options_from_args
from cutout_studio.core.errors import ExportError
from cutout_studio.core.export import ExportOptions, export_cutout, render_cutout
from cutout_studio.core.export.clip_path import fit_clip_path, is_our_svg
from cutout_studio.core.image_io import LoadedImage
from cutout_studio.core.options import OptionsError
from cutout_studio.core.recipes import load_recipe, options_from_layers, save_recipe
from tests.unit.format_files import DATA, WITH_HOLES, photo_with_metadata

Bezier = np.ndarray  # 4×2: start, two control points, end (x, y in output pixels)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadedImage, np.ndarray]:
    return photo_with_metadata(tmp_path_factory.mktemp("photo"), WITH_HOLES, soft=False)


# --- the parsers ------------------------------------------------------------------------------


def svg_subpaths(text: str) -> tuple[tuple[int, int], list[list[Bezier]]]:
    """(width, height) and the subpaths of the one path of an SVG made of M, C and Z commands."""
    size = (int(re.search(r'width="(\d+)"', text)[1]), int(re.search(r'height="(\d+)"', text)[1]))
    assert re.search(r'viewBox="0 0 (\d+) (\d+)"', text).groups() == tuple(map(str, size))
    data = re.search(r' d="([^"]*)"', text)[1]
    subpaths: list[list[Bezier]] = []
    for command, numbers in re.findall(r"([MCZ])([^MCZ]*)", data):
        values = [float(v) for v in numbers.split()]
        if command == "M":
            current = np.array(values, float)
            subpaths.append([])
        elif command == "C":
            for k in range(0, len(values), 6):
                points = np.array(values[k : k + 6], float).reshape(3, 2)
                subpaths[-1].append(np.vstack([current, points]))
                current = points[-1]
        else:
            assert np.allclose(current, subpaths[-1][0][0], atol=0.01)  # closed where it began
    return size, subpaths


def resource_blocks(data: bytes) -> dict[int, tuple[bytes, bytes]]:
    """{id: (name, data)} of a run of 8BIM image resource blocks."""
    blocks, at = {}, 0
    while at < len(data):
        assert data[at : at + 4] == b"8BIM", data[at : at + 4]
        (ident,) = struct.unpack(">H", data[at + 4 : at + 6])
        name = data[at + 7 : at + 7 + data[at + 6]]
        at += 6 + (1 + len(name) + 1) // 2 * 2
        (size,) = struct.unpack(">I", data[at : at + 4])
        blocks[ident] = (name, data[at + 4 : at + 4 + size])
        at += 4 + size + size % 2
    return blocks


def photoshop_subpaths(resources: bytes, width: int, height: int) -> list[list[Bezier]]:
    """The clipping path's subpaths: resource 2999 names the path; its records are 26 bytes:
    a selector, then for a knot three (vertical, horizontal) points in 8.24 fixed point,
    fractions of the image's height and width."""
    blocks = resource_blocks(resources)
    clipping = blocks[2999][1]
    name = clipping[1 : 1 + clipping[0]]
    path = next(data for ident, (named, data) in blocks.items() if 2000 <= ident < 2998 and named == name)
    assert len(path) % 26 == 0
    subpaths, knots, expected = [], [], 0
    for at in range(0, len(path), 26):
        (selector,) = struct.unpack(">H", path[at : at + 2])
        if selector == 0:  # a closed subpath: its number of knots
            (expected,) = struct.unpack(">H", path[at + 2 : at + 4])
            knots = []
        elif selector in (1, 2):  # a closed subpath's knot: before, anchor, after
            v = np.array(struct.unpack(">6i", path[at + 2 : at + 26]), float) / (1 << 24)
            knots.append(v.reshape(3, 2)[:, ::-1] * (width, height))
            if len(knots) == expected:
                subpaths.append([np.array([knots[i][1], knots[i][2], knots[(i + 1) % len(knots)][0],
                                           knots[(i + 1) % len(knots)][1]]) for i in range(len(knots))])
        else:
            assert selector in (6, 8)  # fill rule records; no open subpaths in a cutout's outline
    return subpaths


def jpeg_app13(data: bytes) -> bytes:
    """The Photoshop resources of a JPEG's APP13 segments, concatenated."""
    resources, at = b"", 2
    while data[at] == 0xFF and data[at + 1] != 0xDA:  # up to the scan
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        body = data[at + 4 : at + 2 + length]
        if data[at + 1] == 0xED and body.startswith(b"Photoshop 3.0\0"):
            resources += body[14:]
        at += 2 + length
    return resources


def psd_resources(data: bytes) -> bytes:
    (colour_mode,) = struct.unpack(">I", data[26:30])
    at = 30 + colour_mode
    (size,) = struct.unpack(">I", data[at : at + 4])
    return data[at + 4 : at + 4 + size]


# --- comparing outlines -----------------------------------------------------------------------


def sample(subpath: list[Bezier], per_curve: int = 64) -> np.ndarray:
    u = np.linspace(0, 1, per_curve, endpoint=False)[:, None]
    basis = np.hstack([(1 - u) ** 3, 3 * u * (1 - u) ** 2, 3 * u**2 * (1 - u), u**3])
    return np.vstack([basis @ bezier for bezier in subpath])


def check_outline(subpaths: list[list[Bezier]], mask: np.ndarray, tolerance: float) -> int:
    """The path encloses the mask (alpha ≥ 0.5; IoU ≥ 0.99) and keeps within tolerance + 1 px of
    its outline (pixel centres) both ways; every hole of the mask stays a hole. Returns the
    number of hole pixels checked."""
    inside = mask >= 128
    polygons = [sample(sub) for sub in subpaths]
    drawn = np.zeros(mask.shape, np.uint8)  # filled even-odd: holes are subpaths of their own
    cv2.fillPoly(drawn, [np.rint((p - 0.5) * 16).astype(np.int32) for p in polygons], 1, cv2.LINE_8, shift=4)
    filled = drawn.astype(bool)
    iou = (inside & filled).sum() / (inside | filled).sum()
    assert iou >= 0.99, iou

    contours, hierarchy = cv2.findContours(inside.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    outline = np.vstack([c[:, 0, :] for c in contours]).astype(float) + 0.5
    curve = np.vstack(polygons)
    assert cKDTree(outline).query(curve)[0].max() <= tolerance + 1
    assert cKDTree(curve).query(outline)[0].max() <= tolerance + 1

    # the path may cut up to the tolerance into a hole, but never fills it: the hole's pixels
    # further than that from the subject stay outside
    holes = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(holes, [c for c, h in zip(contours, hierarchy[0]) if h[3] >= 0], -1, 1, thickness=-1)
    away = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 5) > tolerance + 1
    deep_in_holes = holes.astype(bool) & away
    assert not filled[deep_in_holes].any()
    return int(deep_in_holes.sum())


# --- the tests --------------------------------------------------------------------------------


def test_svg_beside_the_output_follows_the_outline_and_keeps_the_holes(
    source: tuple[LoadedImage, np.ndarray], tmp_path: Path
) -> None:
    image, alpha = source
    options = ExportOptions(clip_path=True)
    path = export_cutout(image, alpha, tmp_path / "cut.png", options)
    svg = tmp_path / "cut.svg"
    (width, height), subpaths = svg_subpaths(svg.read_text(encoding="utf-8"))
    assert (width, height) == (image.width, image.height)
    mask = np.asarray(Image.open(path))[..., 3]
    holes = int((cv2.findContours((mask >= 128).astype(np.uint8), cv2.RETR_CCOMP,
                                  cv2.CHAIN_APPROX_NONE)[1][0][:, 3] >= 0).sum())
    assert holes >= 2 and len(subpaths) >= 1 + holes
    assert check_outline(subpaths, mask, 1.0) >= 20  # hole pixels that must stay outside
    # curves, not the pixel outline: far fewer knots than outline pixels
    assert sum(len(s) for s in subpaths) < 0.2 * sum(len(c) for c in cv2.findContours(
        (mask >= 128).astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)[0])


@pytest.mark.parametrize("kind", ["jpeg", "tiff", "psd"])
def test_the_embedded_clipping_path_is_the_svg_path(
    source: tuple[LoadedImage, np.ndarray], tmp_path: Path, kind: str
) -> None:
    """After crop, padding and square canvas: the path is the output's, in both places."""
    image, alpha = source
    options = ExportOptions(format=kind, background="white" if kind == "jpeg" else None, crop=True, padding=25,
                            square=True, clip_path=True, clip_path_tolerance=1.5)
    path = export_cutout(image, alpha, tmp_path / "cut", options)
    mask = render_cutout(image, alpha, ExportOptions(output="mask", crop=True, padding=25, square=True)).pixels
    height, width = mask.shape
    assert width == height
    data = path.read_bytes()
    if kind == "jpeg":
        resources = jpeg_app13(data)
    elif kind == "tiff":
        with Image.open(path) as im:
            resources = im.tag_v2[34377]
    else:
        resources = psd_resources(data)
        assert PSDImage.open(path).image_resources.get_data(2999) is not None  # psd-tools sees it too
    with Image.open(path) as im:
        assert im.size == (width, height)
    embedded = photoshop_subpaths(resources, width, height)
    check_outline(embedded, mask, 1.5)
    (size, from_svg) = svg_subpaths(path.with_suffix(".svg").read_text(encoding="utf-8"))
    assert size == (width, height) and len(from_svg) == len(embedded)
    for a, b in zip(from_svg, embedded):
        assert np.abs(np.array(a) - np.array(b)).max() < 0.01  # the SVG rounds to 1/100 px


def test_the_tolerance_trades_curves_for_closeness(source: tuple[LoadedImage, np.ndarray]) -> None:
    image, alpha = source
    mask = np.rint(alpha * 255).astype(np.uint8)
    counts = []
    for tolerance in (0.5, 3.0):
        fitted = fit_clip_path(mask, tolerance)
        subpaths = [list(sub.beziers) for sub in fitted.subpaths]
        counts.append(sum(len(s) for s in subpaths))
        outline = np.vstack([c[:, 0, :] for c in cv2.findContours(
            (mask >= 128).astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)[0]]) + 0.5
        assert cKDTree(outline).query(np.vstack([sample(s) for s in subpaths]))[0].max() <= tolerance + 1
    assert counts[1] < counts[0] / 2


def test_no_clip_path_no_svg(source: tuple[LoadedImage, np.ndarray], tmp_path: Path) -> None:
    image, alpha = source
    path = export_cutout(image, alpha, tmp_path / "cut.jpg", ExportOptions(format="jpeg", background="white"))
    assert not path.with_suffix(".svg").exists() and b"Photoshop 3.0" not in path.read_bytes()
    # a mask output is the outline's raster already: no path beside it (nor fitted for the
    # marketplace check, which renders the mask of the same options)
    options = ExportOptions(output="mask", clip_path=True)
    assert render_cutout(image, alpha, options).clip_path is None
    mask = export_cutout(image, alpha, tmp_path / "mask.png", options)
    assert not mask.with_suffix(".svg").exists()


def test_the_svg_follows_its_output(source: tuple[LoadedImage, np.ndarray], tmp_path: Path) -> None:
    """The sidecar belongs to the output: a file of its name that is not ours is in the way (one
    line naming it, nothing written) unless the output is overwritten; one of our own sidecars,
    left beside a new name, is replaced."""
    image, alpha = source
    (tmp_path / "cut.svg").write_text("mine")
    with pytest.raises(ExportError, match=r"^cut.svg: is in the way of cut.png's clipping path \(not one of ours\)"):
        export_cutout(image, alpha, tmp_path / "cut.png", ExportOptions(clip_path=True))
    assert (tmp_path / "cut.svg").read_text() == "mine" and not (tmp_path / "cut.png").exists()
    export_cutout(image, alpha, tmp_path / "cut.png", ExportOptions(clip_path=True, overwrite=True))
    ours = (tmp_path / "cut.svg").read_text()
    assert ours.startswith("<?xml") and is_our_svg(tmp_path / "cut.svg")
    # the output deleted (or exported as another format), our old sidecar left: replaced, no overwrite
    (tmp_path / "cut.png").unlink()
    (tmp_path / "cut.svg").write_text(ours.replace('width="', 'width="1', 1))  # an outdated one of ours
    export_cutout(image, alpha, tmp_path / "cut.jpg", ExportOptions(format="jpeg", background="white",
                                                                    clip_path=True))
    assert (tmp_path / "cut.svg").read_text() == ours
    assert not is_our_svg(tmp_path / "missing.svg")
    (tmp_path / "edited.svg").write_text(ours.replace("</svg>", "<text>notes</text></svg>"))
    assert not is_our_svg(tmp_path / "edited.svg")  # someone's own work now: never replaced silently


def test_options_flags_and_recipes_carry_the_clip_path(tmp_path: Path) -> None:
    with pytest.raises(OptionsError, match="clip path tolerance must be 0.1 to 20 px, got 0"):
        ExportOptions(clip_path=True, clip_path_tolerance=0)
    args = build_parser().parse_args(["cut", "x.jpg", "--format", "TIF", "--clip-path",
                                      "--clip-path-tolerance", "2.5"])
    from_flags = export_options_from_args(args)
    assert (from_flags.format, from_flags.clip_path, from_flags.clip_path_tolerance) == ("tiff", True, 2.5)
    bad = build_parser().parse_args(["cut", "x.jpg", "--clip-path-tolerance", "99"])
    with pytest.raises(UsageError, match="clip path tolerance"):
        export_options_from_args(bad)

    recipe = save_recipe(tmp_path / "shoot.toml", from_flags)
    text = recipe.read_text(encoding="utf-8")
    assert "clip_path = true" in text and "clip_path_tolerance = 2.5" in text
    assert options_from_layers(load_recipe(recipe)) == from_flags
    # a flag given beside the recipe wins
    args = build_parser().parse_args(["cut", "x.jpg", "--recipe", str(recipe), "--no-clip-path"])
    assert export_options_from_args(args).clip_path is False


def test_a_path_over_64_kb_continues_in_further_app13_segments(tmp_path: Path) -> None:
    """A speckled mask (the texture of a real photo, thresholded) makes thousands of knots: more
    than one JPEG segment holds. Readers concatenate the segments' resources."""
    photo, _ = photo_with_metadata(tmp_path, "objects-coco__tv02_000000063740")
    image = LoadedImage(rgb=np.ascontiguousarray(photo.rgb[:320]))  # enough, and quick
    grey = cv2.cvtColor(image.rgb, cv2.COLOR_RGB2GRAY)
    alpha = (grey > np.median(grey)).astype(np.float32)
    options = ExportOptions(format="jpeg", background="white", clip_path=True, clip_path_tolerance=0.5)
    path = export_cutout(image, alpha, tmp_path / "speckled.jpg", options)
    data = path.read_bytes()
    segments = re.findall(rb"\xff\xed..Photoshop 3\.0\x00", data, re.DOTALL)
    assert len(segments) == data.count(b"Photoshop 3.0\0") >= 2
    subpaths = photoshop_subpaths(jpeg_app13(data), image.width, image.height)
    outlines = cv2.findContours(alpha.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)[0]
    assert len(subpaths) == sum(len(c) >= 3 for c in outlines)  # every outline but single pixels
    assert sum(len(s) for s in subpaths) * 26 > 65536
    with Image.open(path) as im:  # still an ordinary JPEG
        im.load()
        assert im.size == (image.width, image.height)


def test_batch_writes_tiff_psd_and_their_paths_end_to_end(model_home: Path, tmp_path: Path) -> None:
    """The command line, the model and the batch: a TIFF and a PSD run, each with its SVG and
    the same path inside."""
    from cutout_studio.cli import main

    photos = tmp_path / "shoot"
    photos.mkdir()
    (photos / "hydrant.jpg").write_bytes((DATA / "objects-coco__fire_hydrant02_000000020107.jpg").read_bytes())
    for kind in ("tif", "psd"):
        out = tmp_path / kind
        assert main(["batch", str(photos), "-o", str(out), "--format", kind, "--clip-path", "--crop"]) == 0
        written = out / f"hydrant.{kind}"
        with Image.open(written) as im:
            size = im.size
            resources = psd_resources(written.read_bytes()) if kind == "psd" else im.tag_v2[34377]
        (width, height), subpaths = svg_subpaths((out / "hydrant.svg").read_text(encoding="utf-8"))
        assert (width, height) == size and len(subpaths) >= 1
        assert len(photoshop_subpaths(resources, width, height)) == len(subpaths)
