#!/bin/sh
# Redraws the benchmark charts (Docs/benchmarks/*.svg) from Benchmarks/results/results.json.
#
#   Benchmarks/scripts/charts.sh           # SVGs, and the README's summary table on stdout
#   Benchmarks/scripts/charts.sh --png /tmp/charts   # also PNGs there, to look at
#
# The first run makes a Python virtual environment with matplotlib in
# ${PARLEY_CHARTS_VENV:-~/.cache/parley/charts-venv} (python3 -m venv, then pip; ~40 MB).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${PARLEY_CHARTS_VENV:-$HOME/.cache/parley/charts-venv}
if ! "$venv/bin/python" -c "import matplotlib" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "matplotlib>=3.8,<4"
fi
exec "$venv/bin/python" "$here/charts.py" "$@"
