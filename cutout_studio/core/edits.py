"""One photo's edits as steps: marks in the refine session and refine-edge patches laid over them,
in one undo order. The editor applies steps one by one as the user makes them; reopening a photo
replays its saved :class:`~cutout_studio.core.session_store.History` through the same functions,
so a photo comes back exactly as it was left, refine-edge strokes included.
"""

from __future__ import annotations

import numpy as np

from cutout_studio.core.edge_brush import EdgeEdits, refine_edge
from cutout_studio.core.refine import RefineSession
from cutout_studio.core.session_store import History, Step


def apply_step(session: RefineSession, edits: EdgeEdits, rgb: np.ndarray, step: Step) -> bool:
    """Apply one step; False when it changed nothing and is not undoable (a refine-edge stroke
    that found no edge to refine)."""
    if step.kind == "refine":
        current = edits.apply(session.refine())
        patch = refine_edge(rgb, current, step.points, step.radius, step.hardness)
        if patch is None:
            return False
        edits.add(patch)
    elif step.kind == "reset":
        session.reset()
        edits.reset()
    else:
        session.add_stroke(step.kind, list(step.points), step.radius)  # type: ignore[arg-type]
        edits.session_step()
    return True


def undo_step(session: RefineSession, edits: EdgeEdits) -> bool:
    """Undo the last step (a patch, or the session's); False when there is nothing to undo
    (the session may have dropped its oldest steps from its memory-bounded history)."""
    if edits.next_undo() == "edge":
        edits.undo()
        return True
    if session.undo():
        edits.undo()
        return True
    return False


def redo_step(session: RefineSession, edits: EdgeEdits) -> bool:
    """Redo the step undone last; False when there is none."""
    if edits.next_redo() == "edge":
        edits.redo()
        return True
    if session.redo():
        edits.redo()
        return True
    return False


def replay(history: History, session: RefineSession, rgb: np.ndarray) -> EdgeEdits:
    """Rebuild a photo's edits in a fresh ``session``: every step, then undo the undone ones (so
    that they stay redoable). Returns the refine-edge patches; raises ValueError for a step the
    session refuses (a hand-edited record)."""
    edits = EdgeEdits()
    for step in (*history.done, *reversed(history.undone)):
        apply_step(session, edits, rgb, step)
    for _ in history.undone:
        undo_step(session, edits)
    return edits
