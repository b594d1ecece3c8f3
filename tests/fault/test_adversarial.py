"""Corrupt and adversarial inputs: the run finishes and every bad input lands in rejects with a reason.

One pipeline reads a folder of hostile files per reader (JSONL, text, WARC where registered). The
check is per file: rejects/read/ holds a row for it with the expected ``malformed:<what>`` reason,
and the good records next to the damage are still in the output.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import polars as pl
import pytest
import zstandard

from curate.io.readers.base import readers
from tests.fault.conftest import run_cli

pytestmark = pytest.mark.fault

GOOD = [json.dumps({"text": f"good document number {i} with enough words"}) for i in range(50)]
GOOD_BYTES = ("\n".join(GOOD) + "\n").encode()


def _jsonl_files(d: Path) -> dict[str, str]:
    """file name -> the malformed reason expected for it."""
    d.mkdir(parents=True)
    gz = gzip.compress(GOOD_BYTES * 50)
    (d / "truncated.jsonl.gz").write_bytes(gz[: len(gz) // 2])
    zs = zstandard.ZstdCompressor().compress(GOOD_BYTES * 50)
    (d / "truncated.jsonl.zst").write_bytes(zs[: len(zs) // 2])
    (d / "bad_utf8.jsonl").write_bytes(
        GOOD_BYTES[:200].rsplit(b"\n", 1)[0] + b'\n{"text": "caf\xe9 \xff\xfe"}\n'
    )
    with open(d / "one_100mb_line.jsonl", "wb") as fh:  # streamed: over max_line_bytes, never parsed
        fh.write(b'{"text": "')
        chunk = b"a" * (1 << 20)
        for _ in range(100):
            fh.write(chunk)
        fh.write(b'"}\n' + GOOD[0].encode() + b"\n")
    deep = "[" * 100_000 + "]" * 100_000
    nested_obj = '{"text": "x", "meta": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    (d / "deeply_nested.jsonl").write_text(deep + "\n" + nested_obj + "\n" + GOOD[1] + "\n")
    (d / "nul_bytes.jsonl").write_bytes(
        b'{"text": "before\x00after"}\n\x00\x00\x00\n' + GOOD[2].encode() + b"\n"
    )
    (d / "zero_bytes.jsonl").write_bytes(b"")
    (d / "only_blank_lines.jsonl").write_bytes(b"\n\n   \n")
    (d / "not_objects.jsonl").write_text('[1, 2]\n"just a string"\n{"no_text": 1}\n{"text": 5}\n')
    return {
        "truncated.jsonl.gz": "malformed:gzip",
        "truncated.jsonl.zst": "malformed:zstd",
        "bad_utf8.jsonl": "malformed:utf8",
        "one_100mb_line.jsonl": "malformed:line_too_long",
        "deeply_nested.jsonl": "malformed:json",
        "nul_bytes.jsonl": "malformed:json",
        "zero_bytes.jsonl": "malformed:empty_file",
        "only_blank_lines.jsonl": "malformed:empty_file",
        "not_objects.jsonl": "malformed:missing_text",
    }


def _text_files(d: Path) -> dict[str, str]:
    d.mkdir(parents=True)
    (d / "ok.txt").write_text("a perfectly fine book chapter\n" * 20)
    (d / "zero.txt").write_bytes(b"")
    (d / "bad_utf8.txt").write_bytes(b"caf\xe9 au lait \xff\xfe\xfd " * 50)
    (d / "nul.txt").write_bytes(b"text\x00with\x00nul\x00bytes" * 10)
    (d / "huge.txt").write_bytes(b"<div>" * ((2 << 20) // 5))  # 2 MB > max_bytes 1 MB: a size bomb
    return {
        "zero.txt": "malformed:empty_file",
        "bad_utf8.txt": "malformed:utf8",
        "nul.txt": "malformed:binary",
        "huge.txt": "malformed:too_large",
    }


def _warc_record(i: int, payload: bytes, cl_delta: int = 0, headers: str = "") -> bytes:
    http = (
        f"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n{headers}Content-Length: "
        f"{len(payload)}\r\n\r\n".encode()
        + payload
    )
    head = (
        f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
        f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{i:012d}>\r\nWARC-Target-URI: http://example.com/{i}\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http) + cl_delta}\r\n\r\n"
    ).encode()
    return head + http + b"\r\n\r\n"


def _warc_files(d: Path) -> dict[str, str]:
    d.mkdir(parents=True)
    page = b"<html><body><p>" + b"a real paragraph of text. " * 20 + b"</p></body></html>"
    recs = [
        _warc_record(0, page),
        _warc_record(1, page, cl_delta=5000),
        _warc_record(2, page),
        _warc_record(3, page),
    ]
    (d / "wrong_content_length.warc").write_bytes(b"".join(recs))
    short = [_warc_record(0, page), _warc_record(1, page, cl_delta=-40), _warc_record(2, page)]
    (d / "short_content_length.warc").write_bytes(b"".join(short))
    (d / "zero.warc.gz").write_bytes(b"")
    (d / "truncated.warc.gz").write_bytes(b"".join(gzip.compress(r) for r in recs[:1] + recs[2:])[:-300])
    return {
        "wrong_content_length.warc": "malformed:warc",
        "short_content_length.warc": "malformed:warc",
        "zero.warc.gz": "malformed:empty_file",
        "truncated.warc.gz": "malformed:warc",
    }


@pytest.fixture(scope="module")
def adversarial_run(tmp_path_factory, fault_mods):
    root = tmp_path_factory.mktemp("adversarial")
    expected: dict[str, dict[str, str]] = {
        "jsonl": _jsonl_files(root / "jsonl"),
        "text": _text_files(root / "text"),
    }
    inputs = [
        {"source": "jsonl", "reader": "jsonl", "paths": "jsonl/*", "max_line_bytes": 16 << 20},
        {
            "source": "text",
            "reader": "text",
            "paths": "text/*.txt",
            "max_bytes": 1 << 20,
            "encoding": "utf-8",
        },
    ]
    if "warc" in readers():
        expected["warc"] = _warc_files(root / "warc")
        inputs.append({"source": "warc", "reader": "warc", "paths": "warc/*"})
    import yaml

    (root / "p.yaml").write_text(yaml.safe_dump({
        "name": "adversarial", "inputs": inputs, "stages": [], "output": {"keep_rejects": True},
    }))
    r = run_cli(["run", "p.yaml", "-o", "out", "-w", "2", "-q"], root, fault_mods, timeout=600)
    return root, r, expected


def _rejects(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "rejects" / "read" / "*.parquet")


def test_run_finishes_on_hostile_input(adversarial_run):
    root, r, _ = adversarial_run
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert (root / "out" / "manifest.json").exists() and (root / "out" / "report.html").exists()


@pytest.mark.parametrize("reader", ["jsonl", "text", "warc"])
def test_every_bad_file_lands_in_rejects_with_its_reason(adversarial_run, reader):
    root, r, expected = adversarial_run
    if reader not in expected:
        pytest.skip(f"reader {reader!r} is not registered yet")
    assert r.returncode == 0, r.stderr
    rej = _rejects(root / "out").filter(pl.col("source") == reader)
    got: dict[str, set[str]] = {}
    for f, reason in rej.select("file", "reason").iter_rows():
        got.setdefault(Path(f).name, set()).add(reason)
    for name, reason in expected[reader].items():
        assert name in got, f"{name}: no reject row (rejects for {reader}: {got})"
        assert any(g == reason or g.startswith(reason) for g in got[name]), (
            f"{name}: {got[name]} lacks {reason}"
        )
    # every reject says where: a file, a position, a reason, a snippet that is bounded
    assert rej["reason"].null_count() == 0 and rej["file"].null_count() == 0
    assert rej["raw"].str.len_chars().max() <= 1000


def test_good_records_next_to_damage_are_kept(adversarial_run):
    root, r, _ = adversarial_run
    assert r.returncode == 0, r.stderr
    out = pl.read_parquet(root / "out" / "data" / "*.parquet")
    texts = set(out.filter(pl.col("source") == "jsonl")["text"].to_list())
    # lines before a truncation, the good line after a 100 MB line / nested JSON / NUL bytes
    assert {json.loads(g)["text"] for g in GOOD[:3]} <= texts
    stats = json.loads((root / "out" / "stats.json").read_text())
    read = stats["stages"][0]
    assert read["name"] == "read" and read["in"] == read["out"] + sum(read["dropped"].values())
    if "warc" in readers():
        urls = set(out.filter(pl.col("source") == "warc")["url"].to_list())
        # the records before the damage, and a record after a resynchronisation
        assert {"http://example.com/0", "http://example.com/2"} <= urls


@pytest.mark.slow
def test_warc_decompression_bomb_is_rejected(tmp_path, fault_mods):
    if "warc" not in readers():
        pytest.skip("warc reader not registered yet")
    co = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"<div>" * (1 << 20)
    body = b"".join(co.compress(block) for _ in range(40)) + co.flush()  # 200 MB of HTML in ~200 KB
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "bomb.warc").write_bytes(_warc_record(0, body, headers="Content-Encoding: gzip\r\n"))
    (tmp_path / "p.yaml").write_text(
        "name: bomb\ninputs:\n  - {source: w, reader: warc, paths: w/*.warc, max_record_bytes: 67108864}\n"
        "output: {keep_rejects: true}\n"
    )
    r = run_cli(["run", "p.yaml", "-o", "out", "-q"], tmp_path, fault_mods, timeout=300)
    assert r.returncode == 0, r.stderr
    rej = _rejects(tmp_path / "out")
    assert rej.height == 1 and rej["reason"][0].startswith("malformed:")


def test_html_bombs_land_in_extract_rejects(tmp_path, fault_mods):
    """Pathological pages (200k-deep nesting, a table bomb, an oversize page) are rejected by the
    extract stage with its reason; a normal page beside them is kept."""
    from curate.engine.registry import builtin_stages

    if "warc" not in readers() or "extract" not in builtin_stages():
        pytest.skip("warc reader or extract stage not registered yet")
    good = (
        b"<html><body><article><p>"
        + b"A normal paragraph with real sentences in it. " * 40
        + b"</p></article></body></html>"
    )
    pages = {
        "nesting": b"<html><body>" + b"<div>" * 80_000 + b"hello" + b"</div>" * 80_000 + b"</body></html>",
        "table": b"<html><body>" + b"<table><tr><td>" * 50_000 + b"x</body></html>",
        "oversize": b"<html><body><p>" + b"big page " * 200_000 + b"</p></body></html>",
        "good": good,
    }
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "bombs.warc").write_bytes(
        b"".join(_warc_record(i, body) for i, body in enumerate(pages.values()))
    )
    (tmp_path / "p.yaml").write_text(
        "name: bombs\ninputs:\n  - {source: web, reader: warc, paths: w/*.warc}\n"
        "stages:\n  - extract: {timeout_s: 10, max_bytes: 1000000}\n"
        "output: {keep_rejects: true}\n"
    )
    r = run_cli(["run", "p.yaml", "-o", "out", "-q"], tmp_path, fault_mods, timeout=300)
    assert r.returncode == 0, r.stderr
    rej = pl.read_parquet(tmp_path / "out" / "rejects" / "00-extract" / "*.parquet")
    reasons = dict(zip(rej["url"].to_list(), rej["reason"].to_list(), strict=True))
    for i, name in enumerate(pages):
        url = f"http://example.com/{i}"
        if name == "good":
            assert url not in reasons
        else:
            assert reasons.get(url, "").startswith("extract_"), (name, reasons)
    assert reasons["http://example.com/2"] == "extract_too_large"
    out = pl.read_parquet(tmp_path / "out" / "data" / "*.parquet")
    assert out["url"].to_list() == ["http://example.com/3"]
