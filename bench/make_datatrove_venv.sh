#!/usr/bin/env bash
# Make a separate virtual environment with datatrove (the reference for our quality filters).
# Its pins may clash with ours, so it never goes into .venv. Used by bench/filters.py and the
# agreement tests (tests/filters/test_agreement.py, marked slow).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-datatrove}
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -r bench/requirements-datatrove.txt
"$VENV/bin/python" -c "import datatrove, sys; print('datatrove', datatrove.__version__ if hasattr(datatrove, '__version__') else '?', sys.executable)"
