"""Text set SPECs, bounded samples, task files and their metrics, and the `curate eval` command."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import clean_text, tiny_model

from curate.eval import (
    TaskFormatError,
    TextSpecError,
    bound_bytes,
    load_task,
    load_text_sets,
    parse_spec,
    score_tasks,
)
from curate.eval.tasks import TASKS, Item, item_metrics


def test_parse_spec():
    s = parse_spec("gold=/d/pages.jsonl.gz#gold_text?split=heldout&lang=en&strip_markup")
    assert (s.name, s.path, s.column, s.filters, s.strip_markup) == (
        "gold", "/d/pages.jsonl.gz", "gold_text", {"split": "heldout", "lang": "en"}, True)
    assert parse_spec("b=books/*.txt.gz").column == "text"
    for bad in ("nopath", "=x.txt", "a=x.jsonl?bogus"):
        with pytest.raises(TextSpecError):
            parse_spec(bad)


def test_load_text_sets_all_formats(tmp_path):
    (tmp_path / "a.txt").write_text("first book")
    with gzip.open(tmp_path / "b.txt.gz", "wt") as fh:
        fh.write("second book")
    rows = [{"t": "URL: http://x\n<p>kept en</p>\n<h>Title", "split": "heldout", "lang": "en", "ok": True},
            {"t": "dropped de", "split": "heldout", "lang": "de", "ok": True},
            {"t": "dropped train", "split": "train", "lang": "en", "ok": False}]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    sets = load_text_sets(
        [
            f"books={tmp_path}/*.txt*",
            f"j={tmp_path}/p.jsonl#t?split=heldout&lang=en&strip_markup",
            f"pq={tmp_path}/p.parquet#t?ok=true",
        ]
    )
    assert sets[0].docs == ["first book", "second book"]
    assert load_text_sets([f"x={tmp_path}/b.txt.gz|{tmp_path}/a.txt"])[0].docs == [
        "second book",
        "first book",
    ]
    assert sets[1].docs == ["kept en\n\nTitle"]
    assert [d.startswith("URL:") for d in sets[2].docs] == [True, False]
    with pytest.raises(TextSpecError, match="no column"):
        load_text_sets([f"x={tmp_path}/p.parquet#nope"])
    with pytest.raises(TextSpecError, match="no documents"):
        load_text_sets([f"x={tmp_path}/p.jsonl#t?lang=fr"])
    with pytest.raises(TextSpecError, match="no file"):
        load_text_sets([f"x={tmp_path}/missing*.txt"])


def test_bound_bytes_is_deterministic_and_spread():
    docs = ["a" * 10, "b" * 1000, "é" * 500, "c" * 5]
    out = bound_bytes(docs, 400)
    assert sum(len(d.encode()) for d in out) <= 400 and out == bound_bytes(docs, 400)
    assert out[0] == "a" * 10 and out[3] == "c" * 5  # short documents stay whole
    assert len(out[1]) > 100 and out[2].startswith("é") and len(out) == 4
    assert bound_bytes(docs, None) is docs and bound_bytes(docs, 10**6) == docs


def test_acc_norm_is_lm_evals_definition():
    d = TASKS["piqa"]
    # ll / len(choice): choice 1 has the higher total, choice 0 (the long one) the higher per character
    item = Item(["q"] * 2, [" abcdefghij", " ab"], ["abcdefghij", "ab"], gold=0)
    m = item_metrics(d, item, [-4.0, -3.0], [False, False])
    assert m["acc"] == 0.0 and m["acc_norm"] == 1.0
    # characters, not bytes: "éé" is 2 characters, 4 bytes
    item = Item(["q"] * 2, [" éé", " abc"], ["éé", "abc"], gold=0)
    m = item_metrics(d, item, [-2.2, -3.0], [False, False])
    assert np.argmax(np.array([-2.2, -3.0]) / np.array([2.0, 3.0])) == 1  # per character: choice 1
    assert m["acc"] == 1.0 and m["acc_norm"] == 0.0 and m["acc_bytes"] == 1.0  # per byte: choice 0


def test_bad_rows_name_file_line_and_fields(tmp_path):
    (tmp_path / "piqa.jsonl").write_text(
        '{"query": "q", "choices": ["a", "b"], "gold": 0}\n{"goal": "q", "sol1": "a"}\n'
    )
    with pytest.raises(TaskFormatError, match=r"piqa.jsonl:2: .*query \(str\), choices"):
        load_task(tmp_path, "piqa")
    (tmp_path / "copa.jsonl").write_text('{"query": "q", "choices": ["a", "b"], "gold": 2}\n')
    with pytest.raises(TaskFormatError, match=r"copa.jsonl:1: gold is 2"):
        load_task(tmp_path, "copa")
    (tmp_path / "winogrande.jsonl").write_text("not json\n")
    with pytest.raises(TaskFormatError, match="winogrande.jsonl:1: not JSON"):
        load_task(tmp_path, "winogrande")


def test_score_tasks_on_synthetic_items(tmp_path, tokenizer, trained):
    rows = [{"query": f"The {w} is near the", "choices": [w2, "zq xv"], "gold": 0}
            for w, w2 in zip(["apple", "river", "stone"], ["river", "stone", "apple"], strict=True)]
    (tmp_path / "copa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "lambada_openai.jsonl").write_text(
        json.dumps({"context": "The apple is near the river. The river is near the", "continuation": "apple"})
        + "\n"
    )
    r = score_tasks(trained, tokenizer, ["copa", "lambada"], tmp_path, progress=False)
    assert r["copa"]["n"] == 3 and r["copa"]["acc"] == 1.0  # a real word beats noise after training
    assert r["lambada_openai"]["n"] == 1 and r["lambada_openai"]["ppl"] > 1.0


@pytest.mark.external
def test_shared_eval_files_and_gold_spec_load(shared_data):
    for name in TASKS:
        _, items = load_task(shared_data / "evals", name, limit=50)
        assert len(items) == 50
    _, lam = load_task(shared_data / "evals", "lambada_openai")
    assert len(lam) == 5153
    g = f"{shared_data}/clean_text/gutenberg"
    books = load_text_sets([f"books={g}/Joy*.txt.gz|{g}/[K-Z]*.txt.gz"])[0]
    assert len(books.docs) > 30 and books.n_bytes > 10_000_000
    gold = load_text_sets(
        [f"gold={shared_data}/web_real/gold.jsonl.gz#gold_text?split=heldout&lang=en&strip_markup"]
    )[0]
    # 446 English held-out pages; one gold text is only its URL line, so 445 documents
    assert len(gold.docs) == 445 and not any(
        d.startswith("URL:") or "<p>" in d or "&#039;" in d for d in gold.docs
    )


def test_cli_writes_eval_json_and_a_table(tmp_path, tokenizer):
    from curate.cli import main

    run = tmp_path / "run"
    tiny_model(tokenizer).save_pretrained(run)
    tokenizer.save_pretrained(run)
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, t in enumerate(clean_text(3, seed=8)):
        (docs / f"{i}.txt").write_text(t)
    (tmp_path / "copa.jsonl").write_text(
        json.dumps({"query": "The apple is", "choices": ["near", "far"], "gold": 0}) + "\n"
    )
    out = tmp_path / "eval.json"
    res = CliRunner().invoke(
        main,
        [
            "eval",
            str(run),
            "--text",
            f"docs={docs}/*.txt",
            "--tasks-dir",
            str(tmp_path),
            "--device",
            "cpu",
            "-q",
            "-o",
            str(out),
            "--max-bytes",
            "200",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert (
        data["bpb"]["docs"]["bytes"] <= 200
        and data["bpb"]["docs"]["docs"] == 3
        and data["tasks"]["copa"]["n"] == 1
    )
    assert (
        "docs" in res.output
        and "copa" in res.output
        and data["settings"]["prefix_token_id"] == tokenizer.eos_token_id
    )
    bad = CliRunner().invoke(main, ["eval", str(run), "--text", "x=/nonexistent/*.txt"])
    assert bad.exit_code == 2 and "no file matches" in bad.output


def test_strip_markup_drops_what_no_reader_sees():
    from curate.eval.textsets import strip_markup

    page = ('<html><head>\n<style type="text/css">\n<!--\n.x { color: red }\n-->\n</style>\n<title>T</title>'
            '</head><body><!-- ad --><p>Kept <b>text</b> &amp; more.</p><SCRIPT>var x = 1;</SCRIPT>'
            '<div>Second</div></body></html>')
    assert strip_markup(page) == "Kept text & more.\n\nSecond"
