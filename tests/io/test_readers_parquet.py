"""The Parquet reader: row-index ids, null/missing text, corrupt files, streaming."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from reader_testing import read_all

from curate.io.readers.base import make_id


def test_rows_ids_and_metadata(tmp_path):
    p = tmp_path / "a.parquet"
    n = 5000
    pq.write_table(
        pa.table(
            {"text": [f"doc {i}" for i in range(n)], "id": list(range(n)), "score": [i / n for i in range(n)]}
        ),
        p,
        row_group_size=1200,
    )
    t, bad, tables = read_all("parquet", p, batch_rows=500, source="pq")
    assert bad == [] and t.num_rows == n
    assert all(x.num_rows <= 500 for x in tables)
    assert t.column("id").to_pylist() == [make_id("pq", "a.parquet", i) for i in range(n)]
    assert t.column("source_id").to_pylist() == list(range(n))
    assert t.column_names == ["id", "source", "text", "source_id", "score"]
    assert t.schema.field("text").type == pa.large_string()
    t2, _, _ = read_all("parquet", p, batch_rows=500, source="pq")
    assert t2.column("id").equals(t.column("id"))


def test_null_text_binary_text_and_text_key(tmp_path):
    p = tmp_path / "b.parquet"
    pq.write_table(pa.table({"body": ["a", None, "c"], "k": [1, 2, 3]}), p)
    t, bad, _ = read_all("parquet", p, text_key="body")
    assert t.column("text").to_pylist() == ["a", "c"] and t.column("k").to_pylist() == [1, 3]
    assert [(m.what, m.position) for m in bad] == [("missing_text", 1)]
    q = tmp_path / "bin.parquet"
    pq.write_table(pa.table({"text": pa.array([b"ok", b"\xff\xfe", b"fine"], pa.binary())}), q)
    t, bad, _ = read_all("parquet", q)
    assert t.column("text").to_pylist() == ["ok", "fine"]
    assert [(m.what, m.position) for m in bad] == [("utf8", 1)]


def test_missing_column_wrong_type_corrupt_and_empty(tmp_path):
    p = tmp_path / "c.parquet"
    pq.write_table(pa.table({"body": ["a"]}), p)
    t, bad, _ = read_all("parquet", p)
    assert t.num_rows == 0 and [m.what for m in bad] == ["missing_text"]
    p2 = tmp_path / "int.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), p2)
    t, bad, _ = read_all("parquet", p2)
    assert t.num_rows == 0 and [m.what for m in bad] == ["missing_text"]
    data = (tmp_path / "c.parquet").read_bytes()
    p3 = tmp_path / "trunc.parquet"
    p3.write_bytes(data[: len(data) // 2])
    t, bad, _ = read_all("parquet", p3)
    assert [m.what for m in bad] == ["parquet"] and t.num_rows == 0
    p4 = tmp_path / "zero.parquet"
    p4.write_bytes(b"")
    assert [m.what for m in read_all("parquet", p4)[1]] == ["empty_file"]
    p5 = tmp_path / "norows.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), p5)
    assert [m.what for m in read_all("parquet", p5)[1]] == ["empty_file"]


def _corrupt_middle_row_group(tmp_path):
    import pyarrow.parquet as pq

    p = tmp_path / "rg.parquet"
    texts = [f"document number {i} " + "x" * 50 for i in range(3000)]
    pq.write_table(
        pa.table({"text": texts}), p, row_group_size=1000, compression="none", use_dictionary=False
    )
    col = pq.ParquetFile(p).metadata.row_group(1).column(0)
    start = col.data_page_offset
    data = bytearray(p.read_bytes())
    data[start : start + 64] = b"\xff" * 64  # the page header of row group 1: undecodable
    p.write_bytes(bytes(data))
    return p


def test_a_row_group_that_fails_counts_its_rows(tmp_path):
    """issue 14 item 12: a Parquet row group that fails to decode stands for its rows, not 1."""
    p = _corrupt_middle_row_group(tmp_path)
    t, bad, _ = read_all("parquet", p)
    assert [(m.what, m.rows) for m in bad] == [("parquet", 1000)]
    assert t.num_rows + sum(m.rows for m in bad) == 3000


def test_read_stats_count_a_failed_row_group_as_its_rows(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from curate.cli import main

    _corrupt_middle_row_group(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(
        "name: rg\ninputs:\n  - {source: s, reader: parquet, paths: rg.parquet}\n"
    )
    r = CliRunner().invoke(main, ["run", "p.yaml", "-o", "out", "-q", "-w", "1"])
    assert r.exit_code == 0, r.output
    read = json.loads((tmp_path / "out" / "stats.json").read_text())["stages"][0]
    assert read["name"] == "read" and read["in"] == 3000 and read["dropped"] == {"malformed:parquet": 1000}
