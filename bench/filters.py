"""Benchmark the quality filters against datatrove, plus langid and extraction.

    python -m bench.filters                    # 1000 generated docs, datatrove from .venv-datatrove
    python -m bench.filters --docs 3000 --agreement --aeb ../shared/data/html_aeb

Prints one table: docs/s of gopher_quality -> gopher_repetition -> c4 -> fineweb_quality on the same
generated corpus, ours (one Polars thread) vs datatrove's filters at their defaults (one process),
and the ratio. Rates are per CPU second of the process (``time.process_time``): per core, and
steady on a shared machine where wall time depends on the neighbours; with ``--agreement`` the keep/drop
agreement per filter (each filter alone on the same documents) and how often the same rule fires where both
drop; langid docs/s; extraction pages/s and token precision/recall/F1 per engine on html_aeb. datatrove runs
in its own venv (bench/make_datatrove_venv.sh) through bench/datatrove_ref.py.
"""

from __future__ import annotations

import os
import sys

# `python bench/filters.py` puts bench/ first on sys.path, where bench/tokenize.py would shadow the
# standard library's tokenize module: drop that entry before anything imports it.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # per-core figures: before polars is imported

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import polars as pl  # noqa: E402

from curate.engine.stage import StageContext  # noqa: E402
from curate.filters.c4 import C4  # noqa: E402
from curate.filters.fineweb import FineWebQuality  # noqa: E402
from curate.filters.gopher import GopherQuality, GopherRepetition  # noqa: E402
from curate.filters.synthetic import corpus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DT_PY = ROOT / ".venv-datatrove" / "bin" / "python"
CTX = StageContext(run_dir=Path("."), work_dir=Path("."), stage_index=0, stage_name="bench")
CHAIN = {
    "gopher_quality": GopherQuality,
    "gopher_repetition": GopherRepetition,
    "c4": C4,
    "fineweb_quality": FineWebQuality,
}

# our reason -> datatrove's (docs/filters.md has the table)
def to_datatrove(stage: str, reason: str | None) -> str | None:
    if reason is None:
        return None
    if stage == "gopher_quality":
        return reason
    if stage == "gopher_repetition":
        r = reason.removeprefix("gopher_")
        m = re.fullmatch(r"dup_(\d+)_gram", r)
        return f"duplicated_{m.group(1)}_n_grams" if m else r
    return reason.split("_", 1)[1]  # c4_x -> x, fineweb_x -> x


def run_ours(texts: list[str]) -> tuple[float, int, dict[str, list]]:
    """The chain (each stage on the previous one's kept rows) timed; then each filter alone."""
    df = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts})
    stages = [cls(cls.Config(), CTX) for cls in CHAIN.values()]
    t0 = time.process_time()
    cur = df
    for st in stages:
        cur = st.process(cur).kept
    elapsed = time.process_time() - t0
    alone = {}
    for name, st in zip(CHAIN, stages, strict=True):
        res = st.process(df)
        why = dict.fromkeys(res.kept["id"].to_list())
        if res.dropped is not None:
            why.update(zip(res.dropped["id"].to_list(), res.dropped["reason"].to_list(), strict=True))
        alone[name] = [to_datatrove(name, why[str(i)]) for i in range(len(texts))]
    return elapsed, cur.height, alone


def run_datatrove(texts: list[str], decisions: bool) -> dict:
    if not DT_PY.exists():
        raise SystemExit(f"{DT_PY} missing: run bench/make_datatrove_venv.sh first")
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.json", Path(d) / "out.json"
        src.write_text(json.dumps(texts))
        cmd = [str(DT_PY), str(ROOT / "bench" / "datatrove_ref.py"), str(src), str(dst)]
        if not decisions:
            cmd.append("--chain-only")
        subprocess.run(cmd, check=True)
        return json.loads(dst.read_text())


def agreement(ours: dict[str, list], theirs: dict[str, list]) -> dict[str, tuple[float, int, int]]:
    """filter -> (fraction of equal keep/drop decisions, same rule where both drop, both drop)."""
    out = {}
    for name in CHAIN:
        a, b = ours[name], theirs[name]
        equal = sum((x is None) == (y is None) for x, y in zip(a, b, strict=True))
        both = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
        out[name] = (equal / len(a), sum(x == y for x, y in both), len(both))
    return out


def bench_langid(texts: list[str]) -> float:
    from curate.filters.langid import LangId

    st = LangId(LangId.Config(), CTX)
    st.setup()
    df = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts})
    t0 = time.process_time()
    st.process(df)
    return len(texts) / (time.process_time() - t0)


