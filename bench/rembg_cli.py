"""rembg's own command line (``rembg p``, ``rembg i``) without its web-server command.

``rembg.cli`` imports every command, including ``s`` (the HTTP server), which needs gradio,
fastapi and aiohttp: the ``rembg[cli]`` extra, which would also downgrade Pillow in our venv.
The folder and file commands need none of that, so this runs rembg's unmodified ``p`` and ``i``
click commands directly: the same code ``rembg p -m u2netp IN OUT`` runs, minus the server's
imports (so, if anything, rembg starts a little faster here than from its own entry point).

    python bench/rembg_cli.py p -m u2netp IN_DIR OUT_DIR
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path


def _commands() -> dict:
    import rembg

    # Load rembg/commands/<x>_command.py without rembg/commands/__init__.py (which imports s).
    package = types.ModuleType("rembg.commands")
    package.__path__ = [str(Path(rembg.__file__).parent / "commands")]
    sys.modules["rembg.commands"] = package
    return {
        "p": importlib.import_module("rembg.commands.p_command").p_command,
        "i": importlib.import_module("rembg.commands.i_command").i_command,
    }


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in ("p", "i"):
        raise SystemExit("usage: rembg_cli.py p|i [rembg options] ...")
    command = _commands()[argv[0]]
    command.main(args=argv[1:], prog_name=f"rembg {argv[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
