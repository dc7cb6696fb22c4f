"""Every command of the editor as a QAction: menus, tool buttons and the shortcuts dialog share them.

The shortcuts dialog is generated from these actions, so it cannot drift from what the keys do.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QToolBar, QWidget

from cutout_studio.qt.brushes import BRUSH_TOOLS
from cutout_studio.qt.render import VIEW_MODES

StdKey = QKeySequence.StandardKey


class Actions:
    """The window's actions, by name (``actions.undo``) and in menu order (``actions.all()``)."""

    def __init__(self, parent: QWidget) -> None:
        self._parent = parent
        self._all: list[tuple[str, QAction]] = []
        make = self._make

        self.open = make("File", "&Open photos…", [StdKey.Open], "Open photos to cut out")
        self.open_folder = make("File", "Open &folder…", ["Ctrl+Shift+O"], "Open every photo in a folder")
        self.export = make(
            "File",
            "&Export photo",
            [StdKey.Save],
            "Export the photo on screen into the shoot's output folder with the export settings (no dialog)",
        )
        self.export_as = make(
            "File", "Export photo &as…", ["Ctrl+Alt+S"], "Export the photo on screen to a file you choose"
        )
        self.export_all = make(
            "File",
            "Export &all photos…",
            ["Ctrl+Shift+S"],
            "Export every photo of the shoot into a folder (it becomes the shoot's output folder)",
        )
        self.export_settings = make(
            "File", "Export se&ttings…", ["Ctrl+E"], "Format, background, crop and padding of exports"
        )
        self.save_recipe = make(
            "File", "Save &recipe…", [], "Save the shoot's model, edge and export settings as a recipe (TOML) "
            "for `cutout-studio batch --recipe`"
        )
        self.load_recipe = make("File", "&Load recipe…", [], "Take the edge and export settings from a recipe")
        # Ctrl+Q spelled out: some platforms (Windows, bare X servers) bind nothing to Quit.
        self.quit = make("File", "&Quit", [StdKey.Quit, "Ctrl+Q"], "Close Cutout Studio")

        self.undo = make("Edit", "&Undo", ["Ctrl+Z"], "Undo the last stroke")
        self.redo = make("Edit", "&Redo", ["Ctrl+Shift+Z", "Ctrl+Y"], "Redo the stroke you undid")
        self.reset = make(
            "Edit",
            "Reset to &automatic mask",
            ["Ctrl+R"],
            "Drop every stroke: back to the model's mask (undoable)",
        )
        self.apply_edges = make(
            "Edit",
            "Apply edge settings to all &unfinished",
            [],
            "Give every unfinished photo the edge settings of the photo on screen (and make them the shoot's)",
        )

        self.tool_group = QActionGroup(parent)
        keys = {"fg": "F", "bg": "B", "erase": "E", "refine": "R"}
        tips = {
            "fg": "Paint what belongs to the subject",
            "bg": "Paint what must be removed",
            "erase": "Erase marks: what the strokes under it changed is undone there",
            "refine": "Paint over hair or fur: matting re-estimates the edge only where painted",
        }
        self.tools: dict[str, QAction] = {}
        for tool, label in BRUSH_TOOLS.items():
            self.tools[tool] = make(
                "Tools", label, [keys[tool]], tips[tool], checkable=True, group=self.tool_group
            )
        self.tools["pan"] = make(
            "Tools",
            "Hand (pan)",
            ["H"],
            "Drag to move around the photo",
            checkable=True,
            group=self.tool_group,
        )
        self.tools["fg"].setChecked(True)
        self.brush_smaller = make("Tools", "Smaller brush", ["["], "Make the brush smaller")
        self.brush_bigger = make("Tools", "Bigger brush", ["]"], "Make the brush bigger")

        self.zoom_in = make("View", "Zoom &in", [StdKey.ZoomIn, "Ctrl+="], "Zoom in")
        self.zoom_out = make("View", "Zoom &out", [StdKey.ZoomOut], "Zoom out")
        self.fit = make("View", "&Fit to window", ["Ctrl+0"], "Show the whole photo")
        self.actual_size = make("View", "&100 %", ["Ctrl+1"], "One photo pixel per screen pixel")
        self.mode_group = QActionGroup(parent)
        self.modes: dict[str, QAction] = {}
        for number, (mode, label) in enumerate(VIEW_MODES.items(), start=1):
            self.modes[mode] = make(
                "View", label, [str(number)], f"View: {label.lower()}", checkable=True, group=self.mode_group
            )
        self.modes["overlay"].setChecked(True)
        self.outline = make(
            "View",
            "Edge &outline",
            ["O"],
            "Draw the mask's outline over the photo (stray bits and holes show in any view)",
            checkable=True,
        )
        self.outline.setChecked(True)
        self.split = make(
            "View", "&Split before/after", ["S"], "Original on the left, result on the right", checkable=True
        )
        self.compare = make("View", "Show original (hold)", ["\\"], "Hold to see the original photo")
        self.compare.setAutoRepeat(False)
        self.next_photo = make("Shoot", "&Next photo", ["PgDown", "Alt+Right"], "Show the next photo")
        self.previous_photo = make("Shoot", "&Previous photo", ["PgUp", "Alt+Left"], "Show the previous photo")
        self.accept_next = make(
            "Shoot",
            "&Accept and next",
            ["A", "Ctrl+Return"],
            "Mark the photo finished and go to the next unfinished one",
        )
        self.next_unfinished = make("Shoot", "Next &unfinished", ["N"], "Go to the next unfinished photo")
        self.previous_unfinished = make(
            "Shoot", "Previous unfinis&hed", ["Shift+N"], "Go to the previous unfinished photo"
        )
        self.set_plate = make(
            "Shoot",
            "Set clean &plate…",
            [],
            "Choose the shoot's clean plate (a photo of the empty backdrop): every automatic mask "
            "compares the photo with it too (white-on-white, glass)",
        )
        self.clear_plate = make("Shoot", "&Clear clean plate", [], "Mask the shoot without a clean plate")
        self.review = make(
            "Shoot",
            "&Review worst first…",
            ["Ctrl+Shift+R"],
            "The unreviewed photos as cutouts, least trusted masks first: A accepts, Enter opens one to fix",
        )

        self.batch = make(
            "Batch", "Run on &folder…", ["Ctrl+B"], "Cut out every photo in a folder with the export settings"
        )

        # personal tuning (qt/tuning.py wires them; the Model menu also lists the models to use)
        self.keep_corrections = make(
            "Model", "&Keep finished photos for tuning", [],
            "Keep each photo you finish (photo + final mask) on this computer, to tune a personal model on",
            checkable=True,
        )
        self.corrections = make("Model", "&Corrections kept…", [], "The finished photos kept for tuning: view, delete")
        self.tune = make(
            "Model", "&Tune on my corrections…", [],
            "Fine-tune a personal model on the photos you finished, in the background",
        )

        self.shortcuts = make(
            "Help", "&Keyboard shortcuts", [StdKey.HelpContents, "F1"], "List every shortcut"
        )
        self.install_model = make(
            "Help", "&Install model…", [], "Download and install the segmentation model"
        )
        self.about = make("Help", "&About Cutout Studio", [], "Version, model and device")

    def _make(
        self,
        menu: str,
        text: str,
        keys: Sequence[StdKey | str],  #: standard keys (each platform's bindings) or key strings
        tip: str,
        *,
        checkable: bool = False,
        group: QActionGroup | None = None,
    ) -> QAction:
        action = QAction(text, self._parent)
        sequences: list[QKeySequence] = []
        for key in keys:
            if isinstance(key, StdKey):
                sequences.extend(QKeySequence.keyBindings(key))
            else:
                sequences.append(QKeySequence(key))
        unique: list[QKeySequence] = []
        for sequence in sequences:
            if not sequence.isEmpty() and sequence not in unique:
                unique.append(sequence)
        action.setShortcuts(unique)
        shortcut_text = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in unique)
        action.setToolTip(f"{tip} ({shortcut_text})" if shortcut_text else tip)
        action.setStatusTip(tip)
        action.setCheckable(checkable)
        if group is not None:
            group.addAction(action)
        self._all.append((menu, action))
        return action

    def shoot_toolbar(self, parent: QWidget) -> QToolBar:
        """The toolbar of getting through a shoot: open, export, previous / accept / next."""
        toolbar = QToolBar("Shoot", parent)
        toolbar.setObjectName("shoot_toolbar")  # saveState() keys the toolbars by name
        toolbar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for action in (
            self.open_folder,
            self.export,
            self.export_all,
            self.previous_unfinished,
            self.accept_next,
            self.next_unfinished,
        ):
            toolbar.addAction(action)
        return toolbar

    def all(self) -> list[tuple[str, QAction]]:
        """(menu name, action) for every action, in menu order."""
        return list(self._all)

    def menu_names(self) -> list[str]:
        seen: list[str] = []
        for menu, _ in self._all:
            if menu not in seen:
                seen.append(menu)
        return seen
