"""The reward stage: SFT and preference rows scored by a reward model trained with `curate train rm`,
thresholds, a corpus-wide top fraction, contradicting pairs, too-long rows, bad model folders."""

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
MSG = pl.List(pl.Struct({"role": pl.Utf8, "content": pl.Utf8}))


def good(w: str) -> list[dict]:
    return [{"role": "user", "content": f"say {w}"}, {"role": "assistant", "content": f"{w} {w}"}]


def bad(w: str, other: str) -> list[dict]:
    return [{"role": "user", "content": f"say {w}"}, {"role": "assistant", "content": f"no, not {other}"}]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory) -> Path:
    from curate.train.tokenizer import train_tokenizer

    d = tmp_path_factory.mktemp("rtok")
    texts = [f"say {w} {w} {w} no, not {v}" for w in WORDS for v in WORDS] * 3
    pq.write_table(pa.table({"text": texts}), d / "corpus.parquet")
    return train_tokenizer([d / "corpus.parquet"], d / "tokenizer", vocab_size=320, min_frequency=1)


@pytest.fixture(scope="module")
def rm_dir(tmp_path_factory, tok_dir) -> Path:
    """A tiny reward model trained (curate.train rm) to prefer repeating the word over refusing."""
    from curate.train.loop import rm
    from curate.train.model import load_tokenizer

    tok = load_tokenizer(tok_dir)
    d = tmp_path_factory.mktemp("rm")
    rng = random.Random(0)
    cols: dict[str, list] = {
        k: [] for k in ("chosen_input_ids", "chosen_labels", "rejected_input_ids", "rejected_labels")
    }
    for _ in range(160):
        w, o = rng.sample(WORDS, 2)
        for side, conv in (("chosen", good(w)), ("rejected", bad(w, o))):
            ids = tok(tok.apply_chat_template(conv, tokenize=False), add_special_tokens=False)["input_ids"]
            cols[f"{side}_input_ids"].append(ids)
            cols[f"{side}_labels"].append(ids)
    (d / "data").mkdir()
    pq.write_table(
        pa.table({k: pa.array(v, pa.list_(pa.int32())) for k, v in cols.items()}),
        d / "data" / "part-0.parquet",
    )
    res = rm(
        data=str(d / "data"),
        out=str(d / "run"),
        tokenizer=str(tok_dir),
        preset="tiny",
        seq_len=64,
        max_steps=15,
        batch_size=16,
        lr=3e-3,
        warmup_steps=2,
        eval_interval=0,
        device="cpu",
        num_threads=1,
        progress="quiet",
    )
    assert res.eval_metrics[-1][1]["reward_acc"] >= 0.9
    return d / "run"


def sft_frame(n_good: int, n_bad: int, seed: int = 0) -> pl.DataFrame:
    rng = random.Random(seed)
    convs = [good(rng.choice(WORDS)) for _ in range(n_good)] + [
        bad(*rng.sample(WORDS, 2)) for _ in range(n_bad)
    ]
    return pl.DataFrame(
        {"id": [f"s{seed}-{i}" for i in range(len(convs))], "messages": convs},
        schema={"id": pl.Utf8, "messages": MSG},
    )


def pref_frame(n: int, n_swapped: int) -> pl.DataFrame:
    rng = random.Random(3)
    rows = []
    for i in range(n):
        w, o = rng.sample(WORDS, 2)
        c, r = good(w), bad(w, o)
        if i < n_swapped:  # a mislabelled pair: the refusal marked as chosen
            c, r = r, c
        rows.append({"id": f"p{i}", "messages": c[:1], "chosen_messages": c, "rejected_messages": r})
    return pl.DataFrame(
        rows, schema={"id": pl.Utf8, "messages": MSG, "chosen_messages": MSG, "rejected_messages": MSG}
    )


def drive(cfg, tasks: list[pl.DataFrame], work: Path, batch_rows: int = 5):
    """The engine's contract for a GlobalStage: collect per task, reduce, process per task."""
    from curate.engine.stage import StageContext
    from curate.filters.reward import Reward

    def ctx(i):
        return StageContext(
            run_dir=work,
            work_dir=work / "stage",
            stage_index=0,
            stage_name="reward",
            task_id=None if i is None else f"t{i}",
            n_tasks=len(tasks),
        )

    for i, t in enumerate(tasks):
        s = Reward(cfg, ctx(i))
        s.setup()
        for b in t.iter_slices(batch_rows):
            s.collect(b)
        s.finish_collect()
    driver = Reward(cfg, ctx(None))
    for step in driver.reduce_steps():
        step.run(0)
    kept, dropped = [], []
    for i, t in enumerate(tasks):
        s = Reward(cfg, ctx(i))
        for b in t.iter_slices(batch_rows):
            r = s.process(b)
            assert b.height == r.n_out + r.n_dropped  # in == out + dropped, every batch
            kept.append(r.kept)
            if r.dropped is not None and r.dropped.height:
                dropped.append(r.dropped)
    return pl.concat(kept), (pl.concat(dropped) if dropped else None), driver.reduce_summary()


