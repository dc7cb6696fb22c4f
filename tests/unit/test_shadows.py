"""Shadows (issue 13, item 1): contact, drop and the photo's own shadow kept, drawn under the
cutout on real photos; a PSD layer; the canvas holds the shadow; flags and recipes agree."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage

from cutout_studio.cli import UsageError, build_parser, export_options_from_args
from cutout_studio.core.export import ExportOptions, export_cutout, render_cutout
from cutout_studio.core.export.compliance import check_compliance
from cutout_studio.core.export.shadow import ShadowOptions, compute_shadow
from cutout_studio.core.image_io import LoadedImage, load_image
from cutout_studio.core.recipes import load_recipe, options_from_layers, recipe_text

DATA = Path(__file__).resolve().parents[1] / "data"
TEDDY = "objects-coco__teddy_bear04_000000325527"  # sits on a box, its real shadow beside it
PERSON = "people-ccp__ccp0001"  # stands on the ground
HYDRANT = "objects-coco__fire_hydrant02_000000020107"


def photo(name: str) -> tuple[LoadedImage, np.ndarray]:
    alpha = np.asarray(Image.open(DATA / f"{name}.png").convert("L"), np.float32) / 255
    return load_image(DATA / f"{name}.jpg"), alpha


def subject_box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(alpha > 0.5)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def darkening(image: LoadedImage, alpha: np.ndarray, **shadow: object) -> np.ndarray:
    """How much a shadow darkens each pixel of a white-background JPEG-free render (0..255)."""
    plain = render_cutout(image, alpha, ExportOptions(format="png", background="white")).pixels
    shaded = render_cutout(image, alpha, ExportOptions(format="png", background="white", **shadow)).pixels  # type: ignore[arg-type]
    change = plain.astype(int) - shaded.astype(int)
    assert change.min() >= 0  # a shadow only darkens
    assert (change[alpha == 1] == 0).all()  # the subject's pixels are unchanged
    return change.max(axis=2)


@pytest.mark.parametrize("name", [TEDDY, PERSON])
def test_contact_shadow_is_under_the_base_only(name: str) -> None:
    image, alpha = photo(name)
    change = darkening(image, alpha, shadow="contact")
    x0, y0, x1, y1 = subject_box(alpha)
    tall = y1 - y0
    below = change[y1 : y1 + max(3, tall // 30), x0:x1]
    assert below.mean() > 20  # grounded: dark right under the base
    assert change[: y0 + tall // 2].max() == 0  # nothing beside the head or above
    outside = alpha < 0.02
    assert change[outside].max() > 60 and (change[~outside & (alpha < 1)] >= 0).all()


@pytest.mark.parametrize("name", [TEDDY, PERSON])
@pytest.mark.parametrize(("angle", "side"), [(0, 1), (180, -1)])
def test_drop_shadow_falls_along_its_angle(name: str, angle: float, side: int) -> None:
    image, alpha = photo(name)
    change = darkening(image, alpha, shadow="drop", shadow_angle=angle, shadow_distance=10)
    x0, _y0, x1, _y1 = subject_box(alpha)
    ys, xs = np.nonzero(change > 10)
    centre = (x0 + x1) / 2
    assert side * (xs.mean() - centre) > 0.03 * (x1 - x0)  # darker on the side the shadow falls
    beyond = change[:, x1 + 2 :] if side > 0 else change[:, : max(0, x0 - 2)]
    assert beyond.max() > 30


def test_transparent_output_holds_the_shadow_as_black_under_the_cutout() -> None:
    image, alpha = photo(TEDDY)
    plain = render_cutout(image, alpha, ExportOptions(format="png")).pixels
    rgba = render_cutout(image, alpha, ExportOptions(format="png", shadow="drop", shadow_opacity=0.5,
                                                      shadow_angle=90, shadow_distance=15)).pixels
    opaque = alpha == 1
    np.testing.assert_array_equal(rgba[opaque], plain[opaque])
    shadowed = (alpha == 0) & (rgba[..., 3] > 0)
    assert shadowed.sum() > 500
    assert (rgba[..., :3][shadowed] == 0).all()  # black
    assert rgba[..., 3][shadowed].max() <= 128  # at most the opacity asked for
    mask_plain = render_cutout(image, alpha, ExportOptions(output="mask")).pixels
    mask_shadow = render_cutout(image, alpha, ExportOptions(output="mask", shadow="drop")).pixels
    np.testing.assert_array_equal(mask_plain, mask_shadow)  # the shadow is never in the mask


def synthetic_shoot(seed: int = 0) -> tuple[LoadedImage, np.ndarray, np.ndarray]:
    """A tests/data cutout on a light backdrop (a gentle gradient, noise) with a known shadow:
    a soft ellipse beside its base darkening the backdrop by up to 45 %."""
    cut, alpha = photo(HYDRANT)
    height, width = alpha.shape
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 18, width, dtype=np.float32)[None, :, None]
    backdrop = np.float32([228, 224, 216]) - ramp + rng.normal(0, 2.0, (height, width, 3)).astype(np.float32)
    x0, _y0, x1, y1 = subject_box(alpha)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy, rx, ry = x1 + 0.1 * (x1 - x0), y1 - 6, 0.6 * (x1 - x0), 0.06 * height
    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    truth = (0.45 * np.clip(1.3 - inside, 0, 1) / 1.3).astype(np.float32)
    truth = cv2.GaussianBlur(truth, (0, 0), 3)
    shaded = backdrop * (1 - truth[..., None])
    rgb = cut.rgb.astype(np.float32) * alpha[..., None] + shaded * (1 - alpha[..., None])
    image = LoadedImage(rgb=np.ascontiguousarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8)))
    return image, alpha, truth


def test_keep_finds_the_photos_own_shadow() -> None:
    image, alpha, truth = synthetic_shoot()
    shadow = compute_shadow(image.rgb, alpha, ShadowOptions("keep"))
    assert shadow is not None
    found = np.zeros_like(truth)
    window = shadow.window((0, 0, alpha.shape[1], alpha.shape[0]))
    assert window is not None
    found[window[1]] = shadow.opacity[window[0]]
    backdrop = alpha < 0.02
    true_region, found_region = (truth > 0.1) & backdrop, (found > 0.1) & backdrop
    iou = (true_region & found_region).sum() / (true_region | found_region).sum()
    assert iou >= 0.6, iou
    assert np.corrcoef(truth[backdrop], found[backdrop])[0, 1] > 0.8
    elsewhere = backdrop & (cv2.dilate((truth > 0.01).astype(np.uint8), np.ones((15, 15), np.uint8)) == 0)
    assert found[elsewhere].mean() < 0.01 and np.percentile(found[elsewhere], 99.5) < 0.05
    # kept, the cutout's alpha is unchanged and the shadow is a layer under it
    plain = render_cutout(image, alpha, ExportOptions(format="png")).pixels
    kept = render_cutout(image, alpha, ExportOptions(format="png", shadow="keep")).pixels
    np.testing.assert_array_equal(kept[alpha == 1], plain[alpha == 1])
    assert kept[..., 3][true_region & (truth > 0.3)].mean() > 0.2 * 255


def test_keep_finds_the_teddys_shadow_on_the_box() -> None:
    """The teddy sits on a box in side light: its real shadow lies on the box right under it."""
    image, alpha = photo(TEDDY)
    shadow = compute_shadow(image.rgb, alpha, ShadowOptions("keep"))
    assert shadow is not None
    found = np.zeros(alpha.shape, np.float32)
    src, dst = shadow.window((0, 0, image.width, image.height))  # type: ignore[misc]
    found[dst] = shadow.opacity[src]
    x0, y0, x1, y1 = subject_box(alpha)
    under = found[y1 : y1 + 4, (x0 + x1) // 2 : x1][alpha[y1 : y1 + 4, (x0 + x1) // 2 : x1] < 0.02]
    assert under.mean() > 0.2
    assert found[: y0 + (y1 - y0) // 2].max() == 0  # nothing beside its head: the wall is not its shadow


def test_psd_has_the_shadow_layer_between_the_background_and_the_cutout(tmp_path: Path) -> None:
    image, alpha = photo(TEDDY)
    options = ExportOptions(format="psd", background="white", shadow="contact")
    psd = PSDImage.open(export_cutout(image, alpha, tmp_path / "teddy", options))
    assert [layer.name for layer in psd] == ["Background", "Photo", "Shadow", "Cutout"]
    layer = np.asarray(psd[2].topil())
    shadow = compute_shadow(image.rgb, alpha, options.shadow_options)
    assert shadow is not None
    expected = np.zeros(alpha.shape, np.float32)
    src, dst = shadow.window((0, 0, image.width, image.height))  # type: ignore[misc]
    expected[dst] = shadow.opacity[src]
    assert np.abs(layer[..., 3].astype(int) - np.rint(expected * 255)).max() <= 1
    assert (layer[..., :3][layer[..., 3] > 0] == 0).all()


def test_crop_keeps_a_drop_shadow_inside_the_canvas() -> None:
    image, alpha = photo(TEDDY)
    shadow = {"shadow": "drop", "shadow_angle": 30.0, "shadow_distance": 40.0}
    tight = render_cutout(image, alpha, ExportOptions(format="png", crop=True, **shadow))  # type: ignore[arg-type]
    roomy = render_cutout(image, alpha, ExportOptions(format="png", crop=True, padding=200, **shadow))  # type: ignore[arg-type]
    x0, y0, x1, y1 = subject_box(alpha)
    assert tight.box[2] > x1 + 0.2 * (y1 - y0)  # the canvas grew to the right, where the shadow falls
    # nothing is cut off: the same opacity in all as with room to spare
    total = tight.pixels[..., 3].astype(np.int64).sum()
    assert total == roomy.pixels[..., 3].astype(np.int64).sum()
    assert tight.box[3] > y1  # and down
    edge = np.concatenate([tight.pixels[-1, :, 3], tight.pixels[:, -1, 3]])  # the shadow's sides
    assert edge.max() <= 2  # faded out at the canvas's edge


def test_presets_say_whether_a_shadow_is_allowed() -> None:
    image, alpha = photo(TEDDY)
    amazon = options_from_layers(None, {"preset": "amazon"}, {})
    assert amazon.shadow == "none"  # the preset sets none
    shadowed = options_from_layers(None, {"preset": "amazon", "shadow": "contact"}, {})
    report = check_compliance(image, alpha, shadowed)
    assert report is not None and any(r.startswith("shadow not allowed") for r in report.reasons)
    etsy = options_from_layers(None, {"preset": "etsy", "shadow": "contact"}, {})
    report = check_compliance(image, alpha, etsy)
    assert report is not None
    assert not any("shadow" in r or "background" in r for r in report.reasons)  # a shadow on white is fine
    plain = check_compliance(image, alpha, options_from_layers(None, {"preset": "etsy"}, {}))
    fill = [r for r in report.reasons if "fills" in r]
    assert fill == [r for r in plain.reasons if "fills" in r]  # type: ignore[union-attr]  # the subject's fill


FLAGS = ["--shadow", "drop", "--shadow-angle", "120", "--shadow-distance", "8", "--shadow-softness", "4.5",
         "--shadow-opacity", "0.35"]
RECIPE = 'shadow = "drop"\nshadow_angle = 120\nshadow_distance = 8\nshadow_softness = 4.5\nshadow_opacity = 0.35\n'


def _options(*argv: str) -> ExportOptions:
    return export_options_from_args(build_parser().parse_args(["batch", "in", "-o", "out", *argv]))


def test_shadow_flags_are_the_recipes_keys(tmp_path: Path) -> None:
    recipe = tmp_path / "shadow.toml"
    recipe.write_text(RECIPE, encoding="utf-8")
    by_flags, by_recipe = _options(*FLAGS), _options("--recipe", str(recipe))
    assert by_flags == by_recipe
    assert by_flags.shadow_options == ShadowOptions("drop", 120, 8, 4.5, 0.35)
    saved = tmp_path / "saved.toml"
    saved.write_text(recipe_text(by_flags), encoding="utf-8")
    assert options_from_layers(load_recipe(saved), {}, {}) == by_flags


@pytest.mark.parametrize(("argv", "message"), [
    (["--shadow-opacity", "2"], "shadow opacity must be 0 to 1"),
    (["--shadow-distance", "-5"], "shadow distance must be 0 to 100 %"),
])
def test_a_bad_shadow_value_is_one_line(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        _options(*argv)
