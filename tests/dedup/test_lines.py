"""line_dedup: lines recurring across the corpus are removed everywhere, with counts."""

from __future__ import annotations

import polars as pl

from curate.dedup.lines import LineDedup, normalise_lines
from tests.dedup.conftest import run_global


def test_normalise_lines():
    assert normalise_lines(pl.Series(["  Share on Facebook!! 2024 ", "Cookies:\tOK"])).to_list() == [
        "share on facebook 0000",
        "cookies ok",
    ]


def _corpus():
    boiler = ["Home | About | Contact", "© 2024 Example Corp. All rights reserved."]
    texts = []
    for i in range(12):
        body = (f"Article number {i} talks about topic {chr(97 + i)}.\nIt has its own second line "
                f"{chr(97 + i) * 3}.")
        year = 2000 + i  # digits normalise to 0: the footer still counts as one line
        texts.append(f"{boiler[0]}\n{body}\n© {year} Example Corp. All rights reserved.")
    texts.append("Home | About | Contact\n\n© 1999 Example Corp. all rights reserved")  # only boilerplate
    return pl.DataFrame({"id": [f"d{i:02d}" for i in range(len(texts))], "text": texts})


def test_boilerplate_lines_removed(tmp_path):
    df = _corpus()
    run = run_global(LineDedup, {"max_occurrences": 5}, df, tmp_path / "w", n_tasks=3)
    assert run.kept.height == 12 and run.dropped["id"].to_list() == ["d12"]
    assert set(run.dropped["reason"]) == {"line_dedup_empty"}
    for t, i in zip(run.kept["text"], range(12), strict=True):
        assert (
            t
            == f"Article number {i} talks about topic {chr(97 + i)}.\nIt has its own second line "
               f"{chr(97 + i) * 3}."
        )
    assert run.counters["lines_removed"] == 26 and run.counters["docs_modified"] == 13
    assert run.summary["frequent_lines"] == 2 and run.summary["frequent_occurrences"] == 26


def test_threshold_not_reached_keeps_text(tmp_path):
    df = _corpus()
    run = run_global(LineDedup, {"max_occurrences": 13}, df, tmp_path / "w", n_tasks=2)
    assert run.kept.equals(df) and run.dropped.height == 0


def test_one_vs_many_tasks(tmp_path):
    df = _corpus()
    a = run_global(LineDedup, {"max_occurrences": 3}, df, tmp_path / "a", n_tasks=1)
    b = run_global(
        LineDedup, {"max_occurrences": 3, "partitions": 2}, df, tmp_path / "b", n_tasks=4, batch_rows=2
    )
    assert a.kept.equals(b.kept) and a.dropped.equals(b.dropped)
