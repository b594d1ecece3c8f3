"""HTML -> main text (trafilatura or resiliparse), one page at a time in a killable subprocess.

Rows with an ``html`` body (WARC response records) get ``text``, ``title`` and ``date``; rows that
already have text and no body (WET records, other sources) pass through untouched. ``html_column``
names another column holding the page, from any reader: HTML kept in a JSONL/Parquet/HF column is
read with ``text_key: html`` (the reader puts it in ``text``) and ``extract: {html_column: text}``,
which replaces the page by its main text. String values are taken as decoded HTML (UTF-8). Each page runs in
:mod:`curate.filters._extract_worker` under a wall-clock limit: a page that hangs the parser is
killed with its worker (which is restarted) and rejected as ``extract_timeout``. A subprocess, not
``signal.alarm``: alarms only work in the main thread and cannot interrupt C code that never
returns to the interpreter.
"""

from __future__ import annotations

import atexit
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from typing import Literal

import polars as pl
from pydantic import Field

from curate.engine.registry import register
from curate.engine.stage import REASON, Stage, StageConfig, StageResult, split_by_reason
from curate.filters import textview as tv

_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")


def looks_like_html(body: bytes, content_type: str | None) -> bool:
    """HTML by its Content-Type, or (no header) by sniffing the first bytes like a browser would."""
    if content_type:
        mime = content_type.split(";", 1)[0].strip().lower()
        return mime in _HTML_TYPES
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")) or b"<html" in head


