"""Bounded decompression (issue 14 item 2): whatever the ratio, no chunk is larger than the window,
so a decompression bomb costs memory of the window, not of what it inflates to; bz2 and xz read too."""

from __future__ import annotations

import bz2
import gzip
import lzma

import orjson
import pytest
import zstandard
from reader_testing import read_all

from curate.io.readers.decode import WINDOW, StreamError, iter_decompressed

COMPRESS = {
    "gz": lambda b: gzip.compress(b, 6),
    "zst": lambda b: zstandard.ZstdCompressor(level=3).compress(b),
    "bz2": bz2.compress,
    "xz": lzma.compress,
}
BOMB = 24 << 20  # 24 MB of one byte (6 windows): a few KB (zstd/xz) to ~25 KB (gzip) compressed


def _bomb(tmp_path, ext: str, good_after: bool = True):
    """A .jsonl.EXT whose first line is BOMB bytes long (no newline inside), then a good line."""
    body = b'{"text": "' + b"a" * BOMB + b'"}\n'
    if good_after:
        body += orjson.dumps({"text": "after the bomb"}) + b"\n"
    p = tmp_path / f"bomb.jsonl.{ext}"
    p.write_bytes(COMPRESS[ext](body))
    return p


@pytest.mark.parametrize("ext", sorted(COMPRESS))
def test_no_chunk_exceeds_the_window(tmp_path, ext):
    p = _bomb(tmp_path, ext)
    sizes = [len(c) for c in iter_decompressed(p, chunk=1 << 20)]
    assert sum(sizes) > BOMB
    assert max(sizes) <= WINDOW, f"{ext}: a {max(sizes)}-byte chunk from a {p.stat().st_size}-byte file"


@pytest.mark.parametrize("ext", sorted(COMPRESS))
def test_line_past_max_line_bytes_is_rejected_with_compressed_offset(tmp_path, ext):
    p = _bomb(tmp_path, ext)
    table, bad, _ = read_all("jsonl", p, max_line_bytes=8 << 20)
    assert [m.what for m in bad] == ["line_too_long"]
    assert bad[0].position == 1 and "compressed" in bad[0].detail and "byte" in bad[0].detail
    assert table.column("text").to_pylist() == ["after the bomb"]


@pytest.mark.parametrize("ext", sorted(COMPRESS))
def test_round_trip_multi_member_and_truncation(tmp_path, ext):
    rows = [{"text": f"doc {i}"} for i in range(3000)]
    data = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    p = tmp_path / f"two.jsonl.{ext}"
    p.write_bytes(COMPRESS[ext](data[:20000]) + COMPRESS[ext](data[20000:]))  # two members/frames/streams
    table, bad, _ = read_all("jsonl", p)
    assert bad == [] and table.column("text").to_pylist() == [r["text"] for r in rows]
    # bz2 decodes whole 900 KB blocks: give the cut half a few of them
    whole = COMPRESS[ext](b"".join(orjson.dumps({"text": f"doc {i}"}) + b"\n" for i in range(300_000)))
    cut = tmp_path / f"cut.jsonl.{ext}"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(StreamError):
        for _ in iter_decompressed(cut):
            pass
    table, bad, _ = read_all("jsonl", cut)
    kind = {"gz": "gzip", "zst": "zstd"}.get(ext, ext)
    # the line the cut goes through is malformed:json, the break itself malformed:<kind>
    assert [m.what for m in bad] in ([kind], ["json", kind])
    assert 0 < bad[-1].position <= len(whole) // 2
    assert table.num_rows > 0


def test_a_line_just_over_the_cap_ending_in_a_later_chunk_is_rejected(tmp_path):
    """The cap holds for a line whose newline arrives in the chunk that takes it over the cap (it was
    parsed as a record), and for lines inside one chunk."""
    p = tmp_path / "edge.jsonl.gz"
    p.write_bytes(gzip.compress(b'{"text": "' + b"a" * (9 << 20) + b'"}\n{"text": "ok"}\n'))
    table, bad, _ = read_all("jsonl", p, max_line_bytes=(9 << 20) + 5)
    assert [(m.what, m.position) for m in bad] == [("line_too_long", 1)]
    assert table.column("text").to_pylist() == ["ok"]
    q = tmp_path / "small.jsonl"
    q.write_bytes(b'{"text": "' + b"b" * 500 + b'"}\n{"text": "ok"}\n')
    table, bad, _ = read_all("jsonl", q, max_line_bytes=100)
    assert [(m.what, m.position) for m in bad] == [("line_too_long", 1)]
    assert table.column("text").to_pylist() == ["ok"]
