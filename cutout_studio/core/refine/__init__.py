"""Brush refinement: foreground / background marks turned into a better mask by GrabCut.

The user's strokes are **marks** (:mod:`.marks`): the input the mask is computed from. When a
foreground or background stroke is painted, :class:`RefineSession`

1. records its footprint (full resolution, exactly the pixels within ``radius`` of the
   polyline, :mod:`.strokes`) as a hard label: 1 (foreground) or 0 (background) there;
2. runs one graph cut (OpenCV's GrabCut with frozen colour models, :mod:`.graphcut` and
   :mod:`.colour_model`) on a region of interest around it, on a reduced working copy of the
   photo. The mark takes the region connected to it that the cut gives to its side (stopping
   at the photo's edges) and that its colours explain better than the other side's, weighted
   by the automatic mask's probability; the region grows while what flipped reaches its
   edge, so a click on a missed part takes the whole part, a small mark at the outline only
   that stretch. Marks of the other kind are hard labels: never flipped;
3. snaps what flipped to the full-resolution photo (:mod:`.snap`) so the new edges follow the
   photo's real edges, without haze: beyond a thin soft edge at the outline, what changed is
   exactly 0 or 1. The result is stored as the mark's effect.

The eraser removes marks, or the parts of marks, it covers; the mask is recomposed from the
marks that remain (the automatic mask, each effect in order, every footprint forced), and what
is left of a partly erased mark is solved again. Each stroke, erase or reset is one undo step
that stores the marks before and after and only the pixels it changed (:mod:`.history`), so
undo and redo act on marks and are exact and instant.
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
