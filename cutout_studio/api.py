"""The Python API: the same engine as the editor and the command line.

    from cutout_studio.api import Segmenter, RefineSession, cutout

    cutout("shoe.jpg", "shoe.png", crop=True, padding=20)        # one call, written atomically
    rgba = cutout("shoe.jpg")                                    # or get the RGBA pixels back

    seg = Segmenter(device="auto")                               # CUDA > MPS > CPU
    alpha = seg.predict(rgb)                                     # float32 H×W in [0, 1]
    session = RefineSession(rgb, alpha)
    session.add_stroke("fg", [(120, 80), (160, 90)], radius=12)
    alpha = session.refine()
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.export import ExportOptions, export_cutout, render_cutout
from cutout_studio.core.image_io import LoadedImage, load_image
from cutout_studio.core.options import OptionsError
from cutout_studio.core.recipes import options_from_layers
from cutout_studio.core.refine import RefineSession
from cutout_studio.core.segmenter import Segmenter

__all__ = [
    "EdgeOptions", "ExportOptions", "LoadedImage", "OptionsError", "RefineSession", "Segmenter", "cutout", "load_image",
]

_EXPORT_FIELDS = {f.name for f in fields(ExportOptions)} - {"edges"}  # edge options come flat
_EDGE_FIELDS = {f.name for f in fields(EdgeOptions)}


def cutout(
    source: str | os.PathLike[str] | np.ndarray | LoadedImage,
    dest: str | os.PathLike[str] | None = None,
    *,
    model: str = "default",
    device: str = "auto",
    alpha: np.ndarray | None = None,
    **options: Any,
) -> Path | np.ndarray:
    """Cut the subject out of a photo (a path, an H×W×3 uint8 RGB array or a LoadedImage).

    ``options`` are :class:`ExportOptions` fields (``format``, ``quality``, ``background``,
    ``crop``, ``padding``, ``padding_unit``, ``square``, ``output``, ``overwrite``, ``preset``,
    ``naming``, ``clip_path``…) and :class:`EdgeOptions` fields (``feather``, ``shift``,
    ``matting``, ``decontaminate``). A marketplace ``preset`` sets its values beneath the
    options given, as ``--preset`` does.
    With ``dest`` the result is written there and its path returned; without, the rendered
    pixels come back (H×W×4 RGBA uint8, or H×W×3 with a background fill). Pass ``alpha`` to
    export a mask you already have (from a RefineSession, say) instead of predicting one.
    Values outside an option's range, or a combination the options refuse (JPEG without a
    background, an unreadable background image), raise :class:`OptionsError` (a ValueError)
    before any work is done.
    """
    unknown = set(options) - _EXPORT_FIELDS - _EDGE_FIELDS
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
    # the same layers as the command line: defaults < the marketplace preset's values < these
    export = options_from_layers(
        None,
        {k: v for k, v in options.items() if k in _EXPORT_FIELDS},
        {k: v for k, v in options.items() if k in _EDGE_FIELDS},
    )

    if isinstance(source, LoadedImage):
        image = source
    elif isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim != 3 or source.shape[2] != 3:
            raise ValueError(f"expected an H×W×3 uint8 RGB array, got {source.dtype} {source.shape}")
        image = LoadedImage(rgb=np.ascontiguousarray(source))
    else:
        image = load_image(source)
    if alpha is None:
        alpha = Segmenter(model, device=device).predict(image.rgb, clean_plate=export.clean_plate)
    if dest is not None:
        return export_cutout(image, alpha, dest, export)
    return render_cutout(image, alpha, export).pixels
