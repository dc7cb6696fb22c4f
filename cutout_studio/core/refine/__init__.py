"""Brush refinement: foreground / background / erase strokes turned into a better mask by GrabCut.

The user paints a stroke where the automatic mask is wrong; :class:`RefineSession` then

1. paints the stroke as a hard label (full resolution, exactly the pixels within ``radius`` of the
   polyline, :mod:`.strokes`) and forces the alpha there to 1 (foreground) or 0 (background);
2. runs one graph cut (OpenCV's GrabCut with frozen colour models, :mod:`.graphcut` and
   :mod:`.colour_model`) on a small region of interest around the stroke, on a reduced working
   copy of the photo: the stroke's colours are the model of what the user wants, the rest of
   the region's current state the model of what it is not, so the coherent, similar-coloured
   area that the stroke touches flips with it;
3. keeps only the flipped areas connected to the stroke and within its reach (a stroke never
   changes a far part of the photo behind the user's back) and snaps them to the
   full-resolution photo (:mod:`.snap`), so the new edges follow the photo's real edges.

Everything happens inside the region of interest: the cost of a stroke depends on the stroke,
not on the photo's megapixels. Each stroke, erase or reset is one undo step that stores only
the pixels it changed (:mod:`.history`), so undo and redo are exact and instant.
"""

from cutout_studio.core.refine.graphcut import DEFAULT_MAX_SOLVE_PIXELS
from cutout_studio.core.refine.history import DEFAULT_HISTORY_BYTES
from cutout_studio.core.refine.session import RefineSession
from cutout_studio.core.refine.strokes import LABEL_BG, LABEL_FG, LABEL_NONE, Stroke, StrokeKind, stroke_mask

__all__ = [
    "DEFAULT_HISTORY_BYTES",
    "DEFAULT_MAX_SOLVE_PIXELS",
    "LABEL_BG",
    "LABEL_FG",
    "LABEL_NONE",
    "RefineSession",
    "Stroke",
    "StrokeKind",
    "stroke_mask",
]
