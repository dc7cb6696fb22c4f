"""The brushes and mouse gestures the canvas offers: names for menus, colours for the stroke
preview, and the gestures the shortcuts dialog lists. A new brush adds its key here (and in
``state.TOOLS``), its action in :mod:`actions`, and its stroke kind in the engine."""

from __future__ import annotations

from PySide6.QtGui import QColor

BRUSH_TOOLS = {
    "fg": "Foreground brush",
    "bg": "Background brush",
    "erase": "Eraser",
    "refine": "Refine edge brush",
}
STROKE_COLOURS = {
    "fg": QColor(40, 220, 90, 150),
    "bg": QColor(240, 60, 60, 150),
    "erase": QColor(90, 160, 255, 150),
    "refine": QColor(240, 200, 40, 150),
}
#: Mouse gestures and held keys that are not QActions, listed in the shortcuts dialog.
GESTURES = (
    ("Mouse wheel", "Zoom around the cursor"),
    ("Space + drag", "Pan the photo"),
    ("Middle button drag", "Pan the photo"),
    ("Left drag", "Paint with the current brush (one drag = one undo step)"),
    ("Drag the split line", "Move the before/after divider"),
)
