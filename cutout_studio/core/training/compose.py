"""Synthetic product photos and the augmentations every training sample goes through.

A product photo is an object on the backdrop a photographer shoots on: white seamless paper,
a grey sweep, coloured paper, or a real scene far behind (blurred by the lens). The object
sits on the floor, so it casts a soft contact shadow, often a longer cast shadow, and on a
glossy floor a faint mirror image. None of that is the product: shadows and reflections are
labelled background. The hard cases a model gets wrong are made on purpose: a light object
on white, a dark one on black, and see-through (glass-like) objects whose backdrop shows
through. The camera then adds sensor noise and JPEG artefacts.

Everything random is drawn up front into a :class:`Recipe` (from a seeded
``numpy.random.Generator``), and :func:`compose` is a pure function of the object, the
recipe and the scene photo: the same seed gives the same sample, and a test can change one
ingredient (``dataclasses.replace(recipe, shadow="none")``) and keep everything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

BACKDROPS = ("white", "sweep", "paper", "scene", "dark")
CASES = ("plain", "white_on_white", "dark_on_dark", "glass")
SHADOWS = ("none", "contact", "cast", "drop")


@dataclass(frozen=True)
class Recipe:
    """Every choice behind one synthetic photo (fractions are of the canvas or the object)."""

    backdrop: str
    case: str
    shadow: str
    reflection: bool
    canvas: tuple[int, int]  #: (height, width) in pixels
    height_frac: float  #: object height / canvas height, before fitting the width
    x_frac: float  #: object centre, 0..1 of the free horizontal room
    floor_frac: float  #: the object's base, 0..1 of the canvas height
    colour: tuple[float, float, float]  #: backdrop base colour (RGB, 0..255)
    gradient: float  #: backdrop light fall-off, 0..1
    object_gain: float  #: white_on_white / dark_on_dark: how far the object is pushed
    glass_opacity: float  #: glass: opacity of the body (the rim is more opaque)
    shadow_strength: float
    shadow_blur: float  #: of the object's height
    shadow_shear: float  #: cast: horizontal lean per unit height
    shadow_length: float  #: cast: shadow height / object height
    shadow_offset: tuple[float, float]  #: drop: offset, of the object's height
    reflection_strength: float
    scene_blur: float  #: sigma, of the canvas height
    noise_sigma: float  #: sensor noise, grey levels
    jpeg_quality: int  #: 0 = no JPEG round trip


def random_recipe(
    rng: np.random.Generator, canvas: tuple[int, int], *, has_scene: bool
) -> Recipe:
    """Draw a recipe; every field is drawn whether it is used or not, so the draws line up."""
    backdrop_p = np.array([0.3, 0.2, 0.15, 0.25, 0.1])
    if not has_scene:
        backdrop_p[BACKDROPS.index("scene")] = 0.0
    backdrop = str(rng.choice(BACKDROPS, p=backdrop_p / backdrop_p.sum()))
    case = str(rng.choice(CASES, p=[0.6, 0.15, 0.1, 0.15]))
    # the hard cases need their backdrop: light on white, dark on black
    if case == "white_on_white":
        backdrop = "white"
    elif case == "dark_on_dark":
        backdrop = "dark"
    shadow = str(rng.choice(SHADOWS, p=[0.2, 0.35, 0.3, 0.15]))
    reflection = bool(rng.random() < 0.2)
    base: np.ndarray  # the backdrop's RGB, 3 values
    if backdrop == "white":
        base = 255 - rng.uniform(0, 14) - rng.uniform(0, 5, 3)
    elif backdrop == "dark":
        base = rng.uniform(4, 40) + rng.uniform(0, 6, 3)
    elif backdrop == "sweep":
        base = np.full(3, rng.uniform(90, 230))
    else:  # coloured paper (and a scene's tint, unused there)
        hsv = np.array([[[rng.integers(0, 180), rng.integers(60, 210), rng.integers(120, 245)]]], np.uint8)
        base = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    colour = (float(base[0]), float(base[1]), float(base[2]))
    return Recipe(
        backdrop=backdrop,
        case=case,
        shadow=shadow,
        reflection=reflection,
        canvas=canvas,
        height_frac=float(rng.uniform(0.45, 0.88)),
        x_frac=float(rng.uniform(0.15, 0.85)),
        floor_frac=float(rng.uniform(0.78, 0.95)),
        colour=colour,
        gradient=float(rng.uniform(0.0, 0.25)),
        object_gain=float(rng.uniform(0.12, 0.35)),
        glass_opacity=float(rng.uniform(0.2, 0.5)),
        shadow_strength=float(rng.uniform(0.25, 0.65)),
        shadow_blur=float(rng.uniform(0.02, 0.08)),
        shadow_shear=float(rng.uniform(-1.2, 1.2)),
        shadow_length=float(rng.uniform(0.2, 0.6)),
        shadow_offset=(float(rng.uniform(-0.08, 0.08)), float(rng.uniform(0.01, 0.06))),
        reflection_strength=float(rng.uniform(0.15, 0.4)),
        scene_blur=float(rng.uniform(0.004, 0.025)),
        noise_sigma=float(rng.choice([0.0, rng.uniform(1.0, 6.0)], p=[0.3, 0.7])),
        jpeg_quality=int(rng.choice([0, int(rng.integers(55, 96))], p=[0.3, 0.7])),
    )


# --------------------------------------------------------------------------------------------
# compositing


def compose(
    obj_rgb: np.ndarray, obj_mask: np.ndarray, recipe: Recipe, scene: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic photo (H×W×3 uint8) and its mask (H×W uint8, 255 = object) for a recipe.

    ``obj_rgb``/``obj_mask``: a photo and its object's mask (any size, the object is cut out
    by the mask's bounding box). ``scene``: the photo behind, for ``backdrop == "scene"``.
    """
    height, width = recipe.canvas
    crop_rgb, crop_mask, touches = _crop_to_object(obj_rgb, obj_mask)
    placed_rgb, placed_alpha, (x0, y0) = _place(crop_rgb, crop_mask, touches, recipe)
    oh, ow = placed_alpha.shape

    backdrop = _backdrop(recipe, scene)
    label = np.zeros((height, width), np.float32)
    _paste(label, placed_alpha, x0, y0)
    if recipe.shadow != "none":
        backdrop *= 1.0 - recipe.shadow_strength * _shadow_map(label, placed_alpha, x0, y0, recipe)[..., None]
    if recipe.reflection and y0 + oh < height:
        _add_reflection(backdrop, placed_rgb, placed_alpha, x0, y0 + oh, recipe.reflection_strength)

    obj = _object_colours(placed_rgb, recipe)
    alpha = placed_alpha
    if recipe.case == "glass":
        alpha = _glass_alpha(placed_alpha, recipe.glass_opacity)
    image = backdrop
    region = image[y0 : y0 + oh, x0 : x0 + ow]
    a = alpha[..., None]
    region *= 1.0 - a
    region += obj * a
    image = _camera(image, recipe)
    return image, np.clip(np.rint(label * 255), 0, 255).astype(np.uint8)


