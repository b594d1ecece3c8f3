"""Run datatrove's Gopher / C4 / FineWeb filters at their defaults on a JSON list of texts.

Runs inside .venv-datatrove (bench/make_datatrove_venv.sh), never in our venv:

    .venv-datatrove/bin/python bench/datatrove_ref.py texts.json out.json [--chain-only]

Writes ``{"decisions": {filter: [reason or null, ...]}, "chain_seconds": s, "chain_kept": k}``:
each filter alone on the original texts (for decision agreement), then the chain
gopher_quality -> gopher_repetition -> c4 -> fineweb timed (C4 rewrites the text it keeps).
"""

from __future__ import annotations

import os
import sys

# bench/ is first on sys.path when run as a script, and bench/tokenize.py would shadow the stdlib
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import json  # noqa: E402
import time  # noqa: E402

from datatrove.data import Document  # noqa: E402
from datatrove.pipeline.filters import (  # noqa: E402
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)


def decide(f, text: str):
    doc = Document(text=text, id="x")
    r = f.filter(doc)
    if isinstance(r, tuple):
        return r[1], doc.text
    return (None if r else "dropped"), doc.text


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    chain_only = "--chain-only" in sys.argv
    texts = json.load(open(src))
    filters = {
        "gopher_quality": GopherQualityFilter(),
        "gopher_repetition": GopherRepetitionFilter(),
        "c4": C4QualityFilter(),
        "fineweb_quality": FineWebQualityFilter(),
    }
    out: dict = {"decisions": {}, "c4_text": []}
    if not chain_only:
        for name, f in filters.items():
            res = [decide(f, t) for t in texts]
            out["decisions"][name] = [r for r, _ in res]
            if name == "c4":
                out["c4_text"] = [t if r is None else None for r, t in res]
    decide(filters["gopher_quality"], "warm up the spaCy tokenizer. " * 20)
    t0 = time.process_time()
    kept = 0
    for t in texts:
        ok = True
        for f in filters.values():
            r, t = decide(f, t)
            if r is not None:
                ok = False
                break
        kept += ok
    out["chain_seconds"] = time.process_time() - t0
    out["chain_kept"] = kept
    json.dump(out, open(dst, "w"))


if __name__ == "__main__":
    main()
