"""The demo crawl: gzip WARC/1.1 files (one gzip member per record, as Common Crawl writes them),
a small WET file, and ``truth.jsonl`` with the intended kind and planted duplicates of every page.

Each WARC file is an independent unit seeded from (seed, file index), so files can be written in
parallel and ``--scale`` streams: memory is bounded by one file's truth rows and a small reservoir
of recent articles that duplicates are copied from. Duplicates are planted within a file.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import random
import re
import shutil
from pathlib import Path

import orjson

from curate.demo.archive import (
    chunked,
    gzip_member,
    http_request,
    http_response,
    pdf_bytes,
    png_bytes,
    record_id,
    warc_record,
)
from curate.demo.duplicates import article_tokens, near_duplicate
from curate.demo.pages import (
    BAD_KINDS,
    Site,
    article_head,
    article_html,
    good_article,
    make_path,
    make_site,
    not_found_html,
    render,
)
from curate.demo.prose import prose

PAGES_AT_SCALE_1 = 1500
MAX_PAGES_PER_FILE = 20_000
# Intended share of each page kind; every kind appears at least once in a file of >= 30 pages.
KIND_WEIGHTS = {
    "good": 0.70,
    "exact_dup": 0.05,
    "near_dup": 0.05,
    "spam": 0.035,
    "short": 0.03,
    "lorem": 0.015,
    "js_required": 0.02,
    "link_farm": 0.02,
    "bullets": 0.02,
    "symbols": 0.02,
    "boilerplate": 0.01,
    "image": 0.005,
    "pdf": 0.005,
    "not_found": 0.004,
    "redirect": 0.003,
}
LANG_WEIGHTS = {"en": 0.5, "de": 0.1, "fr": 0.1, "es": 0.1, "ru": 0.1, "zh": 0.1}
# Legacy encodings real crawls still hold, by language (the rest is utf-8).
LEGACY_CHARSETS = {
    "de": [("iso-8859-1", 0.3)],
    "fr": [("iso-8859-1", 0.3)],
    "es": [("iso-8859-1", 0.2)],
    "ru": [("windows-1251", 0.35), ("koi8-r", 0.1)],
    "zh": [("gbk", 0.2), ("gb18030", 0.15)],
}
# Shares of HTML payloads stored with a Content-Encoding or Transfer-Encoding to undo.
WET_PAGES = 200  # pages of file 0 that also go into the WET file
HTTP_ENCODINGS = {"gzip": 0.03, "chunked": 0.02}
BASE_DATE = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def n_pages(scale: float) -> int:
    """Pages in the crawl at ``scale``."""
    return max(20, round(PAGES_AT_SCALE_1 * scale))


def file_sizes(total: int) -> list[int]:
    """Pages per WARC file: about 4 files at small scale, at most MAX_PAGES_PER_FILE each."""
    per_file = min(MAX_PAGES_PER_FILE, max(50, math.ceil(total / 4)))
    sizes = [per_file] * (total // per_file)
    if total % per_file:
        sizes.append(total % per_file)
    return sizes


def quotas(n: int, weights: dict[str, float]) -> list[str]:
    """Exactly ``round(n * w)`` items per key (largest remainder), each key at least once if n is large."""
    total = sum(weights.values())
    raw = {k: n * w / total for k, w in weights.items()}
    counts = {k: int(v) for k, v in raw.items()}
    if n >= 2 * len(weights):
        counts = {k: max(1, c) for k, c in counts.items()}
    first = next(iter(weights))
    rest = n - sum(counts.values())
    for k in sorted(raw, key=lambda k: counts[k] - raw[k])[: max(0, rest)]:
        counts[k] += 1
    counts[first] += n - sum(counts.values())
    return [k for k in weights for _ in range(counts[k])]


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def choose_charset(rng: random.Random, lang: str) -> tuple[str, str]:
    """(charset, where it is declared: header | meta | both | none)."""
    r = rng.random()
    for cs, w in LEGACY_CHARSETS.get(lang, []):
        if r < w:
            return cs, rng.choice(("header", "meta", "both", "both"))
        r -= w
    return "utf-8", rng.choice(("header", "meta", "both", "both", "none"))


def html_to_text(page: str) -> str:
    """Naive tag stripping, the way WET files keep boilerplate lines."""
    page = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", "\n", page)
    page = re.sub(r"<[^>]+>", "\n", page)
    lines = (html.unescape(x).strip() for x in page.split("\n"))
    return "\n".join(x for x in lines if x)


class WarcUnit:
    """Writes one WARC file and returns its truth rows."""

    def __init__(self, path: Path, unit: int, size: int, seed: int, wet_path: Path | None = None):
        self.path, self.unit, self.size, self.seed = path, unit, size, seed
        self.rng = random.Random(f"web:{seed}:{unit}")
        self.wet_path = wet_path
        # (url, response record id, text) of the first pages, for the WET file
        self.wet_rows: list[tuple[str, str, str]] | None = [] if wet_path is not None else None
        self.n_records = 0
        self.truth: list[dict] = []
        self.sites: dict[str, list[Site]] = {
            lang: [make_site(self.rng, lang) for _ in range(6)] for lang in LANG_WEIGHTS
        }
        self.reservoir: list[dict] = []  # recent good pages that duplicates copy
        self.urls: set[str] = set()

    # -- records -----------------------------------------------------------------------------
    def _date(self) -> dt.datetime:
        return BASE_DATE + dt.timedelta(days=self.unit, seconds=7 * self.n_records)

    def _rid(self, what: str) -> str:
        self.n_records += 1
        return record_id("demo-web", self.seed, self.unit, self.n_records, what)

    def _write(self, f, raw: bytes) -> None:
        f.write(gzip_member(raw, level=1))  # speed over size: --scale writes gigabytes

    def warcinfo(self, f, name: str, version: str = "WARC/1.1") -> str:
        rid = self._rid("warcinfo")
        block = (
            "software: curate demo-data\r\nformat: WARC File Format 1.1\r\n"
            f"description: synthetic demo crawl, seed {self.seed}, file {self.unit}\r\n"
            "isPartOf: curate-demo\r\nrobots: classic\r\n"
        ).encode()
        date = self._date().strftime("%Y-%m-%dT%H:%M:%SZ")
        hdr = [("WARC-Date", date), ("WARC-Record-ID", rid), ("WARC-Filename", name)]
        self._write(f, warc_record("warcinfo", hdr, block, "application/warc-fields", version=version))
        return rid

    def exchange(
        self, f, url: str, status: int, reason: str, headers: list[tuple[str, str]], body: bytes
    ) -> str:
        """A request record and a response record; returns the response's record id."""
        host = url.split("/")[2]
        path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
        when = self._date()
        date = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        http_date = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
        req_id, resp_id = self._rid("request"), self._rid("response")
        ip = f"10.{self.unit % 250}.{len(host) % 250}.{sum(map(ord, host)) % 250}"
        req = http_request(host, path)
        common = [("WARC-Date", date), ("WARC-Target-URI", url), ("WARC-Warcinfo-ID", self.info_id)]
        self._write(
            f,
            warc_record(
                "request",
                [
                    *common,
                    ("WARC-Record-ID", req_id),
                    ("WARC-Concurrent-To", resp_id),
                    ("WARC-IP-Address", ip),
                ],
                req,
                "application/http; msgtype=request",
            ),
        )
        server = ("nginx/1.24.0", "Apache/2.4.57 (Debian)", "cloudflare")[len(host) % 3]
        block, off = http_response(status, reason, [("Date", http_date), ("Server", server), *headers], body)
        self._write(
            f,
            warc_record(
                "response",
                [
                    *common,
                    ("WARC-Record-ID", resp_id),
                    ("WARC-Concurrent-To", req_id),
                    ("WARC-IP-Address", ip),
                ],
                block,
                "application/http; msgtype=response",
                payload_offset=off,
            ),
        )
        return resp_id

    # -- pages -------------------------------------------------------------------------------
    def _url(self, site: Site) -> str:
        while True:
            url = (f"{'https' if self.rng.random() < 0.85 else 'http'}://{site.domain}"
                   f"{make_path(self.rng, len(self.urls))}")
            if url not in self.urls:
                self.urls.add(url)
                return url

    def html_page(
        self, f, site: Site, url: str, title: str, main: str, kind: str, head: str = "", **truth
    ) -> dict:
        rng = self.rng
        charset, declared = choose_charset(rng, site.lang)
        meta = charset if declared in ("meta", "both") else None
        page = render(site, title, main, rng, meta, head_extra=head)
        body = page.encode(charset, "xmlcharrefreplace")
        ctype = f"text/html; charset={charset}" if declared in ("header", "both") else "text/html"
        headers = [("Content-Type", ctype), ("Connection", "close")]
        r = rng.random()  # a few payloads as servers send them compressed or chunked
        encoding = (
            "gzip" if r < HTTP_ENCODINGS["gzip"] else "chunked" if r < sum(HTTP_ENCODINGS.values()) else None
        )
        if encoding == "gzip":
            body = gzip_member(body, level=6)
            headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
        elif encoding == "chunked":
            body = chunked(body)
            headers.append(("Transfer-Encoding", "chunked"))
        rid = self.exchange(f, url, 200, "OK", headers, body)
        row = dict(
            url=url,
            warc=self.path.name,
            record_id=rid,
            lang=site.lang,
            kind=kind,
            status=200,
            content_type=ctype,
            charset=charset,
            charset_declared=declared,
            title=title,
            dup_of=None,
            jaccard=None,
            n_tokens=None,
            http_encoding=encoding,
        )
        row.update(truth)
        if self.wet_rows is not None and len(self.wet_rows) < WET_PAGES:
            self.wet_rows.append((url, rid, html_to_text(page)))
        return row

    def page(self, f, i: int, kind: str) -> dict:
        rng = self.rng
        lang = "en" if i == 0 else _weighted(rng, LANG_WEIGHTS)
        if kind in ("exact_dup", "near_dup"):
            pool = (
                self.reservoir
                if kind == "exact_dup"
                else [r for r in self.reservoir if prose(r["lang"]).vocab.spaced]
            )
            if pool:
                src = rng.choice(pool)
                return self.duplicate(f, kind, src)
            kind = "good"  # no source yet (only possible in tiny files)
        site = rng.choice(self.sites[lang])
        url = self._url(site)
        if kind == "good":
            a = good_article(prose(lang, self.seed), rng)
            row = self.html_page(
                f,
                site,
                url,
                a.title,
                article_html(a, site, rng),
                kind,
                article_head(a, url),
                n_tokens=len(article_tokens(a.text)),
            )
            self.reservoir.append({"url": url, "lang": lang, "site": site, "article": a})
            if len(self.reservoir) > 200:
                self.reservoir.pop(rng.randrange(len(self.reservoir)))
            return row
        if kind in BAD_KINDS:
            title, main = BAD_KINDS[kind](prose(lang, self.seed), rng)
            return self.html_page(f, site, url, title, main, kind)
        return self.non_html(f, kind, site, lang)

    def duplicate(self, f, kind: str, src: dict) -> dict:
        rng = self.rng
        lang, a = src["lang"], src["article"]
        same_site = rng.random() < 0.5
        site = src["site"] if same_site else rng.choice([s for s in self.sites[lang] if s is not src["site"]])
        canonical = None
        if same_site and kind == "exact_dup" and rng.random() < 0.5:
            # a tracking-parameter variant of the same page, whose canonical link names the original
            url = src["url"] + rng.choice(("?utm_source=newsletter", "?ref=home", "?amp=1"))
            if url in self.urls:
                url = self._url(site)
            else:
                canonical = src["url"]
            self.urls.add(url)
        else:
            url = self._url(site)
        j = 1.0
        if kind == "near_dup":
            a, j = near_duplicate(a, rng, lang)
        return self.html_page(
            f,
            site,
            url,
            a.title,
            article_html(a, site, rng),
            kind,
            article_head(a, url, canonical),
            dup_of=src["url"],
            jaccard=j,
            n_tokens=len(article_tokens(a.text)),
        )

    def non_html(self, f, kind: str, site: Site, lang: str) -> dict:
        rng = self.rng
        base = dict(
            warc=self.path.name,
            lang=lang,
            kind=kind,
            charset=None,
            charset_declared=None,
            title=None,
            dup_of=None,
            jaccard=None,
            n_tokens=None,
            http_encoding=None,
        )
        if kind == "image":
            url = f"https://{site.domain}/static/img/{rng.randint(1, 10**6)}.png"
            body = png_bytes(16, 16, (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)))
            status, reason, headers = 200, "OK", [("Content-Type", "image/png")]
        elif kind == "pdf":
            url = f"https://{site.domain}/files/report-{rng.randint(1, 10**6)}.pdf"
            body = pdf_bytes(f"Annual report {rng.randint(2019, 2024)}")
            status, reason, headers = 200, "OK", [("Content-Type", "application/pdf")]
        elif kind == "not_found":
            url = f"https://{site.domain}/old/{rng.randint(1, 10**6)}.html"
            body = not_found_html(lang).encode()
            status, reason, headers = 404, "Not Found", [("Content-Type", "text/html; charset=utf-8")]
        else:  # redirect
            url = f"http://{site.domain}/go/{rng.randint(1, 10**6)}"
            body = b""
            status, reason = 301, "Moved Permanently"
            headers = [("Location", f"https://{site.domain}/"), ("Content-Type", "text/html")]
        self.urls.add(url)
        rid = self.exchange(f, url, status, reason, headers, body)
        return dict(url=url, record_id=rid, status=status, content_type=headers[-1][1], **base)

    # -- driver ------------------------------------------------------------------------------
    def run(self) -> list[dict]:
        kinds = quotas(self.size, KIND_WEIGHTS)
        self.rng.shuffle(kinds)
        first_good = kinds.index("good")
        kinds[0], kinds[first_good] = kinds[first_good], kinds[0]
        with open(self.path, "wb") as f:
            self.info_id = self.warcinfo(f, self.path.name)
            for i, kind in enumerate(kinds):
                self.truth.append(self.page(f, i, kind))
        if self.wet_path is not None:
            self.write_wet()
        return self.truth

    def write_wet(self) -> None:
        """WET conversion records (text only, boilerplate included) for the first pages."""
        assert self.wet_path is not None and self.wet_rows is not None
        with open(self.wet_path, "wb") as f:
            info = self.warcinfo(f, self.wet_path.name, version="WARC/1.0")
            for url, refers_to, text in self.wet_rows:
                date = self._date().strftime("%Y-%m-%dT%H:%M:%SZ")
                hdr = [
                    ("WARC-Target-URI", url),
                    ("WARC-Date", date),
                    ("WARC-Record-ID", self._rid("conversion")),
                    ("WARC-Refers-To", refers_to),
                    ("WARC-Warcinfo-ID", info),
                ]
                self._write(
                    f, warc_record("conversion", hdr, text.encode(), "text/plain", version="WARC/1.0")
                )


