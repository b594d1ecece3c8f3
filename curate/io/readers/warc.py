"""WARC / WET reader on FastWARC, with resynchronisation after damaged records.

FastWARC was chosen by measurement (bench/readers.py: FastWARC vs warcio records/s on the same
files). Its iterator stops with ``OSError`` at the first damaged record (wrong Content-Length,
garbage between records, a corrupt gzip member); we then look for the next record start in the
raw file (a ``WARC/`` header line for plain files, a gzip member header for ``.gz``) and start a
new iterator there, so one bad record costs one reject, not the rest of the file.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
from fastwarc.stream_io import BrotliReader, ChunkedReader
from fastwarc.warc import ArchiveIterator, WarcRecordType
from pydantic import Field

from curate.io.readers.base import (
    RAW_SNIPPET_CHARS,
    TEXT,
    Malformed,
    ReadBatch,
    Reader,
    ReaderConfig,
    register_reader,
)
from curate.io.readers.decode import empty_table

DOC_TYPES = ("response", "resource", "conversion")
_DOC_TYPE_NAMES = {int(getattr(WarcRecordType, t)): t for t in DOC_TYPES}  # the enum is unhashable
_CORE_TYPES = {
    TEXT: pa.large_string(),
    "html": pa.large_binary(),
    "url": pa.string(),
    "content_type": pa.string(),
    "http_status": pa.int32(),
    "warc_date": pa.string(),
    "warc_record_id": pa.string(),
    "warc_type": pa.string(),
}
_WARC_START = re.compile(rb"\n(WARC/\d\.\d+)\r?\n")
_GZIP_MAGIC = b"\x1f\x8b\x08"
_SCAN_CHUNK = 1 << 20


@register_reader("warc")
class WarcReader(Reader):
    """Documents from WARC (``response``, ``resource``) and WET (``conversion``) records.

    * ``response``/``resource`` -> ``html``: the raw HTTP payload bytes (transfer/content encoding
      undone, charset *not* applied), ``content_type``: the HTTP Content-Type header (the extract
      stage takes the charset from it), ``http_status`` (non-200 responses are kept; the extract
      stage decides), and ``text`` = null for extract to fill.
    * ``conversion`` (WET) -> ``text`` (UTF-8) and ``url``; ``html`` = null.
    * ``request``, ``metadata``, ``warcinfo``, ``revisit`` records are not documents and yield nothing.

    ``id`` position = the record's byte offset in the file (for ``.gz``, the offset of its gzip member,
    where a reader would seek to; records sharing one member get that offset + 1, + 2, ...). A record whose block is shorter than its Content-Length is
    ``malformed:warc_truncated``; a break in the record stream (bad header, wrong Content-Length,
    corrupt gzip member) is ``malformed:warc`` at the offset where reading resumed from; a WET
    record that is not UTF-8 is ``malformed:utf8``; a file with no records ``malformed:empty_file``.
    """

    class Config(ReaderConfig):
        max_record_bytes: int = Field(
            64 << 20,
            description="Records with a larger Content-Length are rejected (`malformed:too_large`) unread.",
            gt=0,
        )

    def read(self, path: Path, relpath: str) -> Iterator[ReadBatch]:
        size = path.stat().st_size
        if size == 0:
            yield ReadBatch(empty_table(_CORE_TYPES), [Malformed(relpath, 0, "empty_file", "zero-byte file")])
            return
        gz = path.name.lower().endswith((".gz", ".gzip"))
        cols: dict[str, list] = {k: [] for k in ("id", *_CORE_TYPES)}
        bad: list[Malformed] = []
        n_records = 0
        start = 0  # absolute offset the current iterator started at
        last = -1  # absolute offset of the last record seen
        reported: set[int] = set()
        while start < size:
            broke = None
            with _tail(path, start) as src:
                # FastWARC reports true record offsets only when it opens the file itself (with a
                # Python stream, stream_pos is the buffered read position), so a resync reads a
                # copy of the file's tail. Every record type is iterated, not filtered in FastWARC,
                # so that `last` tracks the real position across resyncs.
                try:
                    for rec in ArchiveIterator(str(src), auto_decode="none", parse_http=True):
                        # Several records in one gzip member share its offset: number them on.
                        pos = max(start + rec.stream_pos, last + 1)
                        last = pos
                        n_records += 1
                        self._add(rec, pos, relpath, cols, bad)
                        if len(cols["id"]) >= self.config.batch_rows:
                            yield ReadBatch(self._table(cols), bad)
                            cols, bad = {k: [] for k in cols}, []
                except OSError as e:  # FastWARC: bad header, Content-Length mismatch, gzip error
                    broke = e
            if broke is None:
                break
            resume = _next_record_start(path, max(last, start) + 1, gz)
            where = start if last < start else (resume if resume is not None else last)
            if where not in reported:
                reported.add(where)
                bad.append(
                    Malformed(relpath, where, "warc", f"record stream broken near offset {where}: {broke}")
                )
            if resume is None:
                break
            start = resume
        if not n_records and not bad:
            bad.append(Malformed(relpath, 0, "empty_file", "no WARC records"))
        if cols["id"] or bad:
            yield ReadBatch(self._table(cols), bad)

    def _add(self, rec, pos: int, relpath: str, cols: dict[str, list], bad: list[Malformed]) -> None:
        kind = _DOC_TYPE_NAMES.get(int(rec.record_type))
        headers = rec.headers.asdict()  # one call; HeaderMap.get() costs ~30 us per lookup
        if kind is None:
            if not headers:  # a record with no WARC headers: the stream was cut inside it
                bad.append(Malformed(relpath, pos, "warc_truncated", "record without WARC headers"))
            return  # request, metadata, warcinfo, revisit: not documents
        if rec.content_length > self.config.max_record_bytes:
            bad.append(Malformed(relpath, pos, "too_large", f"Content-Length {rec.content_length}"))
            return
        body = rec.reader.read()
        if len(body) < rec.content_length:
            bad.append(
                Malformed(
                    relpath,
                    pos,
                    "warc_truncated",
                    f"block has {len(body)} of {rec.content_length} bytes",
                    body[:RAW_SNIPPET_CHARS].decode("utf-8", "replace"),
                )
            )
            return
        text = html = None
        status = content_type = None
        if kind == "conversion":
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                bad.append(
                    Malformed(
                        relpath, pos, "utf8", str(e), body[:RAW_SNIPPET_CHARS].decode("utf-8", "replace")
                    )
                )
                return
        else:
            html = body
            if rec.is_http and rec.http_headers is not None:
                status = rec.http_headers.status_code
                http = rec.http_headers.asdict()
                content_type = _header(http, "Content-Type")
                te, ce = _header(http, "Transfer-Encoding"), _header(http, "Content-Encoding")
                if te or ce:
                    try:
                        html = decode_http_body(body, te, ce, self.config.max_record_bytes)
                    except BodyTooLarge as e:
                        bad.append(Malformed(relpath, pos, "too_large", str(e)))
                        return
            else:  # a resource record: the block is the document, typed by the WARC header
                content_type = _header(headers, "Content-Type")
        cols["id"].append(self.make_id(relpath, pos))
        cols[TEXT].append(text)
        cols["html"].append(html)
        cols["url"].append(_header(headers, "WARC-Target-URI"))
        cols["content_type"].append(content_type)
        cols["http_status"].append(status)
        cols["warc_date"].append(_header(headers, "WARC-Date"))
        cols["warc_record_id"].append(_header(headers, "WARC-Record-ID"))
        cols["warc_type"].append(kind)

    def _table(self, cols: dict[str, list]) -> pa.Table:
        n = len(cols["id"])
        arrays = {"id": pa.array(cols["id"], pa.string()), "source": pa.array([self.source] * n, pa.string())}
        for name, typ in _CORE_TYPES.items():
            arrays[name] = pa.array(cols[name], typ)
        return pa.table(arrays)


def _header(headers: dict[str, str], name: str) -> str | None:
    """A header by its usual spelling, else case-insensitively (HTTP headers are often lower-case)."""
    value = headers.get(name)
    if value is None:
        low = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == low), None)
    return value


@contextlib.contextmanager
def _tail(path: Path, start: int):
    """``path`` itself when ``start`` is 0, else a temporary copy of its bytes from ``start`` on."""
    if start == 0:
        yield path
        return
    with tempfile.NamedTemporaryFile(prefix="curate-warc-", suffix=path.name) as tmp:
        with open(path, "rb") as f:
            f.seek(start)
            shutil.copyfileobj(f, tmp, 1 << 20)
        tmp.flush()
        yield Path(tmp.name)


class BodyTooLarge(ValueError):
    """A compressed HTTP body that inflates past the size cap (a decompression bomb)."""


def decode_http_body(
    body: bytes, transfer_encoding: str | None, content_encoding: str | None, max_bytes: int = 64 << 20
) -> bytes:
    """Undo chunked transfer and gzip/deflate/br content encoding; where that fails, keep the bytes.

    Inflating stops at ``max_bytes``: a 200 KB record that decodes to 200 MB raises
    :class:`BodyTooLarge` instead of taking the memory (the record becomes ``malformed:too_large``).

    Done here, not by FastWARC's ``auto_decode``, so that the raw block length can first be checked
    against Content-Length (truncation). Servers often lie in these headers (a "chunked" body that
    is not chunked is common in the wild), hence the fall back to the raw bytes, as warcio does.
    """
    if transfer_encoding and "chunked" in transfer_encoding.lower():
        with contextlib.suppress(OSError):
            body = ChunkedReader(io.BytesIO(body)).read()
    enc = (content_encoding or "").strip().lower()
    out: bytes | None = None
    try:
        if enc in ("gzip", "x-gzip"):
            out = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(body, max_bytes + 1)
        elif enc == "deflate":
            try:
                out = zlib.decompressobj().decompress(body, max_bytes + 1)
            except zlib.error:
                out = zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, max_bytes + 1)
        elif enc == "br":
            reader, parts, size = BrotliReader(io.BytesIO(body)), [], 0
            while size <= max_bytes and (part := reader.read(min(1 << 20, max_bytes + 1 - size))):
                parts.append(part)
                size += len(part)
            out = b"".join(parts)
    except (zlib.error, OSError):
        out = None
    if out is None:
        return body
    if len(out) > max_bytes:
        raise BodyTooLarge(f"{enc} body inflates past max_record_bytes={max_bytes} ({len(body)} bytes compressed)")
    return out


def _next_record_start(path: Path, after: int, gz: bool) -> int | None:
    """Offset of the first plausible record start at or after ``after`` in the raw file."""
    overlap = 16
    with open(path, "rb") as f:
        f.seek(after)
        base = after
        prev = b""
        while chunk := f.read(_SCAN_CHUNK):
            buf = prev + chunk
            if gz:
                i = buf.find(_GZIP_MAGIC)
                if i >= 0:
                    return base - len(prev) + i
            else:
                m = _WARC_START.search(buf)
                if m:
                    return base - len(prev) + m.start(1)
            prev = buf[-overlap:]
            base += len(chunk)
    return None
