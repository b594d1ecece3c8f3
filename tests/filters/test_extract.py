"""extract: both engines, charset order, rejects with reasons, per-page timeout, pass-through."""

from __future__ import annotations

import time

import polars as pl
import pytest

from curate.filters._extract_worker import decode
from curate.filters.extract import Extract, ExtractWorker

ARTICLE = "".join(
    f"<p>Paragraph {i}: the committee discussed the new library budget in detail today.</p>" for i in range(8)
)
PAGE = ("<html><head><title>Budget news</title></head><body><nav>Home | "
        f"About</nav><article>{ARTICLE}</article></body></html>")


def _batch(rows):
    return pl.DataFrame(rows, schema={"id": pl.Utf8, "source": pl.Utf8, "text": pl.Utf8, "html": pl.Binary,
                                      "content_type": pl.Utf8, "url": pl.Utf8}, orient="row")


@pytest.mark.parametrize("engine", ["trafilatura", "resiliparse"])
def test_extracts_and_rejects(ctx, engine):
    df = _batch([
        ("ok", "web", None, PAGE.encode(), "text/html; charset=utf-8", "https://x.org/a"),
        ("pdf", "web", None, b"%PDF-1.4 ...", "application/pdf", "https://x.org/b"),
        ("big", "web", None, b"<html>" + b"x" * 3000 + b"</html>", "text/html", "https://x.org/c"),
        ("empty", "web", None, b"<html><body></body></html>", "text/html", "https://x.org/d"),
        ("wet", "web", "already extracted text", None, None, "https://x.org/e"),
        ("other", "books", None, PAGE.encode(), "text/html", None),
    ])
    st = Extract(Extract.Config(engine=engine, max_bytes=2000, only_for=["web"]), ctx)
    st.setup()
    try:
        res = st.process(df)
    finally:
        st.flush()
    why = dict(zip(res.dropped["id"], res.dropped["reason"], strict=True))
    assert why == {"pdf": "extract_not_html", "big": "extract_too_large", "empty": "extract_empty"}
    kept = {r["id"]: r for r in res.kept.to_dicts()}
    assert "committee discussed the new library budget" in kept["ok"]["text"]
    assert "Home | About" not in kept["ok"]["text"]
    assert kept["ok"]["title"] == "Budget news" and kept["ok"]["url"] == "https://x.org/a"
    assert kept["wet"]["text"] == "already extracted text"
    assert kept["other"]["text"] is None  # not in only_for: untouched
    assert "html" not in res.kept.columns and "html" in res.dropped.columns


def test_charset_header_then_meta_then_detection():
    body = "<html><head><meta charset='windows-1251'></head><body>Привет мир</body></html>".encode("cp1251")
    assert decode(body, "text/html; charset=koi8-r")[1] == "koi8-r"  # header wins
    text, enc = decode(body, "text/html")
    assert enc == "cp1251" and "Привет мир" in text  # then the meta tag
    text, _ = decode("<p>Grüße aus Köln, schöne Straße</p>".encode(), None)  # then detection
    assert "Grüße" in text


def test_timeout_kills_worker_and_next_page_works():
    w = ExtractWorker()
    try:
        t0 = time.monotonic()
        assert w.run((b"<html></html>", None, None, {"engine": "_sleep"}), timeout=1.0) is None
        assert time.monotonic() - t0 < 10
        opts = {"engine": "resiliparse", "favor_precision": True, "include_tables": True,
                "include_comments": False, "include_links": False}
        status, text, _, _ = w.run((PAGE.encode(), "text/html", None, opts), timeout=60)
        assert status == "ok" and "committee" in text
    finally:
        w.close()


def test_pathological_page_is_rejected_not_hung(ctx):
    nested = b"<html><body>" + b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000 + b"</body></html>"
    df = _batch([("deep", "web", None, nested, "text/html", None)])
    st = Extract(Extract.Config(engine="trafilatura", timeout_s=5), ctx)
    t0 = time.monotonic()
    try:
        res = st.process(df)
    finally:
        st.flush()
    assert time.monotonic() - t0 < 60
    assert res.kept.height + res.n_dropped == 1
    if res.dropped is not None:
        assert res.dropped["reason"][0] in {"extract_timeout", "extract_empty", "extract_error"}


def test_non_2xx_responses_are_rejected(ctx):
    """A 404 page is HTML with text in it, and a redirect has an HTML content type: neither is a
    document. Records without a status (WET, resource) are not affected; the check can be off."""
    df = pl.DataFrame(
        {
            "id": ["ok", "gone", "moved", "nostatus"],
            "source": ["web"] * 4,
            "text": [None] * 4,
            "html": [PAGE.encode(), PAGE.encode(), b"", PAGE.encode()],
            "content_type": ["text/html"] * 4,
            "url": ["https://x.org/a", "https://x.org/old", "http://x.org/go", "https://x.org/r"],
            "http_status": [200, 404, 301, None],
        },
        schema_overrides={"http_status": pl.Int32},
    )
    for on, want in (
        (True, {"gone": "extract_http_status", "moved": "extract_http_status"}),
        (False, {"moved": "extract_empty"}),
    ):
        st = Extract(Extract.Config(engine="resiliparse", ok_status_only=on), ctx)
        st.setup()
        try:
            res = st.process(df)
        finally:
            st.flush()
        assert dict(zip(res.dropped["id"], res.dropped["reason"], strict=True)) == want
        assert res.kept.height + res.dropped.height == df.height


LAYOUT = ("<html><body><table><tr><td></td><td><p>" + ARTICLE + "</p></td><td></td></tr>"
          "<tr><td>Price</td><td>4.60</td><td></td></tr></table></body></html>")


@pytest.mark.parametrize("rows,expect_pipes", [("plain", False), ("markdown", True)])
def test_table_rows_plain_by_default_or_as_trafilatura_writes_them(ctx, rows, expect_pipes):
    df = _batch([("t", "web", None, LAYOUT.encode(), "text/html; charset=utf-8", "https://x.org/t")])
    st = Extract(Extract.Config(table_rows=rows), ctx)
    try:
        text = st.process(df).kept["text"][0]
    finally:
        st.flush()
    assert "committee discussed the new library budget" in text
    assert ("|" in text) is expect_pipes
    if not expect_pipes:
        assert "Price\t4.60" in text.splitlines()


def test_resiliparse_main_content_false_keeps_navigation(ctx):
    df = _batch([("ok", "web", None, PAGE.encode(), "text/html; charset=utf-8", "https://x.org/a")])
    texts = {}
    for main in (True, False):
        st = Extract(Extract.Config(engine="resiliparse", main_content=main), ctx)
        try:
            texts[main] = st.process(df).kept["text"][0]
        finally:
            st.flush()
    assert "committee discussed" in texts[True] and "committee discussed" in texts[False]
    assert "Home" in texts[False] and len(texts[False]) > len(texts[True])