def plan(out: Path, scale: float, seed: int) -> list[tuple[Path, int, int, int, bool]]:
    """One task per WARC file: (path, unit, pages, seed, with_wet)."""
    sizes = file_sizes(n_pages(scale))
    return [(out / f"demo-{i:05d}.warc.gz", i, size, seed, i == 0) for i, size in enumerate(sizes)]


def truth_part(warc: Path) -> Path:
    """Where a unit leaves its truth rows until :func:`finish` joins them."""
    return warc.with_name(f".truth-{warc.name.removesuffix('.warc.gz')}.jsonl")


def write_unit(path: Path, unit: int, size: int, seed: int, with_wet: bool) -> dict[str, int]:
    """Task: write one WARC file (and the WET file for unit 0); returns page counts per kind."""
    wet = path.with_name(path.name.replace(".warc.gz", ".warc.wet.gz")) if with_wet else None
    rows = WarcUnit(path, unit, size, seed, wet).run()
    counts: dict[str, int] = {}
    with open(truth_part(path), "wb") as f:
        for r in rows:
            counts[r["kind"]] = counts.get(r["kind"], 0) + 1
            f.write(orjson.dumps(r) + b"\n")
    return counts


def finish(out: Path, tasks: list[tuple], results: list[dict[str, int]]) -> dict:
    """Join the units' truth rows into ``web/truth.jsonl`` (in file order); returns counts."""
    counts: dict[str, int] = {}
    with open(out / "truth.jsonl", "wb") as f:
        for task, unit_counts in zip(tasks, results, strict=True):
            part = truth_part(task[0])
            with open(part, "rb") as src:
                shutil.copyfileobj(src, f)
            part.unlink()
            for k, v in unit_counts.items():
                counts[k] = counts.get(k, 0) + v
    return {"warc_files": len(tasks), "pages": sum(counts.values()), "kinds": dict(sorted(counts.items()))}
