"""Entry point of the packaged ``cutout-studio`` executable (console).

PyInstaller freezes a script, not a console_scripts entry point, so this file stands in for
the ``cutout-studio = cutout_studio.cli:run`` script that pip generates.
"""

import multiprocessing

from cutout_studio.cli import run

if __name__ == "__main__":
    # A frozen app that (through torch or a library) starts a child process with the "spawn"
    # method re-runs this executable; freeze_support() turns that run into the child instead
    # of a second copy of the application. No-op when nothing spawns.
    multiprocessing.freeze_support()
    run()
