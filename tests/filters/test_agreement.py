"""Decision agreement with datatrove's Gopher / C4 / FineWeb filters at their defaults (slow).

datatrove lives in its own venv (bench/make_datatrove_venv.sh); these tests skip where it is absent.
The extraction-quality test reads ../shared/data/html_aeb (external; skipped where absent).
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from curate.engine.stage import StageContext
from curate.filters.c4 import C4
from curate.filters.extract import Extract
from curate.filters.fineweb import FineWebQuality
from curate.filters.gopher import GopherQuality, GopherRepetition
from curate.filters.synthetic import corpus

ROOT = Path(__file__).resolve().parents[2]
DT_PY = ROOT / ".venv-datatrove" / "bin" / "python"
AEB = ROOT.parent / "shared" / "data" / "html_aeb"
CTX = StageContext(run_dir=Path("."), work_dir=Path("."), stage_index=0, stage_name="t")
FILTERS = {"gopher_quality": GopherQuality, "gopher_repetition": GopherRepetition, "c4": C4,
           "fineweb_quality": FineWebQuality}
needs_datatrove = pytest.mark.skipif(
    not DT_PY.exists(), reason="no .venv-datatrove (bench/make_datatrove_venv.sh)"
)


def _to_dt(stage: str, reason: str | None) -> str | None:
    if reason is None or stage == "gopher_quality":
        return reason
    if stage == "gopher_repetition":
        r = reason.removeprefix("gopher_")
        m = re.fullmatch(r"dup_(\d+)_gram", r)
        return f"duplicated_{m.group(1)}_n_grams" if m else r
    return reason.split("_", 1)[1]


def _check_agreement(texts: list[str], tmp_path: Path) -> None:
    src, dst = tmp_path / "in.json", tmp_path / "out.json"
    src.write_text(json.dumps(texts))
    subprocess.run([str(DT_PY), str(ROOT / "bench" / "datatrove_ref.py"), str(src), str(dst)], check=True)
    ref = json.loads(dst.read_text())
    df = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts})
    for name, cls in FILTERS.items():
        res = cls(cls.Config(), CTX).process(df)
        why = dict.fromkeys(res.kept["id"].to_list())
        if res.dropped is not None:
            why.update(zip(res.dropped["id"].to_list(), res.dropped["reason"].to_list(), strict=True))
        ours = [_to_dt(name, why[str(i)]) for i in range(len(texts))]
        theirs = ref["decisions"][name]
        agree = sum((a is None) == (b is None) for a, b in zip(ours, theirs, strict=True)) / len(texts)
        both = [(a, b) for a, b in zip(ours, theirs, strict=True) if a is not None and b is not None]
        same = sum(a == b for a, b in both) / max(len(both), 1)
        assert agree >= 0.97, (name, agree)
        assert same >= 0.95, (name, same)
        if name == "c4":
            new = dict(zip(res.kept["id"].to_list(), res.kept["text"].to_list(), strict=True))
            pairs = [
                (new[str(i)], t) for i, t in enumerate(ref["c4_text"]) if t is not None and str(i) in new
            ]
            assert sum(a == b for a, b in pairs) >= 0.97 * len(pairs)


@pytest.mark.slow
@needs_datatrove
def test_agreement_on_generated_corpus(tmp_path):
    _check_agreement(corpus(400, seed=11), tmp_path)


def _extract_aeb(engine: str) -> tuple[list[str], float]:
    truth = json.loads((AEB / "ground-truth.json").read_text())
    keys = sorted(truth)
    df = pl.DataFrame({"id": keys, "source": ["web"] * len(keys), "text": [None] * len(keys),
                       "html": [gzip.open(AEB / "html" / f"{k}.html.gz").read() for k in keys],
                       "content_type": [None] * len(keys), "url": [truth[k].get("url") for k in keys]},
                      schema_overrides={"text": pl.Utf8, "content_type": pl.Utf8})
    st = Extract(Extract.Config(engine=engine), CTX)
    try:
        res = st.process(df)
    finally:
        st.flush()
    got = dict(zip(res.kept["id"].to_list(), res.kept["text"].to_list(), strict=True))
    f1s = []
    for k in keys:
        a = Counter(re.findall(r"\w+", (got.get(k) or "").lower()))
        b = Counter(re.findall(r"\w+", truth[k]["articleBody"].lower()))
        ov = sum((a & b).values())
        p, r = ov / max(sum(a.values()), 1), ov / max(sum(b.values()), 1)
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    return [t for t in got.values() if t], sum(f1s) / len(f1s)


@pytest.mark.slow
@pytest.mark.external
@pytest.mark.skipif(not AEB.exists(), reason="../shared/data/html_aeb absent")
@pytest.mark.parametrize(("engine", "min_f1"), [("trafilatura", 0.93), ("resiliparse", 0.88)])
def test_extraction_quality_on_html_aeb(engine, min_f1, tmp_path):
    texts, f1 = _extract_aeb(engine)
    assert f1 >= min_f1, f1
    if engine == "trafilatura" and DT_PY.exists():
        _check_agreement(texts, tmp_path)
