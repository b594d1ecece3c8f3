"""The JSONL reader: ids, positions, compression, and every malformed case it must survive."""

from __future__ import annotations

import gzip
import json
import string

import orjson
import pyarrow as pa
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reader_testing import read_all

from curate.io.readers.base import make_id


def lines_of(*objs) -> bytes:
    return b"".join((o if isinstance(o, bytes) else orjson.dumps(o)) + b"\n" for o in objs)


def test_ids_stable_unique_and_line_positions(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(
        lines_of({"text": "one", "url": "u1"}, {"text": "two", "url": "u2"})
        + b"\n"
        + lines_of({"text": "three"})
    )
    t1, bad, _ = read_all("jsonl", p, source="web")
    t2, _, _ = read_all("jsonl", p, source="web")
    assert bad == []
    assert t1.column("id").to_pylist() == t2.column("id").to_pylist()
    # line 3 is blank: not a record, but it still counts as a line
    assert t1.column("id").to_pylist() == [make_id("web", "a.jsonl", n) for n in (1, 2, 4)]
    assert t1.column_names[:3] == ["id", "source", "text"]
    assert t1.column("url").to_pylist() == ["u1", "u2", None]
    assert t1.column("source").to_pylist() == ["web"] * 3


def test_collisions_renamed_and_id_key(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(lines_of({"id": 7, "source": "x", "content": "hello", "text": "other"}))
    t, bad, _ = read_all("jsonl", p, text_key="content")
    assert bad == []
    row = t.to_pylist()[0]
    assert row["text"] == "hello" and row["source_id"] == 7 and row["source_orig"] == "x"
    assert row["text_orig"] == "other" and row["id"].startswith("src-")
    p.write_bytes(lines_of({"doc": "A1", "text": "hi"}))
    t, _, _ = read_all("jsonl", p, id_key="doc")
    assert t.column("source_id").to_pylist() == ["A1"] and "doc" not in t.column_names


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_compressed_same_records(tmp_path, suffix):
    raw = lines_of(*({"text": f"doc {i}", "n": i} for i in range(5000)))
    p = tmp_path / f"a{suffix}"
    if suffix.endswith(".gz"):
        # two gzip members back to back (pigz/bgzip style) must both be read
        p.write_bytes(gzip.compress(raw[:40000]) + gzip.compress(raw[40000:]))
    elif suffix.endswith(".zst"):
        c = zstandard.ZstdCompressor()
        p.write_bytes(c.compress(raw[:40000]) + c.compress(raw[40000:]))
    else:
        p.write_bytes(raw)
    t, bad, _ = read_all("jsonl", p, relpath="a.jsonl")
    assert bad == []
    assert t.column("n").to_pylist() == list(range(5000))
    assert t.column("id").to_pylist()[-1] == make_id("src", "a.jsonl", 5000)


def test_malformed_lines_are_pinpointed_and_neighbours_kept(tmp_path):
    deep = b'{"text": "deep", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    p = tmp_path / "bad.jsonl"
    p.write_bytes(
        lines_of(
            {"text": "ok1"},
            b'{"text": "broken',  # 2: invalid JSON
            b'{"text": "caf\xe9"}',  # 3: latin-1 byte
            {"title": "no text"},  # 4
            {"text": 5},  # 5: non-string text
            [1, 2],  # 6: not an object
            deep,  # 7: nesting > 1024
            b'{"text": "a\x00b"}',  # 8: raw NUL inside a string is invalid JSON
            {"text": "nul \u0000 escaped"},  # 9: an escaped NUL is fine
            {"text": "ok2"},  # 10
        )
    )
    t, bad, _ = read_all("jsonl", p)
    assert t.column("text").to_pylist() == ["ok1", "nul \u0000 escaped", "ok2"]
    assert [int(i[-10:]) for i in t.column("id").to_pylist()] == [1, 9, 10]
    got = {(m.position, m.reason) for m in bad}
    assert got == {
        (2, "malformed:json"),
        (3, "malformed:utf8"),
        (4, "malformed:missing_text"),
        (5, "malformed:missing_text"),
        (6, "malformed:missing_text"),
        (7, "malformed:json"),
        (8, "malformed:json"),
    }
    assert all(m.file == "bad.jsonl" and m.raw for m in bad)


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_truncated_compressed_keeps_prefix(tmp_path, kind):
    raw = lines_of(*({"text": "x" * 50 + str(i)} for i in range(20000)))
    comp = gzip.compress(raw) if kind == "gz" else zstandard.ZstdCompressor().compress(raw)
    cut = len(comp) // 2
    p = tmp_path / f"t.jsonl.{kind}"
    p.write_bytes(comp[:cut])
    t, bad, _ = read_all("jsonl", p)
    what = "gzip" if kind == "gz" else "zstd"
    stream_errors = [m for m in bad if m.what == what]
    assert len(stream_errors) == 1 and 0 < stream_errors[0].position <= cut
    assert 1000 < t.num_rows < 20000
    # what was read is an exact prefix; the cut-off last line (if any) is a json error, not lost
    assert t.column("text").to_pylist() == ["x" * 50 + str(i) for i in range(t.num_rows)]
    assert {m.what for m in bad} <= {what, "json"}


def test_corrupt_gzip_and_not_gzip(tmp_path):
    raw = lines_of(*({"text": str(i)} for i in range(1000)))
    comp = bytearray(gzip.compress(raw))
    comp[len(comp) // 2 :] = b"\xff" * (len(comp) - len(comp) // 2)
    p = tmp_path / "c.jsonl.gz"
    p.write_bytes(bytes(comp))
    t, bad, _ = read_all("jsonl", p)
    assert [m.what for m in bad if m.what == "gzip"] == ["gzip"]
    q = tmp_path / "plain.jsonl.gz"
    q.write_bytes(raw)
    t, bad, _ = read_all("jsonl", q)
    assert t.num_rows == 0 and [(m.what, m.position) for m in bad] == [("gzip", 0)]


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", gzip.compress(b"")])
def test_empty_files(tmp_path, content):
    p = tmp_path / ("e.jsonl.gz" if content.startswith(b"\x1f\x8b") else "e.jsonl")
    p.write_bytes(content)
    t, bad, tables = read_all("jsonl", p)
    assert [m.reason for m in bad] == ["malformed:empty_file"]
    assert t.num_rows == 0 and t.column_names[:3] == ["id", "source", "text"]


def test_last_line_without_newline_and_crlf(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"text": "a"}\r\n{"text": "b"}')
    t, bad, _ = read_all("jsonl", p)
    assert bad == [] and t.column("text").to_pylist() == ["a", "b"]


def test_batches_bounded_and_schema_consistent(tmp_path):
    p = tmp_path / "big.jsonl"
    line = {"text": "word " * 200, "k": 1}
    with open(p, "wb") as f:
        for i in range(20_000):  # ~20 MB
            f.write(orjson.dumps({**line, "k": i, "opt": None if i < 15000 else "late"}) + b"\n")
    _, bad, tables = read_all("jsonl", p, batch_rows=1000)
    assert bad == []
    assert all(t.num_rows <= 1000 for t in tables) and sum(t.num_rows for t in tables) == 20_000
    # one schema, except that a column null in every row so far is typed `null` until its first value
    assert {str(t.schema.field("opt").type) for t in tables} == {"null", "string"}
    assert len({t.schema.remove(t.schema.get_field_index("opt")) for t in tables}) == 1
    first = next(i for i, t in enumerate(tables) if t.column("opt").null_count < t.num_rows)
    assert {str(t.schema.field("opt").type) for t in tables[first:]} == {"string"}
    pa.unify_schemas([t.schema for t in tables])
    assert tables[-1].column("opt").to_pylist()[-1] == "late"


def test_long_line_and_line_cap(tmp_path):
    big = "y" * (12 << 20)  # longer than one read chunk
    p = tmp_path / "long.jsonl"
    p.write_bytes(lines_of({"text": "a"}, {"text": big}, {"text": "c"}))
    t, bad, _ = read_all("jsonl", p)
    assert bad == [] and [len(x) for x in t.column("text").to_pylist()] == [1, len(big), 1]
    t, bad, _ = read_all("jsonl", p, max_line_bytes=1 << 20)
    assert t.column("text").to_pylist() == ["a", "c"]
    assert [(m.what, m.position) for m in bad] == [("line_too_long", 2)]
    assert [int(i[-10:]) for i in t.column("id").to_pylist()] == [1, 3]


_valid = st.builds(lambda s: json.dumps({"text": s}), st.text(max_size=30))
_invalid = st.sampled_from(['{"text": ', "{", '{"text": 1}', "[]", "null", '"str"', '{"a": "b"}', "}{"])
_blank = st.sampled_from(["", "   ", "\t"])
_ascii_junk = st.text(alphabet=string.ascii_letters + '{}[]:,"', min_size=1, max_size=10)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(_valid, _invalid, _blank, _ascii_junk), max_size=60), st.integers(1, 7))
def test_property_rows_plus_malformed_equals_nonblank_lines(tmp_path, lines, batch_rows):
    p = tmp_path / "h.jsonl"
    p.write_text("\n".join(lines) + "\n")
    t, bad, tables = read_all("jsonl", p, batch_rows=batch_rows)
    nonblank = sum(1 for ln in lines if ln.strip())
    if nonblank == 0:
        assert [m.what for m in bad] == ["empty_file"]
        return
    assert t.num_rows + len(bad) == nonblank
    assert all(x.num_rows <= batch_rows for x in tables)
    positions = [int(i[-10:]) for i in t.column("id").to_pylist()] + [m.position for m in bad]
    assert len(set(positions)) == nonblank  # each non-blank line is exactly one row or one reject


@pytest.mark.slow
def test_100mb_single_line_memory_bounded(tmp_path):
    """A 100 MB line is read with peak memory a small multiple of its size (fresh process)."""
    import subprocess
    import sys

    p = tmp_path / "huge.jsonl"
    with open(p, "wb") as f:
        f.write(b'{"text": "small"}\n{"text": "')
        for _ in range(100):
            f.write(b"z" * (1 << 20))
        f.write(b'"}\n{"text": "after"}\n')
    code = (
        "import resource, sys; from pathlib import Path; from curate.io.readers.base import readers\n"
        "R = readers()['jsonl']; base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "n = [len(t) for b in R(R.Config(), 's').read(Path(sys.argv[1]), 'h') for t in "
        "b.table.column('text').to_pylist()]\n"
        "print(n, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(p)], capture_output=True, text=True, check=True
    ).stdout
    lens, grown_mb = out.rsplit(" ", 1)
    assert lens == str([5, 100 << 20, 5])
    assert int(grown_mb) < 6 * 100, f"peak RSS grew by {grown_mb} MB for a 100 MB line"


def test_mixed_type_metadata_becomes_text(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_bytes(lines_of({"text": "a", "x": 1}, {"text": "b", "x": "two"}, {"text": "c", "x": {"k": [1]}}))
    t, bad, _ = read_all("jsonl", p)
    assert bad == [] and t.column("x").to_pylist() == ["1", "two", '{"k":[1]}']


def test_later_batches_fit_an_established_string_column(tmp_path):
    p = tmp_path / "m.jsonl"
    rows = [{"text": "a", "x": "s"}] * 5 + [{"text": "b", "x": 7}] * 5 + [{"text": "c", "x": {"k": 1}}] * 5
    p.write_bytes(lines_of(*rows))
    _, bad, tables = read_all("jsonl", p, batch_rows=5)
    assert bad == [] and {str(t.schema.field("x").type) for t in tables} == {"string"}
    assert [t.column("x")[0].as_py() for t in tables] == ["s", "7", '{"k":1}']
