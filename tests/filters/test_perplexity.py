"""The perplexity stage: scores, windows, thresholds, CCNet buckets through the engine, bad scorers."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

torch = pytest.importorskip("torch")

WORDS = ["apple", "river", "stone", "cloud", "green", "music", "paper", "light", "table", "window"]


def clean_text(n_docs: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        a, b = rng.choice(WORDS), rng.choice(WORDS)
        docs.append(
            " ".join(f"The {a} is near the {b}. The {b} is near the {a}." for _ in range(rng.randint(2, 5)))
        )
    return docs


def shuffled_chars(text: str, seed: int = 0) -> str:
    """The same characters in random order: same bytes, no regularity left."""
    c = list(text)
    random.Random(seed).shuffle(c)
    return "".join(c)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def scorer_dir(tmp_path_factory) -> Path:
    """A tiny bundled model (context 64) trained briefly on clean_text, saved as a run folder."""
    from curate.train.model import build_model, load_tokenizer
    from curate.train.tokenizer import train_tokenizer

    d = tmp_path_factory.mktemp("ppl")
    pq.write_table(pa.table({"text": clean_text(300, seed=1)}), d / "corpus.parquet")
    tok = load_tokenizer(
        train_tokenizer([d / "corpus.parquet"], d / "tokenizer", vocab_size=320, min_frequency=1)
    )
    torch.manual_seed(0)
    model = build_model("tiny", tok, max_positions=64)
    ids: list[int] = []
    for doc in clean_text(200, seed=2):
        ids += [tok.eos_token_id] + tok.encode(doc, add_special_tokens=False)
    rows = torch.tensor(ids[: len(ids) // 33 * 33]).view(-1, 33)
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(40):
        b = rows[torch.randint(len(rows), (16,), generator=g)]
        loss = torch.nn.functional.cross_entropy(
            model(input_ids=b[:, :-1]).logits.flatten(0, 1), b[:, 1:].flatten()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    run = d / "run"
    model.eval().save_pretrained(run)
    tok.save_pretrained(run)
    return run


def config(scorer_dir, **kw):
    from curate.filters.perplexity import Perplexity

    return Perplexity.Config(model=str(scorer_dir), device="cpu", **kw)


def drive(cfg, df: pl.DataFrame, work: Path, n_tasks: int = 2, batch_rows: int = 7):
    """The engine's contract for a GlobalStage: collect per task, reduce, process per task."""
    from curate.engine.stage import StageContext
    from curate.filters.perplexity import Perplexity

    bounds = np.linspace(0, df.height, n_tasks + 1).astype(int)
    tasks = [df.slice(int(a), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def ctx(i):
        return StageContext(
            run_dir=work,
            work_dir=work / "stage",
            stage_index=0,
            stage_name="perplexity",
            task_id=None if i is None else f"t{i}",
            n_tasks=n_tasks,
        )

    for i, t in enumerate(tasks):
        s = Perplexity(cfg, ctx(i))
        s.setup()  # the engine calls it before collect
        for b in t.iter_slices(batch_rows):
            s.collect(b)
        s.finish_collect()
    driver = Perplexity(cfg, ctx(None))
    for step in driver.reduce_steps():
        step.run(0)
    kept, dropped = [], []
    for i, t in enumerate(tasks):
        s = Perplexity(cfg, ctx(i))
        for b in t.iter_slices(batch_rows):
            r = s.process(b)
            assert b.height == r.n_out + r.n_dropped
            kept.append(r.kept)
            if r.dropped is not None:
                dropped.append(r.dropped)
    return pl.concat(kept), pl.concat(dropped), driver.reduce_summary()


def corpus(n: int = 30) -> pl.DataFrame:
    clean = clean_text(n // 2, seed=5)
    noisy = [shuffled_chars(t, seed=i) for i, t in enumerate(clean_text(n - n // 2, seed=6))]
    texts = [x for pair in zip(clean, noisy, strict=True) for x in pair] + ["", None]
    return pl.DataFrame({"id": [f"d{i}" for i in range(len(texts))], "text": texts})


def test_repeated_text_scores_lower_than_shuffled_characters(scorer_dir):
    from curate.engine.stage import StageContext
    from curate.filters.perplexity import Perplexity

    stage = Perplexity(config(scorer_dir), StageContext(Path("."), Path("."), 0, "perplexity"))
    text = clean_text(1, seed=9)[0]
    ppl, bpb = stage.score(pl.DataFrame({"text": [text, shuffled_chars(text)]}))
    assert ppl[0] < ppl[1] / 3 and bpb[0] < bpb[1] / 2, (ppl, bpb)


def test_long_document_scored_in_windows_as_curate_eval_does(scorer_dir):
    from curate.eval import TextSet, score_bpb
    from curate.eval.run import load_run
    from curate.filters.perplexity import score_texts

    model, tok = load_run(scorer_dir, "cpu")
    long = " ".join(clean_text(12, seed=3))
    short = clean_text(1, seed=4)[0]
    n_ids = len(tok.encode(long, add_special_tokens=False))
    assert n_ids > 4 * 64  # several windows of the 64-token context
    nats, n_tok, n_bytes = score_texts(model, tok, [short, long, ""], batch_tokens=100)
    assert n_tok[1] == n_ids and n_tok[2] == 0  # every token scored: nothing truncated
    ref = score_bpb(model, tok, [TextSet("long", [long])], progress=False)["long"]
    assert ref["tokens"] == n_ids
    assert nats[1] / np.log(2) / n_bytes[1] == pytest.approx(ref["bpb"], rel=1e-4)
    # Batching by length changes no score: alone, or in another batch size, the same numbers.
    alone, _, _ = score_texts(model, tok, [long], batch_tokens=1 << 20)
    assert alone[0] == pytest.approx(nats[1], rel=1e-4)


def test_threshold_keeps_clean_drops_noise_in_eq_out_plus_dropped(scorer_dir, tmp_path):
    df = corpus()
    kept, dropped, summary = drive(config(scorer_dir, max_bpb=2.0), df, tmp_path)
    assert kept.height + dropped.height == df.height
    assert sorted(kept["id"].to_list() + dropped["id"].to_list()) == sorted(df["id"].to_list())
    assert set(dropped["reason"]) == {"bpb_too_high"}
    # Clean documents are even-numbered rows, shuffled ones odd; the empty and null texts are kept.
    assert set(kept["id"]) == {f"d{i}" for i in range(0, 30, 2)} | {"d30", "d31"}
    assert kept.filter(pl.col("id").is_in(["d30", "d31"]))["ppl"].null_count() == 2
    assert kept["bpb"].drop_nulls().max() <= 2.0 < dropped["bpb"].min()
    assert "ppl_bucket" not in kept.columns and summary["groups"]["<null>"]["scored"] == 30


def test_buckets_cut_at_corpus_percentiles(scorer_dir, tmp_path):
    df = corpus()
    cfg = config(scorer_dir, buckets=True, percentiles=(25, 75), drop_buckets=["tail"])
    kept, dropped, summary = drive(cfg, df, tmp_path, n_tasks=3)
    assert kept.height + dropped.height == df.height
    lo, hi = summary["groups"]["<null>"]["cutoffs"]
    ppl = pl.concat([kept, dropped.drop("reason")])["ppl"].drop_nulls().to_numpy()
    assert (lo, hi) == pytest.approx(tuple(np.percentile(ppl, [25, 75])))
    assert set(dropped["reason"]) == {"ppl_tail"} and (dropped["ppl"] >= hi).all()
    counts = dict(kept.group_by("ppl_bucket").len().iter_rows())
    # 30 scores, linear percentiles: 25th at rank 7.25, 75th at 21.75 -> 8 below, 8 at or above.
    assert counts["head"] == 8 and counts["middle"] == 14 and dropped.height == 8 and counts[None] == 2


def test_engine_run_records_columns_and_stats(scorer_dir, tmp_path, monkeypatch):
    from curate.engine.runner import run_pipeline
    from curate.engine.spec import spec_from_dict

    monkeypatch.chdir(tmp_path)
    df = corpus()
    (tmp_path / "src").mkdir()
    df.slice(0, 16).write_parquet(tmp_path / "src" / "a.parquet")
    df.slice(16).write_parquet(tmp_path / "src" / "b.parquet")
    spec = spec_from_dict(
        {
            "name": "ppl",
            "inputs": [{"source": "web", "reader": "parquet", "paths": "src/*.parquet"}],
            "stages": [
                {
                    "perplexity": {
                        "model": str(scorer_dir),
                        "device": "cpu",
                        "threads": 1,
                        "buckets": True,
                        "drop_buckets": ["tail"],
                        "max_ppl": 1e6,
                    }
                }
            ],
            "output": {"keep_rejects": True},
        }
    )
    run_pipeline(spec, tmp_path / "out", workers=1, quiet=True)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    by_name = {s["name"]: s for s in stats["stages"]}
    st = by_name["perplexity"]
    # The reader drops the null-text row itself (with its reason); the stage sees every other one.
    assert st["in"] == df.height - 1 == st["out"] + sum(st["dropped"].values())
    assert by_name["read"]["dropped"] == {"malformed:missing_text": 1}
    assert set(st["dropped"]) == {"ppl_tail"}
    out = pl.read_parquet(sorted((tmp_path / "out" / "data").rglob("*.parquet")))
    assert {"ppl", "bpb", "ppl_bucket"} <= set(out.columns) and out.height == st["out"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["global"]["perplexity"]["groups"]["<null>"]["scored"] == 30


def _spec_error(model, **kw) -> str:
    from curate.engine.errors import SpecError
    from curate.engine.spec import spec_from_dict

    with pytest.raises(SpecError) as e:
        spec_from_dict({"name": "x", "inputs": [], "stages": [{"perplexity": {"model": str(model), **kw}}]})
    return str(e.value)


def test_bad_scorer_folders_fail_validation_with_path_and_reason(scorer_dir, tmp_path):
    import shutil

    missing = tmp_path / "nope"
    assert f"{missing}: no such folder" in _spec_error(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert f"{empty}: no config.json" in _spec_error(empty)
    mlm = tmp_path / "mlm"
    mlm.mkdir()
    (mlm / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertForMaskedLM"]}))
    assert f"{mlm}: not a causal LM" in _spec_error(mlm)
    no_tok = tmp_path / "notok"
    no_tok.mkdir()
    shutil.copy(scorer_dir / "config.json", no_tok / "config.json")
    assert f"{no_tok}: no tokenizer" in _spec_error(no_tok)
    small = tmp_path / "small"
    small.mkdir()
    cfg = json.loads((scorer_dir / "config.json").read_text())
    (small / "config.json").write_text(json.dumps(dict(cfg, vocab_size=100)))
    assert "do not belong together" in _spec_error(small, tokenizer=str(scorer_dir))
    assert "drop_buckets needs buckets: true" in _spec_error(scorer_dir, drop_buckets=["tail"])
    assert "0 < first < second < 100" in _spec_error(scorer_dir, buckets=True, percentiles=[70, 20])


def test_auto_device_spreads_worker_processes_over_gpus(tmp_path, monkeypatch):
    """device: auto takes the first GPU no other process holds; none free, or a held cuda:i, is an error.

    No GPU is needed: the CUDA queries are patched, the file locks are real, and the other
    worker is a real process holding cuda:0's lock.
    """
    import os
    import subprocess
    import sys

    from curate.filters import perplexity as ppl

    lock = tmp_path / "_work" / "perplexity-cuda0.lock"
    lock.parent.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import fcntl, os, sys, time\n"
                f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(120)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    tables: list[dict[str, int]] = []

    def new_locks() -> dict[str, int]:
        tables.append({})
        return tables[-1]

    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)

        monkeypatch.setattr(ppl, "_GPU_LOCKS", new_locks())
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
        assert ppl.claim_device(tmp_path, "auto", share_gpu=False) == "cuda:1"
        assert ppl.claim_device(tmp_path, "auto", share_gpu=False) == "cuda:1"  # the process keeps its GPU

        monkeypatch.setattr(ppl, "_GPU_LOCKS", new_locks())
        with pytest.raises(RuntimeError, match="another worker process already scores on cuda:0"):
            ppl.claim_device(tmp_path, "cuda:0", share_gpu=False)
        with pytest.raises(RuntimeError, match="another worker process already scores on cuda:0"):
            ppl.claim_device(tmp_path, "cuda", share_gpu=False)

        monkeypatch.setattr(ppl, "_GPU_LOCKS", new_locks())
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
        with pytest.raises(RuntimeError, match=r"all 1 GPU\(s\) already have a scorer process"):
            ppl.claim_device(tmp_path, "auto", share_gpu=False)
        assert ppl.claim_device(tmp_path, "auto", share_gpu=True) == "cuda"
        assert ppl.claim_device(tmp_path, "cpu", share_gpu=False) == "cpu"
    finally:
        holder.kill()
        holder.wait()
    for fd in (fd for table in tables for fd in table.values()):
        os.close(fd)