class ExtractWorker:
    """One extraction subprocess; :meth:`run` returns its reply or ``None`` on timeout (then restarts)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        atexit.register(self.close)

    def _start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "curate.filters._extract_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )
        if self._read(timeout=120) != "ready":
            self.close()
            raise RuntimeError("the extraction worker did not start (see its stderr above)")

    def _read(self, timeout: float):
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout
        deadline = time.monotonic() + timeout
        buf = b""
        need = 8
        length = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd.fileno(), max(need - len(buf), 1 << 16) if length is None else need - len(buf))
            if not chunk:
                raise RuntimeError("the extraction worker died")
            buf += chunk
            if length is None and len(buf) >= 8:
                (length,) = struct.unpack("<Q", buf[:8])
                buf = buf[8:]
                need = length
            if length is not None and len(buf) >= need:
                return pickle.loads(buf[:need])

    def run(self, request: tuple, timeout: float):
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.proc.stdin.write(struct.pack("<Q", len(data)) + data)
            self.proc.stdin.flush()
            reply = self._read(timeout)
        except (BrokenPipeError, RuntimeError) as e:
            self.close()
            return ("error:worker died: " + str(e), None, None, None)
        if reply is None:
            self.close()  # killed mid-page; the next page starts a fresh worker
        return reply

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                if f is not None:
                    f.close()
            self.proc = None


@register("extract")
class Extract(Stage):
    """HTML -> main text. Reasons: ``extract_http_status``, ``extract_not_html``,
    ``extract_too_large``, ``extract_timeout``, ``extract_empty``, ``extract_error``.

    Decoding: the charset from the HTTP ``Content-Type`` header, else a ``<meta>`` tag, else
    detection (resiliparse). ``url`` is kept from the record; ``title`` and ``date`` are added where
    the engine finds them (resiliparse gives no date).
    """

    class Config(StageConfig):
        engine: Literal["trafilatura", "resiliparse"] = Field(
            "trafilatura",
            description="trafilatura (precise, ~20-400 pages/s) or resiliparse (an order of magnitude "
                        "faster, keeps more boilerplate).",
        )
        only_for: list[str] | None = Field(
            None, description="Only rows of these sources; others pass through untouched."
        )
        favor_precision: bool = Field(
            True, description="trafilatura: prefer leaving text out to keeping boilerplate."
        )
        include_tables: bool = Field(True, description="Keep the text of tables.")
        table_rows: Literal["plain", "markdown"] = Field(
            "plain",
            description="trafilatura: table rows as plain lines (non-empty cells, tab-separated; see "
            "filters/tables.py) or as trafilatura writes them (`| cell | cell |`, empty cells kept).",
        )
        include_comments: bool = Field(False, description="Keep comment sections.")
        main_content: bool = Field(
            True,
            description="resiliparse: main content only; false keeps all visible text (navigation and "
            "footers too), as Common Crawl's WET files carry it.",
        )
        include_links: bool = Field(False, description="Keep link targets in the text.")
        timeout_s: float = Field(
            10.0, gt=0, description="Wall-clock limit per page; slower pages are rejected."
        )
        max_bytes: int = Field(5_000_000, gt=0, description="Pages with a larger HTTP body are rejected.")
        keep_html: bool = Field(
            False, description="Keep the raw html column after extraction (large shards)."
        )
        html_column: str = Field(
            "html",
            description="The column holding the page (bytes or text). `text` for HTML a JSONL/Parquet/HF "
            "reader read with `text_key: <its column>`: the page is replaced by its main text.",
        )
        ok_status_only: bool = Field(
            True,
            description="Reject responses whose HTTP status is not 2xx (error pages, redirects) as "
            "`extract_http_status`; records without a status (WET, resource records) are not affected.",
        )

    def setup(self) -> None:
        self.worker = ExtractWorker()

    def flush(self) -> StageResult | None:
        if getattr(self, "worker", None) is not None:
            self.worker.close()
        return None

    def process(self, df: pl.DataFrame) -> StageResult:
        c = self.config
        col = c.html_column
        if col not in df.columns and "html_column" in c.model_fields_set and df.height:
            raise ValueError(
                f"extract: no column {col!r} (columns: {df.columns}); a jsonl/parquet/hf reader puts its "
                "text_key "
                "column in `text`: read the page with text_key: <its column> and set html_column: text"
            )
        if col not in df.columns or df.height == 0:
            return StageResult(kept=df)
        sources = df["source"].to_list() if "source" in df.columns else [None] * df.height
        bodies = df[col].to_list()
        ctypes = df["content_type"].to_list() if "content_type" in df.columns else [None] * df.height
        for i, body in enumerate(bodies):
            if isinstance(body, str):  # HTML kept as text in a column: already decoded
                bodies[i] = body.encode("utf-8")
                ctypes[i] = "text/html; charset=utf-8"
        urls = df["url"].to_list() if "url" in df.columns else [None] * df.height
        texts = df["text"].to_list() if "text" in df.columns else [None] * df.height
        titles = df["title"].to_list() if "title" in df.columns else [None] * df.height
        dates = df["date"].to_list() if "date" in df.columns else [None] * df.height
        statuses = (
            df["http_status"].to_list()
            if c.ok_status_only and "http_status" in df.columns
            else [None] * df.height
        )
        reasons: list[str | None] = [None] * df.height
        opts = {"engine": c.engine, "favor_precision": c.favor_precision, "include_tables": c.include_tables,
                "table_rows": c.table_rows, "main_content": c.main_content,
                "include_comments": c.include_comments, "include_links": c.include_links}
        counters = {"extract_pages": 0, "extract_seconds_ms": 0}
        t0 = time.perf_counter()
        for i, body in enumerate(bodies):
            if body is None or (c.only_for is not None and sources[i] not in c.only_for):
                continue  # WET / text records, other sources: untouched
            counters["extract_pages"] += 1
            if statuses[i] is not None and not 200 <= statuses[i] < 300:
                reasons[i] = "extract_http_status"
                continue
            if len(body) > c.max_bytes:
                reasons[i] = "extract_too_large"
                continue
            if not looks_like_html(body, ctypes[i]):
                reasons[i] = "extract_not_html"
                continue
            reply = self.worker.run((body, ctypes[i], urls[i], opts), c.timeout_s)
            if reply is None:
                reasons[i] = "extract_timeout"
                continue
            status, text, title, date = reply
            if status == "ok":
                texts[i], titles[i], dates[i] = text, title, date
            else:
                reasons[i] = "extract_empty" if status == "empty" else "extract_error"
        counters["extract_seconds_ms"] = int((time.perf_counter() - t0) * 1000)
        out = df.with_columns(
            pl.Series("text", texts, dtype=pl.Utf8),
            pl.Series("title", titles, dtype=pl.Utf8),
            pl.Series("date", dates, dtype=pl.Utf8),
            pl.Series(REASON, reasons, dtype=pl.Utf8),
        )
        out = tv.invalidate(out)
        res = split_by_reason(out)
        if not c.keep_html and col != "text":
            res.kept = res.kept.drop(col)  # rejects keep the body: it explains the drop
        res.counters = counters
        return res
