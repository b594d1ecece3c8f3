"""pipelines/web-plus.yaml end to end on CPU: generated data, a reference LM and a classifier trained here.

The models are made the way README's "Web plus" commands make them, through the same Python API
(`run_pipeline` on pipelines/books.yaml and pipelines/web-raw.yaml, `train_tokenizer`,
`curate.train.pretrain`, the classifier recipe), on `curate demo-data` at a tiny scale. The fast
tests check validation (missing models fail before any work, naming the path and the command to
train them) and run web-plus's own stage list on the demo's JSONL rows; the slow one runs the
pipeline file as it is, on the demo's WARC pages.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from curate.demo import generate
from curate.engine.errors import SpecError
from curate.engine.runner import run_pipeline
from curate.engine.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
WEB_PLUS = REPO / "pipelines" / "web-plus.yaml"
MODEL_STAGES = ("classifier", "perplexity")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Demo data at scale 0.05 and the two models web-plus needs, trained from it."""
    pytest.importorskip("torch")
    from curate.filters.classifier_recipe import RecipeOptions, train_recipe
    from curate.train import pretrain
    from curate.train.tokenizer import train_tokenizer

    root = tmp_path_factory.mktemp("webplus")
    data = root / "demo-data"
    generate(data, scale=0.05, seed=0)
    env = {"CURATE_DATA": str(data)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        books = run_pipeline(load_spec(REPO / "pipelines/books.yaml"), root / "books", workers=1, quiet=True)
        raw = run_pipeline(
            load_spec(REPO / "pipelines/web-raw.yaml"), root / "web-raw", workers=1, quiet=True
        )
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    tok = train_tokenizer([str(p) for p in books.shards], root / "ref-tok", vocab_size=512)
    pretrain(
        data=str(root / "books/data/en"),
        tokenizer=str(tok),
        preset="tiny",
        out=str(root / "ref"),
        max_steps=8,
        seq_len=64,
        batch_size=4,
        eval_interval=0,
        eval_rows=4,
        eval_batches=1,
        progress="quiet",
        device="cpu",
        compile="false",
    )
    report = train_recipe(
        [str(root / "books/data/en"), f"{data}/jsonl/*.jsonl.gz"],
        [str(root / "web-raw/data")],
        str(root / "quality.bin"),
        RecipeOptions(epochs=5),
    )
    assert sum(r for r in [pl.scan_parquet(f).select(pl.len()).collect().item() for f in raw.shards]) > 0
    return {
        "root": root,
        "data": data,
        "ref": root / "ref",
        "quality": root / "quality.bin",
        "report": report,
    }


def _env(**kw):
    """Set environment variables for a block; restore them after."""

    class _Ctx:
        def __enter__(self):
            self.old = {k: os.environ.get(k) for k in kw}
            os.environ.update({k: str(v) for k, v in kw.items()})

        def __exit__(self, *exc):
            for k, v in self.old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)

    return _Ctx()


def test_missing_models_fail_validation_with_the_path_and_the_command(tmp_path):
    with (
        _env(CURATE_QUALITY_MODEL=tmp_path / "nope.bin", CURATE_REF_MODEL=tmp_path / "no-ref"),
        pytest.raises(SpecError) as e,
    ):
        load_spec(WEB_PLUS)
    msg = str(e.value)
    assert "web-plus.yaml" in msg
    assert f"{tmp_path / 'nope.bin'}: no such file" in msg and "curate classifier train" in msg
    assert f"{tmp_path / 'no-ref'}: no such folder" in msg and "curate train pretrain" in msg


def test_a_folder_or_a_foreign_file_is_not_a_classifier_model(tmp_path):
    (tmp_path / "junk.bin").write_bytes(b"not a model at all")
    for bad, why in ((tmp_path, "is a folder"), (tmp_path / "junk.bin", "neither a curate classifier model")):
        with (
            _env(CURATE_QUALITY_MODEL=bad, CURATE_REF_MODEL=tmp_path / "no-ref"),
            pytest.raises(SpecError) as e,
        ):
            load_spec(WEB_PLUS)
        assert why in str(e.value)


def _stats(result) -> dict[str, dict]:
    return {s["name"]: s for s in result.stats["stages"]}


def test_web_plus_stages_on_demo_rows(models, tmp_path):
    """Fast: web-plus's stage list as it is, on the demo's JSONL rows (text already extracted)."""
    with _env(
        CURATE_QUALITY_MODEL=models["quality"], CURATE_REF_MODEL=models["ref"], CURATE_DATA=models["data"]
    ):
        spec = load_spec(
            WEB_PLUS,
            overrides=[
                "inputs.0.reader=jsonl",
                "stages.perplexity.threads=1",
                f"inputs.0.paths={models['data']}/jsonl/part-00000.jsonl.gz",
            ],
        )
    res = run_pipeline(spec, tmp_path / "out", workers=1, quiet=True)
    st = _stats(res)
    for name in MODEL_STAGES:
        assert st[name]["in"] == st[name]["out"] + sum(st[name]["dropped"].values())
    assert st["perplexity"]["dropped"].get("ppl_tail", 0) > 0  # drop_buckets: [tail]
    df = res.frame().collect()
    assert df.height > 0
    assert {"quality_score", "ppl", "bpb", "ppl_bucket"} <= set(df.columns)
    assert df["quality_score"].min() >= 0.5
    assert set(df["ppl_bucket"].unique()) <= {"head", "middle"}


@pytest.mark.slow
def test_web_plus_pipeline_file_on_demo_warc(models, tmp_path):
    """The pipeline file unchanged, on WARC pages: model scores rank planted junk below good pages."""
    with _env(
        CURATE_QUALITY_MODEL=models["quality"], CURATE_REF_MODEL=models["ref"], CURATE_DATA=models["data"]
    ):
        res = run_pipeline(load_spec(WEB_PLUS), tmp_path / "out", workers=1, quiet=True)
    st = _stats(res)
    assert [s for s in st][-3:] == ["classifier", "perplexity", "pii"]
    assert st["classifier"]["dropped"].get("classifier_low_score", 0) > 0
    truth = pl.read_ndjson(models["data"] / "web/truth.jsonl").select("url", "kind")
    kept = res.frame().collect().join(truth, on="url")
    assert kept.height > 0 and set(kept["kind"]) == {"good"}
    rejected = pl.read_parquet(tmp_path / "out/rejects/**/*.parquet").join(truth, on="url")
    scored = pl.concat(
        [
            kept.select("kind", "quality_score"),
            rejected.filter(pl.col("quality_score").is_not_null()).select("kind", "quality_score"),
        ]
    )
    good = scored.filter(pl.col("kind") == "good")["quality_score"].mean()
    junk = scored.filter(pl.col("kind") != "good")["quality_score"].mean()
    assert junk < good
