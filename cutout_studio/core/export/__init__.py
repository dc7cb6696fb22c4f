"""The one export path: the GUI, the command line, the batch and the Python API all write here.

- :mod:`.options`: :class:`ExportOptions`, every rule checked on construction;
- :mod:`.formats`: the table of output formats (suffix, alpha, 16-bit, quality, encoder);
- :mod:`.render`: :func:`render_cutout`, the exact pixels of the output (the editor's preview);
- :mod:`.encode`: one encoder per format;
- :mod:`.write`: :func:`export_cutout`, render + encode + atomic write
  (:mod:`cutout_studio.core.atomic`).

Everything callers used from the single ``export`` module is re-exported here.
"""

from cutout_studio.core.atomic import remove_stale_temp_files
from cutout_studio.core.errors import ExportError
from cutout_studio.core.export.formats import FORMATS, OutputFormat, find_format, register_format
from cutout_studio.core.export.options import (
    DEFAULT_NAMING,
    ExportOptions,
    output_stem,
    output_suffix,
    parse_color,
)
from cutout_studio.core.export.render import SUBJECT_THRESHOLD, RenderedCutout, render_cutout
from cutout_studio.core.export.write import encode_to_bytes, export_cutout
from cutout_studio.core.options import OptionsError

__all__ = [
    "DEFAULT_NAMING",
    "FORMATS",
    "SUBJECT_THRESHOLD",
    "ExportError",
    "ExportOptions",
    "OptionsError",
    "OutputFormat",
    "RenderedCutout",
    "encode_to_bytes",
    "export_cutout",
    "find_format",
    "output_stem",
    "output_suffix",
    "parse_color",
    "register_format",
    "remove_stale_temp_files",
    "render_cutout",
]
