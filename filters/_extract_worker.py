"""The extraction subprocess: decodes and extracts one page at a time for :mod:`curate.filters.extract`.

A page that makes the HTML parser or trafilatura loop or recurse forever must not hang the pipeline
worker, so extraction runs here, in a child process that the parent kills when a page exceeds its
time limit. Protocol on stdin/stdout: 8-byte little-endian length + pickle, one request
``(body, content_type, url, options)`` -> one reply ``(status, text, title, date)``; status is
``ok`` / ``empty`` / ``error:<msg>``. The real stdout is kept for the protocol and fd 1 is pointed at
stderr, so library prints cannot corrupt it.
"""

from __future__ import annotations

import codecs
import json
import os
import pickle
import re
import struct
import sys

from curate.filters.tables import plain_table_rows

_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]{0,300}?charset\s*=\s*[\"']?([\w.:-]+)", re.I)


def _valid(enc: str | None) -> str | None:
    if not enc:
        return None
    try:
        return codecs.lookup(enc).name
    except LookupError:
        return None


def decode(body: bytes, content_type: str | None) -> tuple[str, str]:
    """Decode an HTTP body: charset from the header, else a meta tag, else detection. Returns (text,
    codec)."""
    enc = None
    if content_type:
        m = _HEADER_CHARSET.search(content_type)
        enc = _valid(m.group(1)) if m else None
    if enc is None:
        m = _META_CHARSET.search(body[:8192])
        enc = _valid(m.group(1).decode("ascii", "ignore")) if m else None
    if enc is None:
        from resiliparse.parse.encoding import detect_encoding

        enc = _valid(detect_encoding(body)) or "utf-8"
    if enc in ("latin-1", "iso8859-1", "ascii"):
        enc = "cp1252"  # what browsers do with these labels (WHATWG encoding standard)
    return body.decode(enc, errors="replace"), enc


def extract(
    body: bytes, content_type: str | None, url: str | None, opts: dict
) -> tuple[str, str | None, str | None, str | None]:
    """Decode and extract one page. Returns (status, text, title, date)."""
    html, _ = decode(body, content_type)
    if opts["engine"] == "trafilatura":
        import trafilatura

        out = trafilatura.extract(
            html,
            url=url,
            output_format="json",
            with_metadata=True,
            favor_precision=opts["favor_precision"],
            include_tables=opts["include_tables"],
            include_comments=opts["include_comments"],
            include_links=opts["include_links"],
            deduplicate=False,
        )
        if not out:
            return "empty", None, None, None
        d = json.loads(out)
        text = (d.get("text") or "").strip()
        if opts.get("table_rows", "plain") == "plain":
            text = plain_table_rows(text).strip()
        return ("ok" if text else "empty"), text, d.get("title"), d.get("date")
    if opts["engine"] == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        tree = HTMLTree.parse(html)
        text = extract_plain_text(
            tree,
            main_content=opts.get("main_content", True),
            list_bullets=True,
            links=opts["include_links"],
            comments=opts["include_comments"],
            alt_texts=False,
        ).strip()
        title = tree.title or None
        return ("ok" if text else "empty"), text, title, None
    if opts["engine"] == "_sleep":  # test hook: a page that never finishes
        import time

        time.sleep(3600)
    raise ValueError(f"unknown engine {opts['engine']!r}")


def _read(f) -> object | None:
    head = f.read(8)
    if len(head) < 8:
        return None
    (n,) = struct.unpack("<Q", head)
    return pickle.loads(f.read(n))


def _write(f, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(struct.pack("<Q", len(data)) + data)
    f.flush()


def main() -> None:
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    proto_in = sys.stdin.buffer
    _write(proto_out, "ready")
    while True:
        req = _read(proto_in)
        if req is None:
            return
        try:
            reply = extract(*req)
        except Exception as e:  # a broken page is a rejected row, never a dead worker
            reply = (f"error:{type(e).__name__}: {e}"[:300], None, None, None)
        _write(proto_out, reply)


if __name__ == "__main__":
    main()
