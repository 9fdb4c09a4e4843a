#!/bin/sh
# Smoke test of the PyInstaller bundle (`make bundle`): under a virtual display it starts the
# bundled window on a shipped preset, runs 30 frames, exports the main view as PNG and exits;
# then the same executable prints its version and runs a preset headless. Exits 0 when all worked.
#
#     packaging/smoke_test.sh [BUNDLE_EXECUTABLE]      (default: dist/attractor-lab/attractor-lab)
#
# Needs xvfb-run (Debian: apt-get install xvfb); nothing is written outside a temporary folder
# (settings and thumbnails included).
set -eu
EXE=${1:-dist/attractor-lab/attractor-lab}
[ -x "$EXE" ] || { echo "smoke_test: no bundle at $EXE (run make bundle)" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "smoke_test: xvfb-run is missing (apt-get install xvfb)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export ATTRACTOR_LAB_SETTINGS_DIR="$TMP/settings" ATTRACTOR_LAB_CACHE_DIR="$TMP/cache"
export HOME="$TMP/home"  # anything else the bundle or Qt writes for the user lands here
mkdir -p "$HOME"

"$EXE" --version
QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \
    "$EXE" gray_scott_spots --device cpu --smoke-test 30 --export-view "$TMP/view.png" >"$TMP/report.json" \
    2>"$TMP/stderr.txt" || { cat "$TMP/stderr.txt" >&2; exit 1; }
cat "$TMP/report.json"
# a view that failed to build (e.g. a data file the bundle lacks) leaves a traceback, not an exit code
if grep -q "Traceback" "$TMP/stderr.txt"; then cat "$TMP/stderr.txt" >&2; echo "smoke_test: tracebacks above" >&2; exit 1; fi
python3 - "$TMP/report.json" "$TMP/view.png" <<'PY'
import json, sys
report = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
assert report["frames"] >= 30 and report["model"] == "gray_scott", report
assert not report["torch_loaded"], "the window's process imported torch"
assert report["export_view"] and open(sys.argv[2], "rb").read(8) == b"\x89PNG\r\n\x1a\n", "no PNG exported"
PY
"$EXE" run gray_scott_spots --steps 20 --out "$TMP/t.npz" >/dev/null
[ -s "$TMP/t.npz" ]
echo "smoke_test: OK ($EXE)"
