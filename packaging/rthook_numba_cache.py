"""PyInstaller runtime hook: give numba one stable, writable cache folder per executable.

pymatting compiles its numba kernels with ``cache=True``; the first compile takes a minute or
more, so the cache must work in the packaged app. Left alone it does not: numba locates the
cache through the kernels' source file, and for a module inside PyInstaller's archive that
path is relative, so numba resolves it against the current working directory and compiles
everything again in every folder the app is started from. The spec therefore collects
pymatting as plain ``.py`` files (absolute paths inside the bundle), and this hook points
numba at a per-user folder, which numba then prefers to writing ``__pycache__`` into the
bundle (read-only when installed, and part of the signature of a macOS app).

In a frozen app numba keys its cache on the executable, so the console and the windowed
executable (Windows, macOS) each get their own folder; sharing one, each would discard the
other's kernels. Runs before the entry script, i.e. before anything imports numba.
"""

import os
import sys
from pathlib import Path


def _numba_cache_dir() -> Path:
    from cutout_studio.core.paths import models_dir

    # models_dir() is <CUTOUT_STUDIO_HOME>/models or <user cache folder>/models: its parent is
    # the app's cache folder, which honours CUTOUT_STUDIO_HOME like everything else.
    return models_dir().parent / "numba" / Path(sys.executable).stem


if not os.environ.get("NUMBA_CACHE_DIR"):  # a user's own setting wins
    try:
        os.environ["NUMBA_CACHE_DIR"] = str(_numba_cache_dir())
    except OSError:
        # No writable cache folder: numba falls back to its own per-user folder.
        pass
