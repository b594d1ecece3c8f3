"""The classifier recipe: SPEC sides, chunks, balance, AUC, held-out report, the CLI, model checks."""

from __future__ import annotations

import itertools
import json
import random

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from curate.eval.textsets import TextSpecError, parse_spec, read_spec
from curate.filters.classifier import QualityClassifier
from curate.filters.classifier_recipe import (
    RecipeOptions,
    Side,
    auc,
    balance,
    chunk,
    load_side,
    side_spec,
    train_recipe,
)
from curate.filters.cli import classifier as classifier_cli

GOOD = ["river", "mountain", "history", "science", "village", "library", "garden", "letter", "season"]
BAD = ["buy", "cheap", "click", "now", "free", "win", "deal", "login", "menu", "cookie", "share"]


def prose(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        "\n\n".join(
            " ".join(f"The {rng.choice(GOOD)} of the {rng.choice(GOOD)} was quiet." for _ in range(6))
            for _ in range(rng.randint(2, 4))
        )
        for _ in range(n)
    ]


def junk(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(BAD) for _ in range(rng.randint(20, 60))) for _ in range(n)]


def test_chunks_cut_at_paragraphs_and_keep_every_word():
    doc = "\n\n".join(f"para {i} " + "word " * (i * 7) for i in range(30))
    pieces = chunk(doc, 200)
    assert len(pieces) > 5
    assert all(len(p) <= 200 for p in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(doc.split())
    assert all(p.startswith("para") or p.startswith("word") for p in pieces)
    assert chunk(doc, 0) == [doc.strip()] and chunk("  \n ", 100) == []
    long_para = "x" * 450  # no space to cut at: cut hard
    assert [len(p) for p in chunk(long_para, 200)] == [200, 200, 50]


def test_auc_equals_the_pairwise_count_with_ties_a_half():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.integers(0, 5, rng.integers(1, 12)).astype(float)
        n = rng.integers(0, 5, rng.integers(1, 12)).astype(float)
        brute = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(p, n)])
        assert auc(p, n) == pytest.approx(brute)
    assert auc(np.array([0.9, 0.8]), np.array([0.1])) == 1.0
    assert np.isnan(auc(np.array([]), np.array([0.1])))


def test_side_specs_name_filter_and_expand_folders(tmp_path):
    (tmp_path / "shards/en").mkdir(parents=True)
    pl.DataFrame({"text": ["a b c", "d e f"]}).write_parquet(tmp_path / "shards/en/part-0.parquet")
    pl.DataFrame({"text": ["g h"]}).write_ndjson(tmp_path / "shards/extra.jsonl")
    (tmp_path / "shards/manifest.json").write_text("{}")  # not rows: a folder means Parquet/JSONL only
    s = side_spec(str(tmp_path / "shards"), "pos1")
    assert s.name == "pos1" and read_spec(s) == ["a b c", "d e f", "g h"]  # sorted paths, recursive
    rows = [{"output": "kept", "lang": "en"}, {"output": "other", "lang": "de"}]
    (tmp_path / "inst.json").write_text(json.dumps(rows))
    named = side_spec(f"inst={tmp_path}/inst.json#output?lang=en", "pos2")
    assert named.name == "inst" and read_spec(named) == ["kept"]
    (tmp_path / "bad.json").write_text('{"output": "not an array"}')
    with pytest.raises(TextSpecError, match="JSON array"):
        read_spec(parse_spec(f"b={tmp_path}/bad.json"))
    (tmp_path / "void").mkdir()
    with pytest.raises(FileNotFoundError, match="no .parquet"):
        side_spec(str(tmp_path / "void"), "pos3")


def test_load_side_caps_each_source_and_balance_equalises(tmp_path):
    pl.DataFrame({"text": prose(50, 1)}).write_parquet(tmp_path / "a.parquet")
    pl.DataFrame({"text": junk(10, 2)}).write_parquet(tmp_path / "b.parquet")
    side = load_side([f"a={tmp_path}/a.parquet", str(tmp_path / "b.parquet")], "pos", 4000, max_per_source=20)
    assert [(c.name, c.docs, c.kept) for c in side.counts] == [("a", 50, 20), ("pos2", 10, 10)]
    again = load_side([f"a={tmp_path}/a.parquet", str(tmp_path / "b.parquet")], "pos", 4000, 20)
    assert again.texts == side.texts  # seeded
    neg = Side(junk(7, 3), ["n"] * 7)
    p, n = balance(side, neg)
    assert len(p.texts) == len(n.texts) == 7 and set(p.texts) <= set(side.texts)
    with pytest.raises(ValueError, match="named 'a'"):
        load_side([f"a={tmp_path}/a.parquet", f"a={tmp_path}/b.parquet"], "pos")


