#!/usr/bin/env bash
# Build the one-folder Linux app with PyInstaller and prove that it works.
#
#   packaging/build_linux.sh            build into packaging/dist/cutout-studio/ and self-test it
#   packaging/build_linux.sh --clean    the same from scratch (other arguments go to PyInstaller too,
#                                       e.g. --log-level INFO to watch the analysis)
#
# Environment:
#   PYINSTALLER         the PyInstaller to use (default: the project's .venv/bin/pyinstaller)
#   CUTOUT_EMBED_MODEL  "1" embeds the installed default model's weights (see the spec)
#   CUTOUT_STUDIO_HOME  where the self-test (and the embed option) look for installed models
#   CUTOUT_STRIP        "0" keeps the symbol tables of torch and llvmlite (default: stripped)
#
# The self-test needs the default model: installed (`cutout-studio models install`) or embedded.
# Exit status: 0 when the app built and passed --version, --help and --selftest; non-zero otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYINSTALLER="${PYINSTALLER:-$ROOT/.venv/bin/pyinstaller}"
DIST="$ROOT/packaging/dist"
WORK="$ROOT/packaging/build"
APP="$DIST/cutout-studio/cutout-studio"

if [[ ! -x "$PYINSTALLER" ]]; then
    echo "build_linux.sh: $PYINSTALLER not found; install the dev extra (pip install -e '.[dev]')" \
         "or set PYINSTALLER" >&2
    exit 2
fi

echo "== building with $("$PYINSTALLER" --version 2>/dev/null | head -n1) ($PYINSTALLER)"
started=$SECONDS
"$PYINSTALLER" --noconfirm --log-level WARN \
    --distpath "$DIST" --workpath "$WORK" \
    "$@" "$ROOT/packaging/cutout-studio.spec"
echo "== built in $((SECONDS - started)) s: $DIST/cutout-studio"

# The symbol tables of the largest libraries (~110 MB) serve only debuggers; --strip-unneeded
# keeps the dynamic symbols that the loader and llvmlite's JIT resolve. Everything below runs
# on the stripped files. CUTOUT_STRIP=0 keeps them.
if [[ "${CUTOUT_STRIP:-1}" != 0 ]] && command -v strip >/dev/null; then
    before=$(du -sm "$DIST/cutout-studio" | cut -f1)
    for lib in "$DIST"/cutout-studio/_internal/torch/lib/libtorch*.so \
               "$DIST"/cutout-studio/_internal/torch/lib/libc10.so \
               "$DIST"/cutout-studio/_internal/llvmlite/binding/libllvmlite.so; do
        if [[ -f "$lib" ]]; then strip --strip-unneeded "$lib"; fi
    done
    echo "== stripped symbol tables: ${before} MB -> $(du -sm "$DIST/cutout-studio" | cut -f1) MB"
fi

# Headless checks: the offscreen Qt platform needs no display, so this runs on CI and servers.
export QT_QPA_PLATFORM=offscreen

echo "== --version"
"$APP" --version
echo "== --help"
"$APP" --help >/dev/null
echo "ok"

echo "== --selftest"
# The first run in a fresh user account also compiles pymatting's numba kernels (tens of
# seconds on a small machine); numba caches them in the user's cache folder for later runs.
started=$SECONDS
if ! "$APP" --selftest; then
    echo "build_linux.sh: the packaged app FAILED its self-test" >&2
    exit 1
fi
echo "== self-test passed in $((SECONDS - started)) s"

echo "== bundle size"
du -sh "$DIST/cutout-studio"
echo "largest parts:"
du -sh "$DIST/cutout-studio/_internal"/* 2>/dev/null | sort -h | tail -n 8
