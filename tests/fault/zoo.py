"""The malformed-input zoo: one generated file per kind of hostile input, with what it must give.

Every kind names the reader that reads it, the reject reason it must give (``malformed:<what>``),
and how many good records sit next to the damage (all of them must come out: rows lost = 0).
``scale="full"`` makes the decompression bombs big enough to matter (zstd 4 GB, gzip 2 GB, xz 1 GB,
bz2 256 MB decompressed, from a few MB at most); ``scale="small"`` keeps every file small for the default test
run.

    python -m tests.fault.zoo DIR [--full]          # write the zoo, print kind / file / reason
    python -m tests.fault.zoo --one KIND DIR        # (internal) read one kind, print JSON + peak RSS

Issue 14 (hostile input) and issue 15 item 2 (LF-framed WET) list the kinds.
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import json
import lzma
import os
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

GOOD_LINES = [json.dumps({"text": f"good document number {i} with enough words"}) for i in range(50)]
GOOD_JSONL = ("\n".join(GOOD_LINES) + "\n").encode()
MB = 1 << 20


@dataclasses.dataclass
class Kind:
    name: str
    reader: str
    file: str  # name inside the zoo folder
    reason: str  # the malformed reason it must give
    good: int  # good records next to the damage that must be kept
    build: Callable[[Path, str], None]  # (path, scale) -> writes the file
    options: dict = dataclasses.field(default_factory=dict)
    bomb: bool = False  # a decompression bomb: its peak RSS is the point


# -- JSONL ----------------------------------------------------------------------------------------


def _line_bomb(compress_stream, full: int) -> Callable[[Path, str], None]:
    """A first line of N bytes with no newline in it (compressed by streaming, never held), then
    good lines. ``full``: N at full scale (per format: bz2 and xz compress slowly)."""

    def build(path: Path, scale: str) -> None:
        n = full if scale == "full" else 48 * MB
        with open(path, "wb") as fh:
            co = compress_stream(fh)
            co.write(b'{"text": "')
            block = b"a" * (8 * MB)
            for _ in range(n // len(block)):
                co.write(block)
            co.write(b'"}\n' + GOOD_JSONL)
            co.close()

    return build


class _Zlib:
    def __init__(self, fh, wbits: int = 16 + zlib.MAX_WBITS):
        self.fh, self.co = fh, zlib.compressobj(9, zlib.DEFLATED, wbits)

    def write(self, b: bytes) -> None:
        self.fh.write(self.co.compress(b))

    def close(self) -> None:
        self.fh.write(self.co.flush())


class _Bz2(_Zlib):
    def __init__(self, fh):
        self.fh, self.co = fh, bz2.BZ2Compressor(9)


class _Xz(_Zlib):
    def __init__(self, fh):
        self.fh, self.co = fh, lzma.LZMACompressor(preset=1)


class _Zstd:
    def __init__(self, fh):
        import zstandard

        self.w = zstandard.ZstdCompressor(level=3).stream_writer(fh, closefd=False)

    def write(self, b: bytes) -> None:
        self.w.write(b)

    def close(self) -> None:
        self.w.close()


def _write(data: bytes) -> Callable[[Path, str], None]:
    return lambda path, scale: path.write_bytes(data)


def _truncated(compress: Callable[[bytes], bytes]) -> Callable[[Path, str], None]:
    def build(path: Path, scale: str) -> None:
        data = compress(GOOD_JSONL * 50)
        path.write_bytes(data[: len(data) // 2])

    return build


def _long_plain_line(path: Path, scale: str) -> None:
    with open(path, "wb") as fh:
        fh.write(b'{"text": "')
        for _ in range(100 if scale == "full" else 24):
            fh.write(b"a" * MB)
        fh.write(b'"}\n' + GOOD_JSONL)


def _zstd(b: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(b)


# -- WARC -----------------------------------------------------------------------------------------


def _response(i: int, cl_delta: int = 0, lf: bool = False) -> bytes:
    page = b"<html><body><p>" + b"a real paragraph of text. " * 20 + b"</p></body></html>"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n\r\n"
    http = head % len(page)
    return _record("response", i, http + page, "application/http; msgtype=response", cl_delta, lf)


def _record(kind: str, i: int, block: bytes, ctype: str, cl_delta: int = 0, lf: bool = False) -> bytes:
    nl = "\n" if lf else "\r\n"
    head = nl.join([
        "WARC/1.0", f"WARC-Type: {kind}", "WARC-Date: 2024-01-01T00:00:00Z",
        f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{i:012d}>", f"WARC-Target-URI: http://example.com/{i}",
        f"Content-Type: {ctype}", f"Content-Length: {len(block) + cl_delta}", "", "",
    ]).encode()  # fmt: skip
    return head + block + (nl * 2).encode()


def _wet(i: int, lf: bool) -> bytes:
    return _record("conversion", i, f"plain text of page {i}\nsecond line\n".encode(), "text/plain", lf=lf)


def _warc(records: list[bytes], gz: bool = False) -> bytes:
    return b"".join(gzip.compress(r, mtime=0) for r in records) if gz else b"".join(records)


def _many_breaks(path: Path, scale: str) -> None:
    n = 1200 if scale == "full" else 200
    path.write_bytes(b"".join(_response(i) + b"garbage between records\r\n" for i in range(n)) + _response(n))


def _warc_cut(where: str) -> Callable[[Path, str], None]:
    """A .warc.gz of 3 members cut inside the last one: in its header, its data or its trailer."""

    def build(path: Path, scale: str) -> None:
        members = [gzip.compress(r, mtime=0) for r in (_response(0), _response(1), _response(2))]
        last = members[-1]
        cut = {"header": 5, "data": len(last) // 2, "trailer": len(last) - 3}[where]
        path.write_bytes(b"".join(members[:-1]) + last[:cut])

    return build


# -- Parquet --------------------------------------------------------------------------------------


def _bad_row_group(path: Path, scale: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [f"document number {i} " + "x" * 50 for i in range(3000)]
    pq.write_table(
        pa.table({"text": texts}), path, row_group_size=1000, compression="none", use_dictionary=False
    )
    start = pq.ParquetFile(path).metadata.row_group(1).column(0).data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


# -- the zoo --------------------------------------------------------------------------------------

_DEEP = ("[" * 100_000 + "]" * 100_000 + "\n").encode()
_R = [_response(i) for i in range(5)]

KINDS: list[Kind] = [
    # decompression bombs (issue 14 item 2): one over-long line, then 50 good lines
    Kind("zstd_bomb", "jsonl", "bomb.jsonl.zst", "malformed:line_too_long", 50, _line_bomb(_Zstd, 4 << 30),
         bomb=True),  # fmt: skip
    Kind("gzip_bomb", "jsonl", "bomb.jsonl.gz", "malformed:line_too_long", 50, _line_bomb(_Zlib, 2 << 30),
         bomb=True),  # fmt: skip
    Kind("bz2_bomb", "jsonl", "bomb.jsonl.bz2", "malformed:line_too_long", 50, _line_bomb(_Bz2, 256 * MB),
         bomb=True),  # fmt: skip
    Kind("xz_bomb", "jsonl", "bomb.jsonl.xz", "malformed:line_too_long", 50, _line_bomb(_Xz, 1 << 30),
         bomb=True),  # fmt: skip
    Kind("long_plain_line", "jsonl", "long_line.jsonl", "malformed:line_too_long", 50, _long_plain_line,
         {"max_line_bytes": 16 * MB}),  # fmt: skip
    # broken streams and bytes
    Kind("truncated_gzip", "jsonl", "truncated.jsonl.gz", "malformed:gzip", 0, _truncated(gzip.compress)),
    Kind("truncated_zstd", "jsonl", "truncated.jsonl.zst", "malformed:zstd", 0, _truncated(_zstd)),
    Kind("bad_utf8", "jsonl", "bad_utf8.jsonl", "malformed:utf8", 50,
         _write(GOOD_JSONL + b'{"text": "caf\xe9 \xff"}\n')),  # fmt: skip
    Kind("deep_nesting", "jsonl", "deep.jsonl", "malformed:json", 50, _write(_DEEP + GOOD_JSONL)),
    Kind("nul_bytes", "jsonl", "nul.jsonl", "malformed:json", 50, _write(b"\x00\x00\x00\n" + GOOD_JSONL)),
    Kind("zero_bytes", "jsonl", "zero.jsonl", "malformed:empty_file", 0, _write(b"")),
    Kind("blank_lines", "jsonl", "blank.jsonl", "malformed:empty_file", 0, _write(b"\n\n  \n")),
    Kind("not_objects", "jsonl", "not_objects.jsonl", "malformed:missing_text", 50,
         _write(b'[1, 2]\n"a string"\n{"no_text": 1}\n' + GOOD_JSONL)),  # fmt: skip
    # WARC / WET (issue 14 items 5-8; issue 15 item 2)
    Kind("wet_lf", "warc", "lf.warc.wet", "", 3, _write(_warc([_wet(i, lf=True) for i in range(3)]))),
    Kind("warc_lf_gz", "warc", "lf.warc.gz", "", 3,
         _write(_warc([_response(i, lf=True) for i in range(3)], gz=True))),  # fmt: skip
    Kind("content_length_too_large", "warc", "cl_large.warc", "malformed:warc", 3,
         _write(_warc([_R[0], _response(1, cl_delta=5000), _R[2], _R[3]]))),  # fmt: skip
    Kind("content_length_into_next", "warc", "cl_next.warc.gz", "malformed:warc", 4,
         _write(_warc([_R[0], _response(1, cl_delta=150), _R[2], _R[3], _R[4]], gz=True))),  # fmt: skip
    Kind("content_length_short", "warc", "cl_short.warc", "malformed:warc", 4,
         _write(_warc([_R[0], _R[1], _response(2, cl_delta=-40), _R[3], _R[4]]))),  # fmt: skip
    Kind("garbage_between", "warc", "garbage.warc", "malformed:warc", 5,
         _write(_warc([_R[0], _R[1], b"garbage between records\r\n", _R[2], _R[3], _R[4]]))),  # fmt: skip
    Kind("many_breaks", "warc", "breaks.warc", "malformed:warc", 201, _many_breaks),
    Kind("warc_gz_cut_header", "warc", "cut_header.warc.gz", "malformed:warc_truncated", 2,
         _warc_cut("header")),  # fmt: skip
    Kind("warc_gz_cut_data", "warc", "cut_data.warc.gz", "malformed:warc_truncated", 2, _warc_cut("data")),
    Kind("warc_gz_cut_trailer", "warc", "cut_trailer.warc.gz", "malformed:warc_truncated", 2,
         _warc_cut("trailer")),  # fmt: skip
    Kind("warc_zero_bytes", "warc", "zero.warc.gz", "malformed:empty_file", 0, _write(b"")),
    Kind("warc_no_documents", "warc", "requests.warc", "malformed:no_documents", 0,
         _write(_record("request", 0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                        "application/http; msgtype=request"))),  # fmt: skip
    Kind("arc_not_warc", "warc", "old.warc", "malformed:warc", 0,
         _write(b"filedesc://x.arc 0.0.0.0 20240101 text/plain 10\n1 0 x\n\n")),  # fmt: skip
    # Parquet (issue 14 item 12)
    Kind("parquet_bad_row_group", "parquet", "rg.parquet", "malformed:parquet", 2000, _bad_row_group),
    Kind("not_parquet", "parquet", "fake.parquet", "malformed:parquet", 0,
         _write(b"PAR1 this is not parquet")),  # fmt: skip
]
# the many_breaks count depends on scale
_MANY = {"small": 201, "full": 1201}


def good_rows(kind: Kind, scale: str, folder: Path | None = None) -> int:
    """Good records of a kind; for a truncated stream, the whole lines before the cut (decoded
    here by a permissive decoder that keeps what precedes the break)."""
    if kind.name == "many_breaks":
        return _MANY[scale]
    if kind.name in ("truncated_gzip", "truncated_zstd") and folder is not None:
        data = (folder / kind.reader / kind.file).read_bytes()
        if kind.name == "truncated_gzip":
            out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
        else:
            import zstandard

            out = zstandard.ZstdDecompressor().decompressobj().decompress(data)
        return out.count(b"\n")
    return kind.good


def build_zoo(folder: Path, scale: str = "small", kinds: list[str] | None = None) -> list[Kind]:
    """Write the zoo's files under ``folder/<reader>/``; returns the kinds written."""
    out = []
    for k in KINDS:
        if kinds is not None and k.name not in kinds:
            continue
        d = folder / k.reader
        d.mkdir(parents=True, exist_ok=True)
        k.build(d / k.file, scale)
        out.append(k)
    return out


