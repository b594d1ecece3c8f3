"""Tiny WARC/WET writers for the reader tests and the benchmark (byte-exact, no library)."""

from __future__ import annotations

import gzip
import uuid


def response(
    i: int,
    body: bytes | None = None,
    status: int = 200,
    cl_delta: int = 0,
    content_type: str = "text/html; charset=utf-8",
    extra_headers: str = "",
) -> bytes:
    body = body if body is not None else f"<html><body><p>page {i} text</p></body></html>".encode()
    http = (
        f"HTTP/1.1 {status} X\r\n{extra_headers}Content-Type: {content_type}\r\nContent-Length: "
        f"{len(body)}\r\n\r\n".encode()
        + body
    )
    return _record("response", i, http, "application/http; msgtype=response", cl_delta)


def request(i: int) -> bytes:
    http = f"GET /{i} HTTP/1.1\r\nHost: ex.com\r\n\r\n".encode()
    return _record("request", i, http, "application/http; msgtype=request")


def conversion(i: int, text: bytes) -> bytes:
    return _record("conversion", i, text, "text/plain")


def _record(kind: str, i: int, block: bytes, ctype: str, cl_delta: int = 0) -> bytes:
    head = (
        f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.UUID(int=i)}>\r\nWARC-Target-URI: http://ex.com/{i}\r\n"
        f"Content-Type: {ctype}\r\nContent-Length: {len(block) + cl_delta}\r\n\r\n"
    ).encode()
    return head + block + b"\r\n\r\n"


def gz_members(records: list[bytes]) -> bytes:
    """One gzip member per record, as Common Crawl writes them."""
    return b"".join(gzip.compress(r) for r in records)