def _tokens(s: str) -> Counter:
    return Counter(re.findall(r"\w+", s.lower()))


def bench_extract(aeb: Path, engine: str, limit: int | None) -> tuple[float, float, float, float, list[str]]:
    """pages/s and mean token precision / recall / F1 against html_aeb's ground truth; returns texts too."""
    from curate.filters.extract import Extract

    truth = json.loads((aeb / "ground-truth.json").read_text())
    keys = sorted(truth)[:limit]
    bodies = [gzip.open(aeb / "html" / f"{k}.html.gz").read() for k in keys]
    df = pl.DataFrame({"id": keys, "source": ["web"] * len(keys), "text": [None] * len(keys), "html": bodies,
                       "content_type": [None] * len(keys), "url": [truth[k].get("url") for k in keys]},
                      schema_overrides={"text": pl.Utf8, "content_type": pl.Utf8})
    st = Extract(Extract.Config(engine=engine), CTX)
    st.setup()
    st.process(df.head(1))  # start the worker (imports) outside the timing
    t0 = time.perf_counter()
    res = st.process(df)
    rate = len(keys) / (time.perf_counter() - t0)
    st.flush()
    got = dict(zip(res.kept["id"].to_list(), res.kept["text"].to_list(), strict=True))
    p_sum = r_sum = f_sum = 0.0
    for k in keys:
        a, b = _tokens(got.get(k) or ""), _tokens(truth[k]["articleBody"])
        ov = sum((a & b).values())
        p = ov / max(sum(a.values()), 1)
        r = ov / max(sum(b.values()), 1)
        p_sum, r_sum, f_sum = p_sum + p, r_sum + r, f_sum + (2 * p * r / (p + r) if p + r else 0.0)
    n = len(keys)
    return rate, p_sum / n, r_sum / n, f_sum / n, [got[k] for k in keys if got.get(k)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--agreement", action="store_true", help="also compare decisions filter by filter")
    ap.add_argument("--aeb", type=Path, default=ROOT.parent / "shared" / "data" / "html_aeb")
    ap.add_argument("--aeb-limit", type=int, default=None)
    ap.add_argument("--no-datatrove", action="store_true")
    args = ap.parse_args()

    texts = corpus(args.docs, seed=args.seed)
    rows = []
    ours_s, ours_kept, ours_alone = run_ours(texts)
    rows.append(
        ("gopher+c4+fineweb docs/CPU-s, ours (1 thread)", f"{len(texts) / ours_s:,.0f}", f"kept {ours_kept}")
    )
    if not args.no_datatrove:
        dt = run_datatrove(texts, decisions=args.agreement)
        dt_rate = len(texts) / dt["chain_seconds"]
        rows.append(
            ("gopher+c4+fineweb docs/CPU-s, datatrove", f"{dt_rate:,.1f}", f"kept {dt['chain_kept']}")
        )
        rows.append(("ratio ours / datatrove (per core)", f"{(len(texts) / ours_s) / dt_rate:,.1f}x", ""))
        if args.agreement:
            for name, (frac, same, both) in agreement(ours_alone, dt["decisions"]).items():
                rows.append(
                    (
                        f"agreement {name} (generated, n={len(texts)})",
                        f"{frac:.2%}",
                        f"same rule {same}/{both}",
                    )
                )
    rows.append(("langid docs/CPU-s (lid.176)", f"{bench_langid(texts):,.0f}", ""))
    if args.aeb.exists():
        aeb_texts: list[str] = []
        for engine in ("trafilatura", "resiliparse"):
            rate, p, r, f1, got = bench_extract(args.aeb, engine, args.aeb_limit)
            rows.append(
                (
                    f"extract {engine} pages/s wall (html_aeb)",
                    f"{rate:,.1f}",
                    f"P {p:.3f} R {r:.3f} F1 {f1:.3f}",
                )
            )
            if engine == "trafilatura":
                aeb_texts = got
        if args.agreement and not args.no_datatrove and aeb_texts:
            _, _, alone = run_ours(aeb_texts)
            dt = run_datatrove(aeb_texts, decisions=True)
            for name, (frac, same, both) in agreement(alone, dt["decisions"]).items():
                rows.append(
                    (
                        f"agreement {name} (html_aeb, n={len(aeb_texts)})",
                        f"{frac:.2%}",
                        f"same rule {same}/{both}",
                    )
                )
    w = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{w}}  {'value':>10}  note")
    for name, val, note in rows:
        print(f"{name:<{w}}  {val:>10}  {note}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