def _crop_to_object(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[bool, ...]]:
    """The object's bounding box, and which photo borders (top, bottom, left, right) cut it."""
    ys, xs = np.nonzero(mask > 127)
    if len(ys) == 0:
        raise ValueError("the object's mask is empty")
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    height, width = mask.shape
    touches = (top <= 1, bottom >= height - 1, left <= 1, right >= width - 1)
    return rgb[top:bottom, left:right], mask[top:bottom, left:right], touches


def _place(
    rgb: np.ndarray, mask: np.ndarray, touches: tuple[bool, ...], recipe: Recipe
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The object scaled into the canvas (RGB float32, alpha float32 0..1) and its top-left corner.

    An object that the source photo's frame cut (a person cut at the knees) keeps that side on
    the canvas edge, as a photographer framing it so would, instead of floating with a flat cut.
    """
    height, width = recipe.canvas
    oh, ow = mask.shape
    scale = min(recipe.height_frac * height / oh, 0.9 * width / ow)
    new_w, new_h = max(2, round(ow * scale)), max(2, round(oh * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    placed_rgb = cv2.resize(rgb, (new_w, new_h), interpolation=interp).astype(np.float32)
    placed_alpha = cv2.resize(mask, (new_w, new_h), interpolation=interp).astype(np.float32) / 255.0
    x0 = round(recipe.x_frac * (width - new_w))
    y0 = min(max(0, round(recipe.floor_frac * height) - new_h), height - new_h)
    top, bottom, left, right = touches
    if bottom:
        y0 = height - new_h
    elif top:
        y0 = 0
    if left and not right:
        x0 = 0
    elif right and not left:
        x0 = width - new_w
    return placed_rgb, placed_alpha, (int(x0), int(y0))


def _paste(dest: np.ndarray, patch: np.ndarray, x0: int, y0: int) -> None:
    h, w = patch.shape[:2]
    dest[y0 : y0 + h, x0 : x0 + w] = patch


def _ramp(height: int, width: int, strength: float) -> np.ndarray:
    """Light fall-off: 1 at the top centre, darker towards the bottom corners (H×W float32)."""
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    return 1.0 - strength * (0.6 * y + 0.4 * x * x)


def _backdrop(recipe: Recipe, scene: np.ndarray | None) -> np.ndarray:
    height, width = recipe.canvas
    colour = np.asarray(recipe.colour, np.float32)
    if recipe.backdrop == "scene" and scene is not None:
        return wide_blur(_cover(scene, height, width), recipe.scene_blur * height).astype(np.float32)
    if recipe.backdrop == "sweep":
        # a seamless sweep: the wall is lit from above, the curve to the floor is darkest
        y = np.linspace(0.0, 1.0, height, dtype=np.float32)
        curve = 1.0 - 0.25 * np.exp(-(((y - recipe.floor_frac * 0.85) / 0.15) ** 2)) - 0.15 * y
        shade = curve[:, None] * _ramp(height, width, recipe.gradient * 0.5)
    elif recipe.backdrop == "white":
        shade = _ramp(height, width, recipe.gradient * 0.15)  # white seamless stays nearly white
    else:
        shade = _ramp(height, width, recipe.gradient)
    image = np.empty((height, width, 3), np.float32)
    image[:] = colour
    image *= shade[..., None]
    if recipe.backdrop == "paper":
        # paper fibre: faint low-frequency texture
        fibre = np.random.default_rng(int(sum(recipe.colour) * 1000)).normal(0, 1, (height // 4 + 1, width // 4 + 1))
        texture = cv2.resize(fibre.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
        image *= (1.0 + 0.02 * texture)[..., None]
    return image


def _cover(photo: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale ``photo`` to cover height×width and cut the centre (no stretching)."""
    ph, pw = photo.shape[:2]
    scale = max(height / ph, width / pw)
    resized = cv2.resize(photo, (max(width, round(pw * scale)), max(height, round(ph * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    top, left = (resized.shape[0] - height) // 2, (resized.shape[1] - width) // 2
    return resized[top : top + height, left : left + width]


def _shadow_map(label: np.ndarray, alpha: np.ndarray, x0: int, y0: int, recipe: Recipe) -> np.ndarray:
    """Where the backdrop darkens (H×W float32 0..1), never where the object itself is."""
    height, width = recipe.canvas
    oh, ow = alpha.shape
    base_y = y0 + oh
    shadow: np.ndarray = np.zeros((height, width), np.float32)
    if recipe.shadow == "contact":
        # the soft dark line where the object meets the floor, as wide as its bottom
        bottom_cols = np.nonzero(alpha[max(0, oh - max(2, oh // 20)) :].max(axis=0) > 0.5)[0]
        if len(bottom_cols) == 0:
            return shadow
        cx = x0 + (bottom_cols.min() + bottom_cols.max()) / 2
        half_w = max(2.0, (bottom_cols.max() - bottom_cols.min()) / 2 * 1.1)
        cv2.ellipse(shadow, (round(cx), base_y - 1), (round(half_w), max(2, round(oh * 0.04))), 0, 0, 360, 1.0, -1)
    elif recipe.shadow == "cast":
        # the silhouette laid on the floor behind the object: foot at its base, squashed, leaning
        length = max(2, round(oh * recipe.shadow_length))
        lean = 0.8 * recipe.shadow_shear  # sideways shift of the shadow's top, per object height
        matrix = np.array([[1, -lean, x0 + lean * oh], [0, length / oh, base_y - length]], np.float32)
        shadow = cv2.warpAffine(alpha, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
    else:  # drop: the silhouette on the backdrop behind, offset (a product lit from one side)
        dx, dy = recipe.shadow_offset[0] * oh, recipe.shadow_offset[1] * oh
        matrix = np.array([[1, 0, x0 + dx], [0, 1, y0 + dy]], np.float32)
        shadow = cv2.warpAffine(alpha, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
    sigma = max(0.8, recipe.shadow_blur * oh)
    shadow = wide_blur(shadow, sigma)
    # the object covers its own shadow: only the backdrop around it darkens
    return np.clip(shadow, 0.0, 1.0) * (1.0 - label)


def _add_reflection(
    image: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, x0: int, floor_y: int, strength: float
) -> None:
    """A glossy floor mirrors the object below its base, fading out with distance."""
    height = image.shape[0]
    oh, ow = alpha.shape
    n = min(oh, height - floor_y)
    fade = strength * np.linspace(1.0, 0.0, oh, dtype=np.float32)[:n, None]
    a = (alpha[::-1][:n] * fade)[..., None]
    region = image[floor_y : floor_y + n, x0 : x0 + ow]
    region *= 1.0 - a
    region += rgb[::-1][:n] * a


def _object_colours(rgb: np.ndarray, recipe: Recipe) -> np.ndarray:
    if recipe.case == "white_on_white":  # a light product on white: only faint shading remains
        return 255.0 - (255.0 - rgb) * recipe.object_gain
    if recipe.case == "dark_on_dark":  # a black product on black
        return rgb * recipe.object_gain
    if recipe.case == "glass":  # clear glass: a pale tint with a bright highlight down one side
        oh, ow = rgb.shape[:2]
        tint = 0.7 * rgb.mean(axis=2, keepdims=True) + 0.3 * rgb
        x = np.linspace(0.0, 1.0, ow, dtype=np.float32)[None, :, None]
        highlight = 120.0 * np.exp(-(((x - 0.3) / 0.06) ** 2))
        glass: npt.NDArray[np.float32] = np.clip(tint * 0.6 + 100.0 + highlight, 0.0, 255.0) * np.ones((oh, 1, 1), np.float32)
        return glass
    return rgb


def _glass_alpha(alpha: np.ndarray, opacity: float) -> np.ndarray:
    """See-through body, more opaque rim: the backdrop shows through the middle of the object."""
    inside = (alpha > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    rim = max(1.5, 0.04 * min(alpha.shape))
    see_through: npt.NDArray[np.float32] = alpha * (opacity + (1.0 - opacity) * np.exp(-dist / rim))
    return see_through


def _camera(image: np.ndarray, recipe: Recipe) -> np.ndarray:
    """Sensor noise and a JPEG round trip, as a camera or shop upload adds them."""
    if recipe.noise_sigma > 0:
        noise_rng = np.random.default_rng(int(recipe.noise_sigma * 1e6) ^ recipe.canvas[0])
        image += noise_rng.standard_normal(image.shape, dtype=np.float32) * np.float32(recipe.noise_sigma)
    out: npt.NDArray[np.uint8] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if recipe.jpeg_quality > 0:
        ok, data = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, recipe.jpeg_quality])
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:  # a failed round trip keeps the photo without JPEG artefacts
            out = np.ascontiguousarray(decoded[..., ::-1])
    return out


# --------------------------------------------------------------------------------------------
# augmentation


def augment(
    rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Flip, rotate, scale-and-crop (one affine warp), colour jitter and blur; out size×size.

    The output is squashed to a square as the model's own preprocessing does at inference.
    """
    height, width = mask.shape
    flip = rng.random() < 0.5
    angle = float(rng.uniform(-12, 12)) if rng.random() < 0.3 else 0.0
    area = float(rng.uniform(0.55, 1.0)) if rng.random() < 0.7 else 1.0
    aspect = float(np.exp(rng.uniform(-0.15, 0.15)))
    crop_w = min(width, width * np.sqrt(area) * aspect)
    crop_h = min(height, height * np.sqrt(area) / aspect)
    cx = float(rng.uniform(crop_w / 2, width - crop_w / 2))
    cy = float(rng.uniform(crop_h / 2, height - crop_h / 2))
    jitter = rng.uniform(-1, 1, 4) * np.array([0.2, 0.2, 0.3, 8.0])  # brightness, contrast, saturation, hue
    blur_sigma = float(rng.uniform(0.4, 1.4)) if rng.random() < 0.15 else 0.0

    # output pixel -> source pixel: scale to the crop, rotate about the crop's centre, mirror
    sx, sy = crop_w / size, crop_h / size
    theta = np.deg2rad(angle)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    lin = rot @ np.diag([-sx if flip else sx, sy])
    offset = np.array([cx, cy]) - lin @ np.array([(size - 1) / 2, (size - 1) / 2])
    matrix = np.hstack([lin, offset[:, None]]).astype(np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    src = rgb
    if max(sx, sy) > 1.5:  # shrink first so that the warp does not alias
        factor = 1.0 / max(sx, sy)
        src = cv2.resize(rgb, (max(1, round(width * factor)), max(1, round(height * factor))),
                         interpolation=cv2.INTER_AREA)
        matrix[:, :2] *= factor
        matrix[:, 2] *= factor
        mask = cv2.resize(mask, (src.shape[1], src.shape[0]), interpolation=cv2.INTER_AREA)
    out_rgb = cv2.warpAffine(src, matrix, (size, size), flags=flags, borderMode=cv2.BORDER_REFLECT_101)
    out_mask = cv2.warpAffine(mask, matrix, (size, size), flags=flags, borderMode=cv2.BORDER_REFLECT_101)
    return _colour_jitter(out_rgb, jitter, blur_sigma), out_mask


def _colour_jitter(rgb: np.ndarray, jitter: np.ndarray, blur_sigma: float) -> np.ndarray:
    """Brightness, contrast, saturation and hue in uint8 OpenCV arithmetic (saturating, and several
    times faster than float NumPy: the loader workers must keep a GPU fed)."""
    brightness, contrast, saturation, hue = (float(v) for v in jitter)
    mean = float(np.mean(cv2.mean(rgb)[:3]))
    # (x - mean)·(1 + contrast) + mean·(1 + brightness)
    out = cv2.addWeighted(rgb, 1.0 + contrast, rgb, 0.0, mean * (brightness - contrast))
    grey = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    out = cv2.addWeighted(out, 1.0 + saturation, grey, -saturation, 0.0)
    if abs(hue) >= 1.0:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + round(hue)) % 180).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), blur_sigma)
    return out


def wide_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; a wide one is computed on a smaller copy (the result is smooth, so
    upsampling it loses nothing visible) at a fraction of a full-size kernel's cost."""
    if sigma <= 0.3:
        return image
    if sigma <= 4.0:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    height, width = image.shape[:2]
    scale = 4.0 / sigma
    small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), 4.0), (width, height), interpolation=cv2.INTER_LINEAR)
