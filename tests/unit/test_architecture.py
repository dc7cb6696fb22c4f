"""The package's shape: no import cycle between modules, no module past the size we can read."""

from __future__ import annotations

from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[2] / "cutout_studio"

#: issue 9's bound: no module over ~500 lines
MAX_LINES = 500
#: one idea each, allowed to stay whole: the one image loader (every format's quirks in one place)
WHOLE = {"core/image_io.py"}


def test_no_module_imports_itself_back_through_another():
    # imports under TYPE_CHECKING are for annotations only and never run
    graph = grimp.build_graph("cutout_studio", exclude_type_checking_imports=True)
    cycles = sorted(
        {
            tuple(sorted((module, imported)))
            for module in graph.modules
            for imported in graph.find_modules_directly_imported_by(module)
            if imported != module and graph.chain_exists(importer=imported, imported=module)
        }
    )
    assert cycles == []


def test_no_module_is_longer_than_a_reader_can_hold():
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
        and path.relative_to(PACKAGE).as_posix() not in WHOLE
    }
    assert long == {}
