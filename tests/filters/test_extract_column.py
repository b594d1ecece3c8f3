"""extract reads HTML kept in a column of any reader (JSONL, Parquet), not only WARC bodies (issue 15).

Such rows used to end as ``malformed:missing_text`` (the reader wanted a ``text`` field) or pass
extract untouched (no ``html`` column).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from curate.engine.runner import run_pipeline

REPO = Path(__file__).resolve().parents[2]
ARTICLE = "".join(
    f"<p>Paragraph {i}: the committee discussed the new library budget in detail today.</p>" for i in range(8)
)
PAGE = ("<html><head><title>Budget news</title></head><body><nav>Home | "
        f"About</nav><article>{ARTICLE}</article></body></html>")


def _run(tmp_path: Path, inputs: list[dict], extract: dict) -> tuple[dict, pl.DataFrame, pl.DataFrame]:
    spec = {"name": "x", "inputs": inputs, "stages": [{"extract": extract}], "output": {"keep_rejects": True}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    run_pipeline(str(tmp_path / "p.yaml"), out, workers=1, quiet=True)
    stats = json.loads((out / "stats.json").read_text())
    kept = pl.concat(
        [pl.read_parquet(p) for p in sorted((out / "data").rglob("*.parquet"))], how="diagonal_relaxed"
    )
    rej = sorted((out / "rejects").rglob("*.parquet")) if (out / "rejects").exists() else []
    dropped = pl.concat([pl.read_parquet(p) for p in rej], how="diagonal_relaxed") if rej else pl.DataFrame()
    return stats, kept, dropped


def test_html_in_a_jsonl_field(tmp_path):
    rows = [
        {"url": "https://x.org/a", "html": PAGE},
        {"url": "https://x.org/b", "html": "<html><body></body></html>"},
    ]
    (tmp_path / "pages.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    stats, kept, dropped = _run(
        tmp_path,
        [{"source": "crawl", "reader": "jsonl", "text_key": "html", "paths": str(tmp_path / "pages.jsonl")}],
        {"html_column": "text"},
    )
    assert stats["stages"][0]["dropped"] == {}  # no malformed:missing_text
    assert kept.height == 1
    text = kept["text"][0]
    assert (
        "committee discussed the new library budget" in text
        and "<p>" not in text
        and "Home | About" not in text
    )
    assert kept["url"][0] == "https://x.org/a" and kept["title"][0] == "Budget news"
    assert dropped["reason"].to_list() == ["extract_empty"]
    assert dropped["text"][0].startswith("<html>")  # the reject keeps the page that explains it


def test_html_in_a_parquet_column_beside_text(tmp_path):
    """A Parquet crawl dump with its own (empty) text column and the page as bytes under `page`."""
    pq.write_table(pa.table({"text": ["", ""], "page": [PAGE.encode(), b"%PDF-1.4"], "url": ["u1", "u2"]}),
                   tmp_path / "dump.parquet")
    stats, kept, dropped = _run(
        tmp_path, [{"source": "dump", "reader": "parquet", "paths": str(tmp_path / "dump.parquet")}],
        {"html_column": "page"},
    )
    assert kept.height == 1 and "committee discussed" in kept["text"][0]
    assert "page" not in kept.columns  # dropped after extraction unless keep_html
    assert dropped["reason"].to_list() == ["extract_not_html"]


def test_a_named_column_that_is_not_there_says_how_to_read_it(ctx):
    from curate.filters.extract import Extract

    st = Extract(Extract.Config(html_column="html_body"), ctx)
    df = pl.DataFrame({"id": ["a"], "source": ["s"], "text": [PAGE]})
    with pytest.raises(ValueError, match="set html_column: text"):
        st.process(df)
    st.flush()


@pytest.fixture
def aeb() -> Path:
    root = Path(os.environ.get("CURATE_SHARED_DATA") or REPO / ".." / "shared" / "data") / "html_aeb"
    if not root.is_dir():
        pytest.skip("../shared/data is absent")
    return root


@pytest.mark.external
def test_real_news_pages_stored_in_parquet(tmp_path, aeb):
    """20 real pages of the article-extraction benchmark, stored as a Parquet `html` string column."""
    truth = json.loads((aeb / "ground-truth.json").read_text())
    keys = sorted(truth)[:20]
    html = []
    for k in keys:
        raw = gzip.decompress((aeb / "html" / f"{k}.html.gz").read_bytes())
        html.append(raw.decode("utf-8", "replace"))
    pq.write_table(
        pa.table({"url": [truth[k]["url"] for k in keys], "html": html, "key": keys}),
        tmp_path / "aeb.parquet",
    )
    stats, kept, dropped = _run(
        tmp_path,
        [{"source": "aeb", "reader": "parquet", "text_key": "html", "paths": str(tmp_path / "aeb.parquet")}],
        {"html_column": "text"},
    )
    assert stats["stages"][0]["dropped"] == {}
    assert kept.height + dropped.height == 20 and kept.height >= 18
    # the extracted text is the article: most of the ground-truth body's words are in it
    recalls = []
    for row in kept.iter_rows(named=True):
        gold = set(truth[row["key"]]["articleBody"].split())
        recalls.append(len(gold & set(row["text"].split())) / max(1, len(gold)))
    assert sum(recalls) / len(recalls) > 0.7, recalls
