"""Entry point of the windowed ``cutout-studio-gui`` executable (Windows and macOS builds).

A windowed executable has no console: ``sys.stdout``/``sys.stderr`` are None on Windows, so
the command line (help, errors, progress bars) has nowhere to go. This entry therefore always
opens the editor, passing any photos or folders it was given (files dropped onto the
executable on Windows, "Open with" on macOS) instead of parsing them as a command.
"""

import multiprocessing
import sys

from cutout_studio.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    # Finder on older macOS versions adds a "-psn_<process serial number>" argument.
    files = [arg for arg in sys.argv[1:] if not arg.startswith("-psn_")]
    sys.exit(main(["gui", *files]))
