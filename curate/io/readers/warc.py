"""WARC / WET reader on FastWARC, with resynchronisation after damaged records.

FastWARC was chosen by measurement (bench/readers.py: FastWARC vs warcio records/s on the same
files). Its iterator stops with ``OSError`` at the first damaged record (wrong Content-Length,
garbage between records, a corrupt gzip member); we then look for the next record start in the
raw file (a ``WARC/`` header line for plain files, a gzip member header for ``.gz``) and start a
new iterator there, on the same file seeked to that offset (FastWARC's offsets on a Python stream
are absolute, so nothing is copied), so one bad record costs one reject, not the rest of the file.

The last record read is *held* until the next one parses: when the stream breaks right after it
and its block does not end where its Content-Length says, that record is the broken one and is
rejected instead of kept (one broken record = one input record). A block that holds the next
record's header (a Content-Length too large) is rejected and reading resumes at that header. A
``.gz`` whose last member is cut anywhere (header, data, trailer) gives exactly one
``warc_truncated``. Files framed with LF instead of CRLF (cc_net's WET) are read in FastWARC's
lenient mode, chosen from the first header line.
"""

from __future__ import annotations

import contextlib
import io
import re
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
# A block that holds the start of another record: its Content-Length ran past its end.
_NEXT_RECORD = re.compile(rb"WARC/1\.[01]\r?\nWARC-[A-Za-z-]+: ")
_COLUMNS = ("id", *_CORE_TYPES)
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
    where a reader would seek to; records sharing one member get that offset + 1, + 2, ...). A record
    whose block is shorter than its Content-Length (the file ends inside it), or a ``.gz`` cut
    anywhere in its last member, is one ``malformed:warc_truncated``. A record whose Content-Length
    does not end it (too short: the stream breaks after it; too long: its block holds the next
    record's header) is ``malformed:warc`` at its own offset and reading resumes at the next record,
    which is kept; other breaks (garbage between records, a bad header, a corrupt gzip member) are
    ``malformed:warc`` where reading resumed. LF framing is read like CRLF. A WET record that is not
    UTF-8 is ``malformed:utf8``; a file with no records ``malformed:empty_file``, one whose records
    are none of them documents ``malformed:no_documents`` (a file never gives nothing).
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
        quirks = _lf_framed(
            path, gz
        )  # LF instead of CRLF framing (cc_net's WET files): FastWARC's lenient mode
        out = _Out(self, relpath)
        start = 0  # absolute offset the current iterator started at
        last = -1  # id position of the last record seen
        member = -1  # raw offset of the last record (its gzip member for .gz)
        while start < size:
            broke: str | None = None  # why the record stream broke, still to report
            resume_after = -1
            with _open_at(path, start) as src:
                # Every record type is iterated, not filtered in FastWARC, so that `last` tracks the
                # real position across resyncs. A Python stream seeked to `start` gives absolute
                # stream_pos values, so a resync reads the file in place.
                try:
                    for rec in ArchiveIterator(src, auto_decode="none", parse_http=True, quirks_mode=quirks):
                        member = rec.stream_pos
                        # Several records in one gzip member share its offset: number them on.
                        pos = last = max(member, last + 1)
                        out.commit()
                        out.member = member
                        if self._add(rec, pos, out):  # its block runs into the next record
                            resume_after = member
                            out.reject_held("warc", "Content-Length runs past the end of the record")
                            break
                        if out.full():
                            yield out.batch()
                except OSError as e:  # FastWARC: bad header, Content-Length mismatch, gzip error
                    broke = str(e)
                    # The record just before the break is its cause (a Content-Length short of its
                    # block, a cut): it is the one rejected, so one broken record counts once.
                    if out.held is not None and not _block_fits(path, gz, *out.held[3:]):
                        out.reject_held("warc", f"Content-Length does not end the record: {broke}")
                        broke = None
                    out.commit()
                    resume_after = max(last, start)
            if broke is None and resume_after < 0:
                break
            resume = _next_record_start(path, resume_after + 1, gz)
            if broke is not None:
                where = start if last < start else (resume if resume is not None else last)
                out.malformed(where, "warc", f"record stream broken near offset {where}: {broke}")
            if resume is None:
                break
            start = resume
        if gz and (cut := _truncated_member(path, max(member, 0))) is not None:
            out.truncated_at(cut)
        out.commit()
        if not out.n_docs and not out.bad:  # never nothing: a file that gives no row says why
            if out.n_records:
                detail = f"{out.n_records} WARC records, none of type {'/'.join(DOC_TYPES)}"
                out.bad.append(Malformed(relpath, 0, "no_documents", detail))
            else:
                out.bad.append(Malformed(relpath, 0, "empty_file", "no WARC records"))
        if out.cols["id"] or out.bad:
            yield out.batch()

    def _add(self, rec, pos: int, out: _Out) -> bool:
        """Hold ``rec`` as the next row or reject; True where its block holds the next record's
        header (a Content-Length too large: the caller resynchronises there)."""
        out.n_records += 1
        kind = _DOC_TYPE_NAMES.get(int(rec.record_type))
        headers = rec.headers.asdict()  # one call; HeaderMap.get() costs ~30 us per lookup
        out.block_length = _int(_header(headers, "Content-Length"))
        if kind is None:
            if not headers:  # a record with no WARC headers: the stream was cut inside it
                out.hold_bad(Malformed(out.relpath, pos, "warc_truncated", "record without WARC headers"))
            else:  # request, metadata, warcinfo, revisit: not documents
                out.hold_bad(None, pos)
            return False
        if rec.content_length > self.config.max_record_bytes:
            out.hold_bad(Malformed(out.relpath, pos, "too_large", f"Content-Length {rec.content_length}"))
            return False
        body = rec.reader.read()
        if _holds_next_record(body):
            out.hold_bad(None, pos)
            return True
        relpath = out.relpath
        if len(body) < rec.content_length:
            out.hold_bad(
                Malformed(
                    relpath,
                    pos,
                    "warc_truncated",
                    f"block has {len(body)} of {rec.content_length} bytes",
                    body[:RAW_SNIPPET_CHARS].decode("utf-8", "replace"),
                )
            )
            return False
        text = html = None
        status = content_type = None
        if kind == "conversion":
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                out.hold_bad(
                    Malformed(
                        relpath, pos, "utf8", str(e), body[:RAW_SNIPPET_CHARS].decode("utf-8", "replace")
                    )
                )
                return False
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
                        out.hold_bad(Malformed(relpath, pos, "too_large", str(e)))
                        return False
            else:  # a resource record: the block is the document, typed by the WARC header
                content_type = _header(headers, "Content-Type")
        out.hold_row(
            pos,
            (
                self.make_id(relpath, pos),
                text,
                html,
                _header(headers, "WARC-Target-URI"),
                content_type,
                status,
                _header(headers, "WARC-Date"),
                _header(headers, "WARC-Record-ID"),
                kind,
            ),
        )
        return False

    def _table(self, cols: dict[str, list]) -> pa.Table:
        n = len(cols["id"])
        arrays = {"id": pa.array(cols["id"], pa.string()), "source": pa.array([self.source] * n, pa.string())}
        for name, typ in _CORE_TYPES.items():
            arrays[name] = pa.array(cols[name], typ)
        return pa.table(arrays)


def _holds_next_record(body: bytes) -> bool:
    """Whether a block holds another record's header (bytes.find first: a regex over every body
    doubled the reader's CPU time)."""
    i = body.find(b"\nWARC/1.")
    while i >= 0:
        blank = body[max(i - 2, 0) : i].endswith((b"\n", b"\n\r"))  # a blank line closes the block
        if blank and _NEXT_RECORD.match(body, i + 1):
            return True
        i = body.find(b"\nWARC/1.", i + 1)
    return False


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _header(headers: dict[str, str], name: str) -> str | None:
    """A header by its usual spelling, else case-insensitively (HTTP headers are often lower-case)."""
    value = headers.get(name)
    if value is None:
        low = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == low), None)
    return value