def options(kind: Kind, scale: str) -> dict:
    """Reader options: the defaults (max_line_bytes 256 MB) for full-size bombs, as users run; a
    16 MB line cap for the small ones (a 48 MB line must still be over the cap)."""
    if kind.bomb and scale == "small":
        return {**kind.options, "max_line_bytes": 16 * MB}
    return kind.options


def read_kind(kind: Kind, folder: Path, scale: str = "small") -> dict:
    """Read one zoo file with its reader: rows, reasons, rows lost, this process's peak RSS."""
    from curate.io.readers.base import readers

    cls = readers()[kind.reader]
    reader = cls(cls.Config(**options(kind, scale)), "zoo")
    rows, reasons, accounted = 0, set(), 0
    for batch in reader.read(folder / kind.reader / kind.file, kind.file):
        rows += batch.table.num_rows
        reasons |= {m.reason for m in batch.malformed}
        accounted += sum(getattr(m, "rows", 1) for m in batch.malformed)
    return {
        "kind": kind.name,
        "rows": rows,
        "reasons": sorted(reasons),
        "accounted": accounted,
        "peak_rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: ru_maxrss would carry a parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_kind_in_subprocess(kind: Kind, folder: Path, scale: str = "small", timeout: float = 600) -> dict:
    """:func:`read_kind` in a fresh interpreter, so its peak RSS is this kind's alone."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    r = subprocess.run(
        [sys.executable, "-m", "tests.fault.zoo", "--one", kind.name, str(folder), scale],
        cwd=root, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")},
    )  # fmt: skip
    if r.returncode != 0:
        return {"kind": kind.name, "rows": -1, "reasons": [f"exit {r.returncode}: {r.stderr[-300:]}"],
                "accounted": 0, "peak_rss_mb": float("nan")}  # fmt: skip
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        kind = next(k for k in KINDS if k.name == argv[1])
        print(json.dumps(read_kind(kind, Path(argv[2]), argv[3] if len(argv) > 3 else "small")))
        return
    folder = Path(argv[0])
    scale = "full" if "--full" in argv else "small"
    for k in build_zoo(folder, scale):
        print(f"{k.name:<28}{k.reader}/{k.file:<24}{k.reason or '(read, no reject)'}")


if __name__ == "__main__":
    main(sys.argv[1:])