def test_recipe_reports_held_out_auc_and_drops_pieces_seen_in_training(tmp_path):
    pl.DataFrame({"text": prose(120, 1)}).write_parquet(tmp_path / "pos.parquet")
    pl.DataFrame({"text": junk(150, 2)}).write_ndjson(tmp_path / "neg.jsonl")
    held_pos = prose(30, 9) + prose(120, 1)[:3]  # three pieces leak from training
    pl.DataFrame({"text": held_pos}).write_parquet(tmp_path / "hpos.parquet")
    pl.DataFrame({"text": junk(30, 8)}).write_parquet(tmp_path / "hneg.parquet")
    model = tmp_path / "m.bin"
    rep = train_recipe(
        [str(tmp_path / "pos.parquet")],
        [str(tmp_path / "neg.jsonl")],
        str(model),
        RecipeOptions(),
        [f"mine={tmp_path}/hpos.parquet"],
        [str(tmp_path / "hneg.parquet")],
    )
    assert rep["positives"] == rep["negatives"] == 120  # balanced down
    assert rep["before_balance"] == {"positives": 120, "negatives": 150}
    h = rep["held_out"]
    assert h["dropped_seen_in_training"] == 3 and h["positives"] == 30 and h["negatives"] == 30
    assert h["auc"] > 0.95 and h["auc_by_positive_set"]["mine"]["n"] == 30
    assert json.loads((tmp_path / "m.bin.json").read_text())["held_out"]["auc"] == h["auc"]
    out = CliRunner().invoke(
        classifier_cli,
        [
            "eval",
            str(model),
            "--pos",
            str(tmp_path / "hpos.parquet"),
            "--neg",
            str(tmp_path / "hneg.parquet"),
        ],
    )
    assert out.exit_code == 0, out.output
    ev = json.loads(out.output)
    assert ev["auc"] > 0.95 and ev["positives"] == 33
    with pytest.raises(ValueError, match="both --eval-pos and --eval-neg"):
        train_recipe(
            [str(tmp_path / "pos.parquet")],
            [str(tmp_path / "neg.jsonl")],
            str(model),
            eval_pos=[str(tmp_path / "hpos.parquet")],
        )


def test_cli_train_takes_specs_and_reports_a_bad_one(tmp_path):
    pl.DataFrame({"text": prose(40, 1)}).write_ndjson(tmp_path / "pos.jsonl")
    pl.DataFrame({"text": junk(40, 2)}).write_parquet(tmp_path / "neg.parquet")
    args = ["train", "--pos", f"p={tmp_path}/pos.jsonl", "--neg", str(tmp_path / "neg.parquet")]
    out = CliRunner().invoke(classifier_cli, [*args, "-o", str(tmp_path / "m.bin"), "--chunk-chars", "0"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["validation"]["auc"] == 1.0
    bad = CliRunner().invoke(
        classifier_cli,
        [
            "train",
            "--pos",
            str(tmp_path / "nope/*.jsonl"),
            "--neg",
            str(tmp_path / "neg.parquet"),
            "-o",
            str(tmp_path / "x.bin"),
        ],
    )
    assert bad.exit_code == 2 and "no file matches" in bad.output


def test_stage_checks_its_model_at_validation(tmp_path):
    with pytest.raises(ValidationError, match="no such file.*curate classifier train"):
        QualityClassifier.Config(model=str(tmp_path / "missing.bin"))
    import zipfile

    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("a.txt", "hi")
    with pytest.raises(ValidationError, match="not a curate classifier model"):
        QualityClassifier.Config(model=str(tmp_path / "other.zip"))
    ft = tmp_path / "fake.bin"
    ft.write_bytes((793712314).to_bytes(4, "little") + b"\0" * 16)  # fastText's magic: accepted here
    assert QualityClassifier.Config(model=str(ft)).model == str(ft)
