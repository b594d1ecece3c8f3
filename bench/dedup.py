"""MinHash signature throughput (ours vs datasketch vs datatrove, same documents) and end-to-end dedup.

    python bench/dedup.py                      # signatures table (~1 min on one core)
    python bench/dedup.py --e2e 1000000        # + minhash_dedup over a generated corpus via run_pipeline

Signatures: every contender starts from the same raw texts (~500 word 5-gram shingles each) and
produces a 128-permutation MinHash signature per document, shingling included:

* ours            - ``MinHasher.signatures`` (Polars tokens, NumPy uint32 multiply-add, reduceat)
* datasketch      - ``MinHash.update`` per shingle (the usual loop)
* datasketch bulk - ``MinHash.bulk`` with an xxh32 ``hashfunc`` (its fastest path)
* datatrove       - ``MinhashDedupSignature.get_signature(get_shingles(text))`` in its own venv
                    (``.venv-datatrove``), with its default spaCy word tokenizer and with a
                    whitespace split; skipped with a note if that venv is missing.

``--cc-edges N`` measures the connected components step: a dedup-shaped graph of N edges (clusters
of power-law sizes, stars plus extra edges) as union-find in one task (the old ``clusters`` step)
vs large-star/small-star rounds over ``--cc-partitions`` partitions; each task runs in a fresh
process and its peak memory (VmHWM minus the RSS after imports) is reported.

The e2e part writes Parquet shards of short generated documents with planted duplicates, runs
``exact_dedup`` + ``minhash_dedup`` with the real engine (``workers`` processes) and reports docs/s
and peak RSS (driver and the largest worker).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/ holds scripts named like stdlib modules (bench/tokenize.py): keep it off the import path
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATATROVE_PY = ROOT / ".venv-datatrove" / "bin" / "python"

_DATATROVE_SCRIPT = r"""
import json, sys, time
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
texts = json.load(open(sys.argv[1]))
mode = sys.argv[2]
step = MinhashDedupSignature(output_folder="/tmp/unused-datatrove-sigs", config=MinhashConfig(n_grams=5, num_buckets=16, hashes_per_bucket=8))
if mode == "whitespace":
    class Split:
        def word_tokenize(self, text):
            return text.split()
    step.word_tokenizer = Split()
step.get_signature(step.get_shingles(texts[0]))  # warm-up (loads spaCy)
t = time.perf_counter()
for text in texts:
    step.get_signature(step.get_shingles(text))