def _open_at(path: Path, start: int):
    """``path`` for FastWARC to open itself when ``start`` is 0 (fastest), else the file seeked
    to ``start``: FastWARC's offsets on a Python stream are absolute, so a resync needs no copy."""
    if start == 0:
        return contextlib.nullcontext(str(path))
    f = open(path, "rb")  # noqa: SIM115 - closed by the caller's with
    f.seek(start)
    return f


def _lf_framed(path: Path, gz: bool) -> bool:
    """True when the first record's header lines end in LF alone (as in cc_net's WET files)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if gz:
        try:
            head = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(head, 4096)
        except zlib.error:
            return False
    end = head.find(b"\n")
    return head.startswith(b"WARC/") and end > 0 and head[end - 1 : end] != b"\r"


def _truncated_member(path: Path, member: int) -> int | None:
    """Offset of the first gzip member at or after ``member`` that the file cuts short, if any.

    FastWARC ends quietly on some cuts (inside a member header, in the CRC trailer): the members
    after the last record read are checked here, usually one, so every cut is reported.
    """
    with open(path, "rb") as f:
        f.seek(member)
        at = member  # offset of the member being checked
        used = 0  # its bytes consumed so far
        dec, buf, started = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS), b"", False
        while True:
            if not buf and not (buf := f.read(_SCAN_CHUNK)):
                return at if started else None
            try:
                dec.decompress(buf, _SCAN_CHUNK)  # output dropped, bounded: only the framing matters
            except zlib.error:
                return None  # not gzip here: a break the caller has reported already
            started = True
            rest = dec.unconsumed_tail or dec.unused_data
            used += len(buf) - len(rest)
            buf = rest
            if dec.eof:
                at, used = at + used, 0
                dec, started = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS), False


def _block_fits(path: Path, gz: bool, member: int, content_length: int) -> bool:
    """Whether the record at raw offset ``member`` ends where its Content-Length says: its block is
    followed by the blank line that closes a record (or by the end of the file)."""
    need = 1 << 16  # the header is in here
    got = bytearray()
    with open(path, "rb") as f:
        f.seek(member)
        if not gz:
            got += f.read(need)
        else:
            dec = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            while len(got) < need and (buf := f.read(_SCAN_CHUNK)):
                try:
                    got += dec.decompress(buf, need)
                except zlib.error:
                    return False
        crlf, lf = got.find(b"\r\n\r\n"), got.find(b"\n\n")
        if crlf < 0 and lf < 0:
            return False
        end = crlf + 4 if crlf >= 0 and (lf < 0 or crlf < lf) else lf + 2
        end += content_length
        if not gz:
            f.seek(member + end)
            tail = f.read(4)
        else:  # decode on (bounded: Content-Length is capped by max_record_bytes) to the block end
            f.seek(member)
            dec, seen, tail = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS), 0, b""
            while len(tail) < 4 and (buf := f.read(_SCAN_CHUNK)):
                try:
                    while buf and len(tail) < 4:
                        piece = dec.decompress(buf, _SCAN_CHUNK)
                        buf = dec.unconsumed_tail
                        if seen + len(piece) > end:
                            tail += piece[max(end - seen, 0) : max(end - seen, 0) + 4 - len(tail)]
                        seen += len(piece)
                        if dec.eof:
                            buf = dec.unused_data
                            dec = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                except zlib.error:
                    break
    return tail in (b"", b"\r\n", b"\n") or tail.startswith((b"\r\n\r\n", b"\n\n", b"\n\r\n"))


class _Out:
    """Rows and rejects of one file, with the last record *held*: when the stream breaks right
    after a record, that record (its Content-Length) is at fault and is rejected instead of kept."""

    def __init__(self, reader: WarcReader, relpath: str):
        self.reader, self.relpath = reader, relpath
        self.cols: dict[str, list] = {k: [] for k in _COLUMNS}
        self.bad: list[Malformed] = []
        self.n_records = 0
        self.n_docs = 0  # rows kept
        # (id position, row, reject, raw offset, Content-Length) of the last record
        self.held: tuple[int, tuple | None, Malformed | None, int, int] | None = None
        self._where: set[int] = set()
        self.member = 0  # raw offset of the record being added
        self.block_length = 0  # its WARC Content-Length (rec.content_length is the HTTP payload's)

    def hold_row(self, pos: int, row: tuple) -> None:
        self.held = (pos, row, None, self.member, self.block_length)

    def hold_bad(self, m: Malformed | None, pos: int | None = None) -> None:
        self.held = (m.position if m is not None else pos, None, m, self.member, self.block_length)

    def commit(self) -> None:
        if self.held is None:
            return
        _, row, m, _, _ = self.held
        self.held = None
        if row is not None:
            for name, value in zip(_COLUMNS, row, strict=True):
                self.cols[name].append(value)
            self.n_docs += 1
        elif m is not None:
            self._add_bad(m)

    def reject_held(self, what: str, detail: str) -> None:
        """The held record is the broken one: one reject for it, whatever it was going to be."""
        pos, _, m, _, _ = self.held
        self.held = None
        if m is not None and m.what == "warc_truncated":
            self._add_bad(m)
        else:
            self._add_bad(Malformed(self.relpath, pos, what, detail))

    def malformed(self, pos: int, what: str, detail: str) -> None:
        self.commit()
        self._add_bad(Malformed(self.relpath, pos, what, detail))

    def truncated_at(self, cut: int) -> None:
        """The file ends inside the gzip member at ``cut``: exactly one ``warc_truncated`` for it,
        replacing what the records from there on gave (a short block, a break, a row)."""
        if self.held is not None and self.held[0] >= cut:
            self.held = None
        self.bad = [m for m in self.bad if m.position < cut]
        self._where = {p for p in self._where if p < cut}
        self._add_bad(
            Malformed(self.relpath, cut, "warc_truncated", f"file ends inside the gzip member at {cut}")
        )

    def _add_bad(self, m: Malformed) -> None:
        if m.position not in self._where:  # one reject per position
            self._where.add(m.position)
            self.bad.append(m)

    def full(self) -> bool:
        return len(self.cols["id"]) >= self.reader.config.batch_rows

    def batch(self) -> ReadBatch:
        out = ReadBatch(self.reader._table(self.cols), self.bad)
        self.cols, self.bad = {k: [] for k in _COLUMNS}, []
        return out

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
        raise BodyTooLarge(
            f"{enc} body inflates past max_record_bytes={max_bytes} ({len(body)} bytes compressed)"
        )
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