def config(rm_dir, **kw):
    from curate.filters.reward import Reward

    return Reward.Config(model=str(rm_dir), device="cpu", **kw)


def test_threshold_drops_refusals_and_accounts_for_every_row(rm_dir, tmp_path):
    df = sft_frame(8, 8)
    kept, dropped, summary = drive(config(rm_dir, min_reward=0.0), [df], tmp_path)
    assert kept.height + dropped.height == df.height
    assert set(dropped["reason"]) == {"reward_too_low"}
    good_ids = set(df["id"][:8])
    assert set(kept["id"]) == good_ids and (kept["reward"] >= 0).all()
    assert summary["scored"] == 16 and "reward_margin" not in kept.columns


def test_scores_equal_the_classifier_loaded_by_transformers(rm_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from curate.engine.stage import StageContext
    from curate.filters.reward import Reward

    df = sft_frame(3, 3)
    table = Reward(config(rm_dir), StageContext(tmp_path, tmp_path, 0, "reward")).score(df)
    m = AutoModelForSequenceClassification.from_pretrained(str(rm_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(rm_dir))
    want = []
    for conv in df["messages"].to_list():
        ids = tok(
            tok.apply_chat_template(conv, tokenize=False), add_special_tokens=False, return_tensors="pt"
        )
        with torch.no_grad():
            want.append(float(m(input_ids=ids["input_ids"]).logits[0, 0]))
    assert np.allclose(table["reward"].to_pylist(), want, atol=1e-4)


def test_top_fraction_is_corpus_wide(rm_dir, tmp_path):
    # one task all good answers, the other all refusals: a per-task cut would keep half of each
    kept, dropped, summary = drive(
        config(rm_dir, top_fraction=0.5), [sft_frame(10, 0, 1), sft_frame(0, 10, 2)], tmp_path
    )
    assert kept.height == 10 and dropped.height == 10
    assert set(dropped["reason"]) == {"reward_not_top"} and all(i.startswith("s2-") for i in dropped["id"])
    assert summary["cutoff"] is not None and summary["top_fraction"] == 0.5


def test_contradicting_pairs_dropped_when_asked(rm_dir, tmp_path):
    df = pref_frame(12, 4)
    kept, dropped, summary = drive(config(rm_dir), [df], tmp_path / "a")
    assert dropped is None and {"reward", "reward_rejected", "reward_margin"} <= set(kept.columns)
    assert summary["pairs"] == 12 and summary["pairs_agreeing"] == 8
    kept, dropped, _ = drive(config(rm_dir, drop_contradicting=True), [df], tmp_path / "b")
    assert kept.height == 8 and set(dropped["id"]) == {f"p{i}" for i in range(4)}
    assert set(dropped["reason"]) == {"reward_contradicts_label"} and (dropped["reward_margin"] <= 0).all()
    assert np.allclose(kept["reward_margin"], kept["reward"] - kept["reward_rejected"])


def test_too_long_rows_are_dropped_not_truncated_and_turns_min(rm_dir, tmp_path):
    long = [good("apple")[0], {"role": "assistant", "content": " ".join(["apple"] * 1100)}]
    two = good("river") + bad("stone", "cloud")  # a good reply, then a refusal
    df = pl.DataFrame(
        {"id": ["long", "two", "ok"], "messages": [long, two, good("paper")]},
        schema={"id": pl.Utf8, "messages": MSG},
    )
    kept, dropped, summary = drive(config(rm_dir), [df], tmp_path / "a")
    assert dropped["id"].to_list() == ["long"] and dropped["reason"].to_list() == ["reward_too_long"]
    assert dropped["reward"].to_list() == [None] and summary["too_long"] == 1
    last = dict(zip(kept["id"], kept["reward"], strict=True))
    kept, _, _ = drive(config(rm_dir, turns="min"), [df], tmp_path / "b")
    low = dict(zip(kept["id"], kept["reward"], strict=True))
    assert low["two"] <= last["two"] + 1e-6 and low["ok"] == pytest.approx(last["ok"])


def test_response_perplexity_from_a_causal_lm(rm_dir, tok_dir, tmp_path):
    from curate.train.model import build_model, load_tokenizer

    tok = load_tokenizer(tok_dir)
    torch.manual_seed(0)
    build_model("tiny", tok, max_positions=64).save_pretrained(tmp_path / "lm")
    tok.save_pretrained(tmp_path / "lm")
    df = sft_frame(2, 2)
    kept, dropped, _ = drive(
        config(rm_dir, ppl_model=str(tmp_path / "lm"), max_response_ppl=1e9), [df], tmp_path / "w"
    )
    assert dropped is None and kept["response_ppl"].is_not_null().all() and (kept["response_bpb"] > 0).all()


def test_engine_run_on_normalized_preference_rows(rm_dir, tmp_path, monkeypatch):
    from curate.engine.runner import run_pipeline
    from curate.engine.spec import spec_from_dict

    monkeypatch.chdir(tmp_path)
    rng = random.Random(5)
    rows = []
    for i in range(12):
        w, o = rng.sample(WORDS, 2)
        c, r = (f"{w} {w}", f"no, not {o}") if i % 3 else (f"no, not {o}", f"{w} {w}")
        rows.append({"prompt": f"say {w}", "chosen": c, "rejected": r})
    (tmp_path / "pref.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = spec_from_dict(
        {
            "name": "rw",
            "inputs": [{"source": "pref", "reader": "sft_jsonl", "paths": "pref.jsonl"}],
            "stages": [
                {"sft_normalize": {"format": "preference"}},
                {"reward": {"model": str(rm_dir), "device": "cpu", "threads": 1, "drop_contradicting": True}},
            ],
            "output": {"keep_rejects": True},
        }
    )
    run_pipeline(spec, tmp_path / "out", workers=1, quiet=True)
    st = {s["name"]: s for s in json.loads((tmp_path / "out" / "stats.json").read_text())["stages"]}["reward"]
    assert st["in"] == 12 == st["out"] + sum(st["dropped"].values())
    assert st["dropped"] == {"reward_contradicts_label": 4}
    out = pl.read_parquet(sorted((tmp_path / "out" / "data").rglob("*.parquet")))
    assert out.height == 8 and (out["reward_margin"] > 0).all()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["global"]["reward"]["pairs"] == 12 and manifest["global"]["reward"]["pairs_agreeing"] == 8


def _spec_error(model, **kw) -> str:
    from curate.engine.errors import SpecError
    from curate.engine.spec import spec_from_dict

    with pytest.raises(SpecError) as e:
        spec_from_dict({"name": "x", "inputs": [], "stages": [{"reward": {"model": str(model), **kw}}]})
    return str(e.value)


def test_bad_reward_model_folders_fail_validation_with_path_and_reason(rm_dir, tok_dir, tmp_path):
    import shutil

    from curate.train.model import build_model, load_tokenizer

    missing = tmp_path / "nope"
    assert f"{missing}: no such folder" in _spec_error(missing)
    lm = tmp_path / "lm"  # a causal LM is not a reward model
    tok = load_tokenizer(tok_dir)
    build_model("tiny", tok, max_positions=64).save_pretrained(lm)
    assert f"{lm}: not a sequence classifier" in _spec_error(lm)
    cfg = json.loads((rm_dir / "config.json").read_text())

    def variant(name: str, **changes) -> Path:
        d = tmp_path / name
        shutil.copytree(rm_dir, d)
        (d / "config.json").write_text(json.dumps({**cfg, **changes}))
        return d

    two = variant("two", id2label={"0": "a", "1": "b"}, label2id={"a": 0, "b": 1})
    assert f"{two}: the classifier has 2 labels" in _spec_error(two)
    small = variant("small", vocab_size=100)
    assert f"{small}: the tokenizer has" in _spec_error(small) and "do not belong together" in _spec_error(
        small
    )
    other_pad = variant("pad", pad_token_id=cfg["pad_token_id"] + 1)
    assert f"{other_pad}: the tokenizer's pad id" in _spec_error(other_pad)
    no_tok = variant("notok")
    for f in no_tok.glob("tokenizer*"):
        f.unlink()
    assert f"{no_tok}: no tokenizer" in _spec_error(no_tok)
    assert "max_response_ppl needs ppl_model" in _spec_error(rm_dir, max_response_ppl=10)
