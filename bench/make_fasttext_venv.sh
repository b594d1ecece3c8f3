#!/usr/bin/env bash
# Make a separate virtual environment with real fastText (the reference for `curate classifier`).
# The packages that provide the `fasttext` module overwrite each other (docs/filters.md), so it
# never goes into .venv. Used by bench/classifier.py (--fasttext), which runs
# bench/fasttext_ref.py inside it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-fasttext}
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -r bench/requirements-fasttext.txt
"$VENV/bin/python" -c "import fasttext, numpy, sys; print('fasttext', fasttext.__file__, 'numpy', numpy.__version__)"
