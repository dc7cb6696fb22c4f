"""Regenerate docs/screenshot.png: the editor with a real photo, its mask overlay and one brush stroke.

Run from the repository root with the default model installed (``cutout-studio models install
default``)::

    QT_QPA_PLATFORM=offscreen python docs/make_screenshot.py

The window runs with a throw-away CUTOUT_STUDIO_HOME (default settings, nothing written to
your own config) that borrows the installed models folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cutout_studio.core import paths  # noqa: E402

PHOTOS = [
    ROOT / "tests/data/objects-coco__teddy_bear04_000000325527.jpg",
    ROOT / "tests/data/objects-coco__fire_hydrant02_000000020107.jpg",
    ROOT / "tests/data/people-ccp__ccp0041.jpg",
    ROOT / "tests/data/objects-coco__tv02_000000063740.jpg",
]
OUTPUT = ROOT / "docs" / "screenshot.png"
SIZE = (1400, 900)


def wait_for(app, condition, timeout_s: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the editor did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    models = paths.models_dir()
    with tempfile.TemporaryDirectory(prefix="cutout-shot-") as tmp:
        home = Path(tmp)
        (home / "models").symlink_to(models, target_is_directory=True)
        os.environ["CUTOUT_STUDIO_HOME"] = str(home)

        from PySide6.QtCore import QPointF, Qt
        from PySide6.QtTest import QTest
        from PySide6.QtWidgets import QApplication

        from cutout_studio.qt.app import apply_style
        from cutout_studio.qt.main_window import MainWindow

        app = QApplication.instance() or QApplication([])
        apply_style(app)
        window = MainWindow()
        window.resize(*SIZE)
        window.show()
        window.open_paths(PHOTOS)
        doc = window.docs[0]
        wait_for(app, lambda: doc.ready and window.canvas.layer_item.image is not None)
        # Let the next photos' masks arrive too, so the filmstrip shows real statuses.
        wait_for(app, lambda: all(d.alpha is not None for d in window.docs[1:3]))

        # One foreground stroke with the mouse down the bear's back (it is one undo step)…
        canvas = window.canvas
        viewport = canvas.viewport()

        def drag(points, release: bool = True) -> None:
            view = [canvas.mapFromScene(QPointF(x, y)) for x, y in points]
            QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, view[0])
            for point in view[1:]:
                QTest.mouseMove(viewport, point)
            if release:
                QTest.mouseRelease(
                    viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, view[-1]
                )

        window.actions_.tools["fg"].trigger()
        window.set_brush_size(16)
        drag([(262, 170), (275, 200), (285, 230)])
        wait_for(app, lambda: doc.status.value == "edited" and not window.pipeline.busy)
        wait_for(app, lambda: canvas.pending_stroke_previews == 0)
        # …and a background stroke in progress along the shadow, to show the brush and its outline.
        window.actions_.tools["bg"].trigger()
        window.set_brush_size(22)
        drag([(326, 282), (345, 283), (364, 281)], release=False)
        for _ in range(20):
            app.processEvents()

        image = window.grab().toImage()
        image.save(str(OUTPUT), "PNG", 9)
        QTest.mouseRelease(
            viewport,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
            canvas.mapFromScene(QPointF(364, 281)),
        )
        print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size / 1024:.0f} KB, {image.width()}×{image.height()})")
        window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
