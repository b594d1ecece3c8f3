"""Deterministic container formats for the demo data: gzip members, gzip/zstd streams, WARC records.

Written by hand rather than through FastWARC's or warcio's writers because byte-identical output
(same seed -> same bytes) needs full control of every header: gzip members carry ``mtime=0`` and
no file name, WARC dates and record ids are derived from the seed, digests are computed here.
Readers are cross-checked in tests with both FastWARC and warcio.
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import uuid
import zlib
from collections.abc import Iterable
from typing import BinaryIO

import zstandard

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no flags, mtime 0, OS "unknown"


def gzip_member(data: bytes, level: int = 3) -> bytes:
    """One complete gzip member (RFC 1952) holding ``data``; byte-identical for equal input."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    return GZIP_HEADER + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


class GzipWriter:
    """A streaming single-member gzip file (``mtime=0``, no name), written incrementally."""

    def __init__(self, f: BinaryIO, level: int = 3):
        self.f = f
        self.c = zlib.compressobj(level, zlib.DEFLATED, -15)
        self.crc = 0
        self.size = 0
        f.write(GZIP_HEADER)

    def write(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        self.f.write(self.c.compress(data))

    def close(self) -> None:
        self.f.write(self.c.flush())
        self.f.write(struct.pack("<II", self.crc, self.size & 0xFFFFFFFF))


class ZstdWriter:
    """A streaming zstd frame (single-threaded, so the bytes are deterministic)."""

    def __init__(self, f: BinaryIO, level: int = 3):
        self.w = zstandard.ZstdCompressor(level=level, threads=0).stream_writer(f, closefd=False)

    def write(self, data: bytes) -> None:
        self.w.write(data)

    def close(self) -> None:
        self.w.close()


def record_id(*parts: object) -> str:
    """A WARC-Record-ID ``<urn:uuid:...>`` derived from ``parts`` (no randomness)."""
    digest = hashlib.md5(":".join(map(str, parts)).encode()).digest()
    return f"<urn:uuid:{uuid.UUID(bytes=digest, version=4)}>"


def sha1_digest(data: bytes) -> str:
    """WARC digest notation: ``sha1:`` + base32 of the SHA-1."""
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def warc_record(
    warc_type: str,
    headers: Iterable[tuple[str, str]],
    block: bytes,
    content_type: str,
    payload_offset: int | None = None,
    version: str = "WARC/1.1",
) -> bytes:
    """Serialise one WARC record (uncompressed). ``payload_offset`` marks where the HTTP payload
    starts inside ``block``, for ``WARC-Payload-Digest``."""
    out = io.BytesIO()
    out.write(f"{version}\r\nWARC-Type: {warc_type}\r\n".encode())
    for k, v in headers:
        out.write(f"{k}: {v}\r\n".encode())
    out.write(f"WARC-Block-Digest: {sha1_digest(block)}\r\n".encode())
    if payload_offset is not None:
        out.write(f"WARC-Payload-Digest: {sha1_digest(block[payload_offset:])}\r\n".encode())
    out.write(f"Content-Type: {content_type}\r\nContent-Length: {len(block)}\r\n\r\n".encode())
    out.write(block)
    out.write(b"\r\n\r\n")
    return out.getvalue()


def http_response(status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> tuple[bytes, int]:
    """An HTTP/1.1 response message and the offset of its body."""
    head = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    if not any(k.lower() == "transfer-encoding" for k, _ in headers):
        head.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    return raw + body, len(raw)


def chunked(body: bytes, size: int = 4096) -> bytes:
    """``body`` in HTTP/1.1 chunked transfer coding."""
    parts = [b"%x\r\n%s\r\n" % (len(c), c) for c in (body[i : i + size] for i in range(0, len(body), size))]
    return b"".join(parts) + b"0\r\n\r\n"


def http_request(host: str, path: str) -> bytes:
    """The GET request a crawler would have sent."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curate-demo-crawler/1.0\r\n"
        "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\nAccept-Encoding: identity\r\n\r\n"
    ).encode("latin-1")


def png_bytes(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG image of one colour with a diagonal stripe."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows.extend((255, 255, 255) if x == y else rgb)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def pdf_bytes(title: str) -> bytes:
    """A minimal valid one-page PDF showing ``title`` (ASCII)."""
    text = title.encode("ascii", "replace").replace(b"(", b"[").replace(b")", b"]")
    stream = b"BT /F1 18 Tf 72 720 Td (" + text + b") Tj ET"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