print(json.dumps({"docs": len(texts), "seconds": time.perf_counter() - t}))
"""  # noqa: E501


def make_docs(n: int, words: int = 504, seed: int = 0) -> list[str]:
    from curate.dedup.synthetic import vocabulary

    rng = np.random.default_rng(seed)
    vocab = np.array(vocabulary(seed=seed))
    return [" ".join(vocab[rng.integers(0, len(vocab), words)]) for _ in range(n)]


def word_shingles(text: str, n: int = 5) -> list[bytes]:
    w = text.lower().split()
    return [" ".join(w[i : i + n]).encode() for i in range(len(w) - n + 1)]


def bench_ours(texts: list[str], num_perm: int) -> float:
    from curate.dedup.minhash import MinHasher

    h = MinHasher(num_perm=num_perm, ngram=5)
    h.signatures(pl.Series(texts[:50]))  # warm-up
    t = time.perf_counter()
    for i in range(0, len(texts), 2000):  # batches as a stage sees them
        h.signatures(pl.Series(texts[i : i + 2000]))
    return len(texts) / (time.perf_counter() - t)


def bench_datasketch_update(texts: list[str], num_perm: int) -> float:
    from datasketch import MinHash

    t = time.perf_counter()
    for text in texts:
        m = MinHash(num_perm=num_perm)
        for s in word_shingles(text):
            m.update(s)
    return len(texts) / (time.perf_counter() - t)


def bench_datasketch_bulk(texts: list[str], num_perm: int) -> float:
    import xxhash
    from datasketch import MinHash

    t = time.perf_counter()
    MinHash.bulk([word_shingles(x) for x in texts], num_perm=num_perm, hashfunc=xxhash.xxh32_intdigest)
    return len(texts) / (time.perf_counter() - t)


def bench_datatrove(texts: list[str], mode: str) -> float | None:
    if not DATATROVE_PY.exists():
        return None
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "texts.json").write_text(json.dumps(texts))
        (Path(d) / "run.py").write_text(_DATATROVE_SCRIPT)
        r = subprocess.run(
            [str(DATATROVE_PY), str(Path(d) / "run.py"), str(Path(d) / "texts.json"), mode],
            capture_output=True,
            text=True,
            cwd=d,
        )
    if r.returncode != 0:
        print(f"datatrove ({mode}) failed: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return out["docs"] / out["seconds"]


def signatures_table(n_docs: int, num_perm: int, rounds: int) -> None:
    """Contenders interleaved over ``rounds`` rounds, best round each: on a shared machine the load
    changes from second to second, and a ratio of two runs minutes apart would measure the load."""
    docs = make_docs(n_docs)
    n_slow = min(n_docs, 300)
    contenders = [
        ("ours (NumPy uint32 multiply-add)", lambda: bench_ours(docs, num_perm), n_docs),
        ("datasketch MinHash.update loop", lambda: bench_datasketch_update(docs[:n_slow], num_perm), n_slow),
        (
            "datasketch MinHash.bulk + xxh32",
            lambda: bench_datasketch_bulk(docs[: min(n_docs, 2000)], num_perm),
            min(n_docs, 2000),
        ),
        ("datatrove (spaCy words)", lambda: bench_datatrove(docs[:200], "spacy"), 200),
        (
            "datatrove (whitespace split)",
            lambda: bench_datatrove(docs[: min(n_docs, 1000)], "whitespace"),
            min(n_docs, 1000),
        ),
    ]
    best: dict[str, float | None] = {}
    for _ in range(rounds):
        for name, fn, _n in contenders:
            rate = fn()
            if rate is not None:
                best[name] = max(best.get(name) or 0.0, rate)
            else:
                best.setdefault(name, None)
    ours = best[contenders[0][0]]
    print(
        f"\nMinHash signatures, {num_perm} permutations, ~500 word 5-gram shingles/doc, one core, best of "
        f"{rounds} rounds\n"
    )
    print(f"{'implementation':34s} {'docs':>6s} {'docs/s':>10s} {'ours is':>9s}")
    for name, _fn, n in contenders:
        rate = best[name]
        if rate is None:
            print(f"{name:34s} {n:6d} {'n/a':>10s} {'':>9s}  (no .venv-datatrove)")
        else:
            print(f"{name:34s} {n:6d} {rate:10,.0f} {ours / rate:8.1f}x")
    print()


def accuracy(n_docs: int) -> None:
    """Precision/recall of duplicate pairs vs brute-force exact Jaccard, on planted corpora."""
    from curate.dedup.exact import ExactDedup
    from curate.dedup.near import MinhashDedup
    from curate.dedup.synthetic import pair_scores, planted_corpus, true_pairs

    sys.path.insert(0, str(ROOT))
    from tests.dedup.conftest import run_global

    print(f"\nduplicate-pair accuracy at threshold 0.8, {n_docs:,} docs, 4 tasks (brute-force truth)\n")
    print(f"{'corpus':28s} {'config':24s} {'true':>6s} {'prec':>7s} {'recall':>7s} {'edge P':>7s}")
    corpora = {
        "pairs J~U(0.5,1)": planted_corpus(n_docs, 0.3, 0.05, (0.5, 1.0), family_max=1, seed=31),
        "pairs J~U(0.7,0.9)": planted_corpus(n_docs, 0.3, 0.0, (0.7, 0.9), family_max=1, seed=32),
        "families J~U(0.6,1)": planted_corpus(n_docs, 0.3, 0.05, (0.6, 1.0), family_max=3, seed=33),
    }
    for cname, df in corpora.items():
        truth = true_pairs(df["text"].to_list(), 0.8)
        for label, cfg in (
            ("verify (default)", {}),
            ("verify: false", {"verify": False}),
            ("bands 14 x rows 8", {"bands": 14, "rows": 8}),
        ):
            with tempfile.TemporaryDirectory() as d:
                run = run_global(MinhashDedup, {"threshold": 0.8, **cfg}, df, Path(d) / "w", n_tasks=4)
            s = pair_scores(
                df["id"].to_list(), run.dropped["id"].to_list(), run.dropped["duplicate_of"].to_list(), truth
            )
            print(
                f"{cname:28s} {label:24s} {s['true_pairs']:6d} {s['precision']:7.4f} {s['recall']:7.4f} "
                f"{s['edge_precision']:7.4f}"
            )
        exact_truth = (
            df.group_by("text")
            .agg(pl.col("id").min().alias("k"), pl.col("id"))
            .filter(pl.col("id").list.len() > 1)
        )
        expected = {
            i: k for k, ids in zip(exact_truth["k"], exact_truth["id"], strict=True) for i in ids if i != k
        }
        with tempfile.TemporaryDirectory() as d:
            run = run_global(ExactDedup, {"whitespace": False}, df, Path(d) / "w", n_tasks=4)
        got = dict(zip(run.dropped["id"], run.dropped["duplicate_of"], strict=True))
        tp = sum(got.get(i) == k for i, k in expected.items())
        print(
            f"{cname:28s} {'exact_dedup':24s} {len(expected):6d} {tp / max(len(got), 1):7.4f} "
            f"{tp / max(len(expected), 1):7.4f}"
        )
    print(
        "prec/recall: pairs within one output cluster (transitive); edge P: dropped doc vs its duplicate_of"
    )


def e2e(n_docs: int, workers: int, shards: int, verify: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="curate-dedup-bench-"))
    t = time.perf_counter()
    # generation and the run each in their own process: the run's peak RSS is its own
    subprocess.run(
        [sys.executable, __file__, "--generate", str(n_docs), str(shards), str(root / "corpus")], check=True
    )
    print(f"generated {n_docs:,} docs in {time.perf_counter() - t:.0f}s under {root}")
    r = subprocess.run(
        [sys.executable, __file__, "--run", str(root), str(workers), str(int(verify))],
        check=True,
        capture_output=True,
        text=True,
    )
    res = json.loads(r.stdout.strip().splitlines()[-1])
    wall = res["wall"]
    print(f"\nend-to-end exact_dedup + minhash_dedup (verify={verify}), {workers} workers, {shards} shards")
    print(f"  docs in           {n_docs:,}")
    print(f"  exact dropped     {res['exact_dropped']:,}")
    print(
        f"  near dropped      {res['near_dropped']:,}  clusters {res['clusters']:,}  candidate pairs "
        f"{res['candidate_pairs']:,}"
    )
    print(f"  wall              {wall:,.1f} s  -> {n_docs / wall:,.0f} docs/s")
    print(
        f"  peak RSS          driver {res['rss_driver']:,.0f} MiB, largest worker {res['rss_worker']:,.0f} "
        "MiB"
    )
    print(f"  work files        {res['work_mib']:,.0f} MiB   (folder {root}; delete when done)")


def run_e2e(root: Path, workers: int, verify: bool) -> None:
    from curate.engine.runner import run_pipeline
    from curate.engine.spec import spec_from_dict

    spec = spec_from_dict(
        {
            "name": "dedup-bench",
            "inputs": [
                {"source": "synthetic", "reader": "parquet", "paths": str(root / "corpus" / "*.parquet")}
            ],
            "stages": [{"exact_dedup": {}}, {"minhash_dedup": {"threshold": 0.8, "verify": verify}}],
            "output": {"shard_rows": 500_000, "keep_rejects": False},
        }
    )
    t = time.perf_counter()
    res = run_pipeline(spec, root / "out", workers=workers, quiet=True)
    wall = time.perf_counter() - t
    g = res.stats["global"]["minhash_dedup"]
    stages = {s["name"]: s for s in res.stats["stages"]}
    work = root / "out" / "_work"
    print(
        json.dumps(
            {
                "wall": wall,
                "exact_dropped": sum(stages["exact_dedup"]["dropped"].values()),
                "near_dropped": sum(stages["minhash_dedup"]["dropped"].values()),
                "clusters": g["clusters"],
                "candidate_pairs": g["candidate_pairs"],
                "rss_driver": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                "work_mib": sum(p.stat().st_size for p in work.rglob("*") if p.is_file()) / 2**20,
            }
        )
    )


def generate(n_docs: int, shards: int, folder: str) -> None:
    from curate.dedup.synthetic import planted_corpus

    df = planted_corpus(
        n_docs, near_fraction=0.1, exact_fraction=0.02, jaccard_range=(0.7, 1.0), words=(40, 120), seed=1
    )
    Path(folder).mkdir(parents=True)
    size = -(-df.height // shards)
    for s in range(shards):
        df.slice(s * size, size).select("text").write_parquet(
            Path(folder) / f"part-{s:04d}.parquet", row_group_size=20_000
        )


_CC_TASK = r"""
import json, sys, numpy as np, polars as pl
from pathlib import Path
from curate.dedup.components import PartitionedComponents
from curate.dedup.union_find import components_of_pairs
def rss(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
root, kind, r, part, parts = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
# warm Polars' pools and allocator on a small graph first: the baseline is the runtime, not the data
w = pl.DataFrame({"u": np.arange(10_000, dtype=np.uint64) % 97, "v": np.arange(10_000, dtype=np.uint64)})
w.group_by("u").agg(pl.col("v").min()).join(w, on="u").write_parquet(root / f"warm-{kind}-{r}-{part}.parquet")
pl.read_parquet(root / f"warm-{kind}-{r}-{part}.parquet")
components_of_pairs(w["u"].to_numpy(), w["v"].to_numpy() + np.uint64(100))
base = rss("VmHWM")
if kind == "single":
    e = pl.read_parquet(root / "edges.parquet")
    nodes, labels = components_of_pairs(e["a"].to_numpy(), e["b"].to_numpy())
else:
    PartitionedComponents(root / "cc", parts).run_round(r, part)
print(json.dumps({"peak_mib": rss("VmHWM") - base}))
"""  # noqa: E501


def dedup_graph(n_edges: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Edges shaped like dedup's: clusters with Zipf sizes, a star from each cluster's first member
    plus as many random edges within the cluster; node keys are task << 32 | row."""
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.zipf(1.8, n_edges // 2) + 1, 50_000)
    sizes = sizes[np.cumsum(sizes) <= n_edges // 2 + 1]
    n = int(sizes.sum())
    perm = rng.permutation(n * 3)[:n].astype(np.uint64)  # documents in clusters, spread over rows
    keys = ((perm % np.uint64(512)) << np.uint64(32)) | (perm // np.uint64(512))
    start = np.repeat(np.cumsum(sizes) - sizes, sizes)
    member = np.arange(n)
    star = member != start
    a1, b1 = keys[start[star]], keys[member[star]]
    size_of = np.repeat(sizes, sizes)
    other = start + (rng.random(n) * size_of).astype(np.int64)
    extra = other != member
    a2, b2 = keys[member[extra]], keys[other[extra]]
    a, b = np.concatenate([a1, a2]), np.concatenate([b1, b2])
    return np.minimum(a, b), np.maximum(a, b)


def cc_memory(n_edges: int, partitions: int) -> None:
    from curate.dedup.components import components_in_rounds
    from curate.dedup.union_find import components_of_pairs

    root = Path(tempfile.mkdtemp(prefix="curate-cc-bench-"))
    a, b = dedup_graph(n_edges)
    pl.DataFrame({"a": a, "b": b}).write_parquet(root / "edges.parquet")
    t = time.perf_counter()
    ref_nodes, ref_labels = components_of_pairs(a, b)
    t_single = time.perf_counter() - t
    t = time.perf_counter()
    nodes, labels, rounds = components_in_rounds(a, b, root / "cc", partitions)
    t_rounds = time.perf_counter() - t
    same = np.array_equal(nodes, ref_nodes) and np.array_equal(labels, ref_labels)

    def task(kind: str, r: int = 0, part: int = 0) -> float:
        out = subprocess.run(
            [sys.executable, "-c", _CC_TASK, str(root), kind, str(r), str(part), str(partitions)],
            check=True, capture_output=True, text=True, cwd=ROOT,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]

    single = task("single")
    sample = range(0, partitions, max(1, partitions // 4))  # partitions are balanced: a few suffice
    per_round = [max(task("round", r, p) for p in sample) for r in range(min(rounds, 3))]
    print(f"\nconnected components: {len(a):,} edges, {len(ref_nodes):,} nodes, {partitions} partitions")
    print(f"  union-find, one task        peak {single:8.1f} MiB   {t_single:6.2f} s")
    print(
        f"  rounds ({rounds}), largest task   peak {max(per_round):8.1f} MiB   {t_rounds:6.2f} s in one "
        f"process (rounds 0-{len(per_round) - 1}: {', '.join(f'{m:.1f}' for m in per_round)} MiB)"
    )
    print(f"  ratio single / partition    {single / max(max(per_round), 1e-9):.1f}x   same labels: {same}")
    print(f"  (folder {root}; delete when done)")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--generate":
        generate(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
        return
    if len(sys.argv) == 5 and sys.argv[1] == "--run":
        run_e2e(Path(sys.argv[2]), int(sys.argv[3]), bool(int(sys.argv[4])))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=4000, help="documents for the signature table")
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is reported")
    ap.add_argument("--e2e", type=int, default=0, help="documents for the end-to-end run (0: skip)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--no-verify", action="store_true", help="e2e without true-Jaccard verification")
    ap.add_argument("--skip-signatures", action="store_true")
    ap.add_argument("--cc-edges", type=int, default=0, help="edges for the components memory table (0: skip)")
    ap.add_argument("--cc-partitions", type=int, default=16)
    ap.add_argument(
        "--accuracy", type=int, default=0, help="docs per planted corpus for the precision/recall table"
    )
    a = ap.parse_args()
    if not a.skip_signatures:
        signatures_table(a.docs, a.num_perm, a.rounds)
    if a.accuracy:
        accuracy(a.accuracy)
    if a.cc_edges:
        cc_memory(a.cc_edges, a.cc_partitions)
    if a.e2e:
        e2e(a.e2e, a.workers, a.shards, verify=not a.no_verify)


if __name__ == "__main__":
    main()
