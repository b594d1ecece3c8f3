"""The demo-data generator: layout, determinism, WARC validity, and truth files that match content."""

from __future__ import annotations

import ast
import gzip
import hashlib
import html
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import zstandard
from click.testing import CliRunner

from curate.demo import generate
from curate.demo.cli import demo_data
from curate.demo.duplicates import NEAR_DUP_RANGE
from curate.demo.web import LEGACY_CHARSETS
from curate.demo.words import VOCABS

SCALE = 0.05


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "data"
    generate(out, scale=SCALE, seed=0)
    return out


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def http_split(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, lower-cased headers and the decoded body (chunked / gzip undone) of a response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        out, rest = b"", body
        while True:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2 :]
        body = out
    else:
        assert int(headers["content-length"]) == len(body)
    if headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return status, headers, body


def article_text(page: str) -> str:
    """Article blocks (h2/p inside class article-body), parsed independently of the generator."""
    m = re.search(r'<div class="article-body">(.*?)</div><div class="share">', page, re.S)
    assert m, "no article-body"
    inner = re.sub(r'<div class="byline">.*?</div>', "", m.group(1), flags=re.S)
    return "\n".join(html.unescape(t) for _, t in re.findall(r"<(h2|p)>(.*?)</\1>", inner, re.S))


def shingle_jaccard(a: str, b: str, n: int = 5) -> float:
    ta, tb = a.lower().split(), b.lower().split()
    sa = {tuple(ta[i : i + n]) for i in range(len(ta) - n + 1)}
    sb = {tuple(tb[i : i + n]) for i in range(len(tb) - n + 1)}
    return len(sa & sb) / len(sa | sb)


def declared_charset(headers: dict[str, str], body: bytes) -> str | None:
    m = re.search(r"charset=([\w-]+)", headers.get("content-type", ""))
    if m:
        return m.group(1)
    m = re.search(rb'charset="?([\w-]+)', body[:1024])
    return m.group(1).decode() if m else None


@pytest.fixture(scope="module")
def pages(demo_dir) -> dict[str, dict]:
    """url -> truth row + status, headers and decoded page, read with warcio."""
    from warcio.archiveiterator import ArchiveIterator

    truth = {}
    for line in (demo_dir / "web" / "truth.jsonl").read_text().splitlines():
        row = json.loads(line)
        truth[row["url"]] = row
    for path in sorted((demo_dir / "web").glob("*.warc.gz")):
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f, no_record_parse=True):
                if rec.rec_type != "response":
                    continue
                url = rec.rec_headers.get_header("WARC-Target-URI")
                status, headers, body = http_split(rec.raw_stream.read())
                truth[url].update(_status=status, _headers=headers, _body=body)
    return truth


# -- layout and determinism -----------------------------------------------------------------


def test_layout_and_manifest(demo_dir):
    m = json.loads((demo_dir / "manifest.json").read_text())
    assert m["seed"] == 0 and m["scale"] == SCALE
    c = m["counts"]
    assert len(list((demo_dir / "web").glob("*.warc.gz"))) == c["warc_files"] >= 2
    assert len(list((demo_dir / "web").glob("*.warc.wet.gz"))) == 1
    assert len((demo_dir / "web" / "truth.jsonl").read_text().splitlines()) == c["web_pages"]
    assert len(list((demo_dir / "books").glob("*.txt"))) == c["books"] >= 3
    assert len(list((demo_dir / "jsonl").glob("*.jsonl.gz"))) >= 3
    assert len(list((demo_dir / "jsonl").glob("*.jsonl.zst"))) >= 1
    for fmt in ("alpaca", "sharegpt", "openai", "preference"):
        assert (demo_dir / "sft" / f"{fmt}.jsonl").exists()
    assert (demo_dir / "sft" / "truth.json").exists()
    assert (demo_dir / "README.md").exists()
    code_files = [p for p in (demo_dir / "code").rglob("*") if p.is_file()]
    assert len(code_files) == c["code_files"]


def test_same_seed_same_bytes_other_seed_differs(demo_dir, tmp_path):
    again = tmp_path / "again"
    generate(again, scale=SCALE, seed=0)
    assert tree_digest(again) == tree_digest(demo_dir)
    other = tmp_path / "other"
    generate(other, scale=SCALE, seed=1)
    a, b = tree_digest(other), tree_digest(demo_dir)
    assert a["web/demo-00000.warc.gz"] != b["web/demo-00000.warc.gz"]
    assert a["sft/openai.jsonl"] != b["sft/openai.jsonl"]


def test_regenerate_into_own_dir_but_refuse_foreign_dir(tmp_path):
    out = tmp_path / "d"
    generate(out, scale=0.02)
    (out / "web" / "demo-00099.warc.gz").write_bytes(b"stale")
    generate(out, scale=0.02)  # our own manifest: the old parts are replaced
    assert not (out / "web" / "demo-00099.warc.gz").exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        generate(foreign, scale=0.02)
    assert (foreign / "keep.txt").read_text() == "mine"


def test_cli(tmp_path):
    res = CliRunner().invoke(demo_data, [str(tmp_path / "c"), "--scale", "0.02", "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["seed"] == 3
    bad = CliRunner().invoke(demo_data, [str(tmp_path / "x"), "--scale", "0"])
    assert bad.exit_code != 0 and "scale" in bad.output


def test_workers_give_same_bytes(tmp_path):
    generate(tmp_path / "one", scale=0.1, seed=5, workers=1)
    generate(tmp_path / "two", scale=0.1, seed=5, workers=2)
    assert tree_digest(tmp_path / "one") == tree_digest(tmp_path / "two")


# -- web ------------------------------------------------------------------------------------


def test_warcs_read_with_fastwarc_and_warcio(demo_dir):
    from fastwarc.warc import ArchiveIterator as FastIterator
    from warcio.archiveiterator import ArchiveIterator as WarcioIterator

    truth = [json.loads(x) for x in (demo_dir / "web" / "truth.jsonl").read_text().splitlines()]
    for path in sorted((demo_dir / "web").glob("*.warc.gz")):
        expected = [t for t in truth if t["warc"] == path.name]
        with open(path, "rb") as f:
            fast = list(FastIterator(f, parse_http=False))
            types = Counter(r.headers["WARC-Type"] for r in fast)
        assert types == {"warcinfo": 1, "request": len(expected), "response": len(expected)}
        with open(path, "rb") as f:
            for rec in FastIterator(f, parse_http=False):
                assert rec.verify_block_digest(), rec.record_id
        with open(path, "rb") as f:
            warcio_recs = []
            for r in WarcioIterator(f, no_record_parse=True):
                body = r.raw_stream.read()
                assert len(body) == int(r.rec_headers.get_header("Content-Length"))
                warcio_recs.append(
                    (
                        r.rec_type,
                        r.rec_headers.get_header("WARC-Target-URI"),
                        r.rec_headers.get_header("WARC-Record-ID"),
                    )
                )
        responses = [(u, rid) for t, u, rid in warcio_recs if t == "response"]
        assert responses == [(t["url"], t["record_id"]) for t in expected]
        # one gzip member per record, each with mtime 0
        raw = path.read_bytes()
        assert raw.count(b"\x1f\x8b\x08\x00\x00\x00\x00\x00") >= 1 + 2 * len(expected)


def test_http_encodings_are_planted_and_declared(pages):
    enc = Counter(r["http_encoding"] for r in pages.values())
    assert enc["gzip"] >= 1 and enc["chunked"] >= 1
    for r in pages.values():
        if r["http_encoding"] == "gzip":
            assert r["_headers"]["content-encoding"] == "gzip"
        elif r["http_encoding"] == "chunked":
            assert r["_headers"]["transfer-encoding"] == "chunked" and "content-length" not in r["_headers"]


def test_truth_kinds_and_languages(demo_dir):
    truth = [json.loads(x) for x in (demo_dir / "web" / "truth.jsonl").read_text().splitlines()]
    kinds = Counter(t["kind"] for t in truth)
    for k in (
        "good",
        "exact_dup",
        "near_dup",
        "spam",
        "short",
        "lorem",
        "js_required",
        "link_farm",
        "bullets",
        "symbols",
        "image",
        "pdf",
        "not_found",
        "redirect",
    ):
        assert kinds[k] >= 1, k
    assert kinds["good"] / len(truth) > 0.5
    langs = Counter(t["lang"] for t in truth if t["kind"] == "good")
    assert set(langs) == {"en", "de", "fr", "es", "ru", "zh"}
    assert 0.3 < langs["en"] / sum(langs.values()) < 0.7
    assert len({t["url"] for t in truth}) == len(truth)


def test_planted_duplicates_match_truth(pages):
    def text(row):
        return article_text(row["_body"].decode(row["charset"]))

    n_exact = n_near = 0
    for row in pages.values():
        if row["kind"] == "exact_dup":
            assert text(row) == text(pages[row["dup_of"]])
            n_exact += 1
        elif row["kind"] == "near_dup":
            src = text(pages[row["dup_of"]])
            j = shingle_jaccard(text(row), src)
            assert NEAR_DUP_RANGE[0] <= j <= NEAR_DUP_RANGE[1]
            assert j == pytest.approx(row["jaccard"], abs=1e-3)
            assert text(row) != src
            n_near += 1
        elif row["kind"] == "good":
            assert row["dup_of"] is None
    assert n_exact >= 1 and n_near >= 1
    # unrelated good articles are far apart
    goods = [text(r) for r in pages.values() if r["kind"] == "good" and r["lang"] != "zh"][:12]
    for i in range(len(goods)):
        for k in range(i + 1, len(goods)):
            assert shingle_jaccard(goods[i], goods[k]) < 0.1


def test_charsets_declared_and_decodable(pages):
    legacy = 0
    for row in pages.values():
        if row["_status"] != 200 or row["charset"] is None:
            continue
        body, headers = row["_body"], row["_headers"]
        declared = declared_charset(headers, body)
        if row["charset_declared"] == "none":
            assert declared is None
            continue
        assert declared == row["charset"]
        page = body.decode(declared)  # strict
        assert html.escape(row["title"]) in page or row["title"] in html.unescape(page)
        if row["charset"] != "utf-8":
            legacy += 1
            if row["lang"] in ("ru", "zh") and row["kind"] == "good":
                with pytest.raises(UnicodeDecodeError):
                    body.decode("utf-8")
    assert legacy >= 1


def test_good_pages_pass_gopher_like_rules(pages):
    stop = {"the", "be", "to", "of", "and", "that", "have", "with"}
    for row in pages.values():
        if row["kind"] != "good" or row["lang"] != "en":
            continue
        text = article_text(row["_body"].decode(row["charset"]))
        words = text.split()
        assert len(words) >= 50
        assert 3 <= sum(map(len, words)) / len(words) <= 10
        assert len(stop & {w.lower().strip(".,") for w in words}) >= 2
        paras = [p for p in text.split("\n") if len(p.split()) > 12]
        assert all(p.rstrip()[-1] in ".!?" for p in paras)


def test_bad_pages_look_bad(pages):
    for row in pages.values():
        page = row["_body"].decode(row["charset"]) if row["charset"] else ""
        if row["kind"] == "lorem":
            assert "lorem ipsum" in page.lower()
        elif row["kind"] == "js_required":
            assert "JavaScript" in page
        elif row["kind"] == "spam":
            words = article_text_loose(page).replace("!", " ").split()
            assert len(set(words)) <= 5 and len(words) > 100
        elif row["kind"] == "image":
            assert row["_body"].startswith(b"\x89PNG")
        elif row["kind"] == "pdf":
            assert row["_body"].startswith(b"%PDF-")
        elif row["kind"] in ("not_found", "redirect"):
            assert row["_status"] == {"not_found": 404, "redirect": 301}[row["kind"]]


def article_text_loose(page: str) -> str:
    m = re.search(r'<div class="article-body"><h1>.*?</h1>(.*?)<ul>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", m.group(1)))


def test_boilerplate_is_removable_by_trafilatura(pages):
    trafilatura = pytest.importorskip("trafilatura")
    goods = [r for r in pages.values() if r["kind"] == "good" and r["lang"] == "en"][:3]
    for row in goods:
        page = row["_body"].decode(row["charset"])
        out = trafilatura.extract(page)
        art = article_text(page)
        first_para = [b for b in art.split("\n") if len(b.split()) > 12][0]
        assert first_para in out
        assert "uses cookies" not in out and "All rights reserved" not in out


def test_wet_file(demo_dir):
    from fastwarc.warc import ArchiveIterator

    truth = {json.loads(x)["record_id"] for x in (demo_dir / "web" / "truth.jsonl").read_text().splitlines()}
    (wet,) = sorted((demo_dir / "web").glob("*.warc.wet.gz"))
    with open(wet, "rb") as f:
        recs = [
            (r.headers["WARC-Type"], r.headers.get("WARC-Refers-To"), r.reader.read())
            for r in ArchiveIterator(f, parse_http=False)
        ]
    assert recs[0][0] == "warcinfo"
    conv = [r for r in recs if r[0] == "conversion"]
    assert conv and all(refers in truth for _, refers, _ in conv)
    assert max(len(text.decode().split()) for _, _, text in conv) > 100


@pytest.mark.parametrize("lang", sorted(LEGACY_CHARSETS))
def test_vocabulary_encodes_in_legacy_charsets(lang):
    v = VOCABS[lang]
    fields = (
        "nouns",
        "adjectives",
        "verbs",
        "intransitive",
        "adverbs",
        "prepositions",
        "times",
        "openers",
        "commerce",
        "nav",
        "footer",
        "cookie",
        "cookie_button",
        "rights",
        "chapter",
        "read_more",
        "popular",
        "js_notice",
        "not_found",
    )
    text = " ".join(getattr(v, f) for f in fields) + " ".join(v.templates)
    for charset, _ in LEGACY_CHARSETS[lang]:
        text.encode(charset)  # strict: raises if a character is missing


# -- books, code, jsonl ---------------------------------------------------------------------


def test_books(demo_dir):
    m = json.loads((demo_dir / "manifest.json").read_text())
    for b in m["books"]:
        raw = (demo_dir / "books" / b["file"]).read_bytes()
        assert len(raw) == b["bytes"] > 10_000
        assert raw.startswith(b"\xef\xbb\xbf") == b["bom"]
        assert (b"\r\n" in raw) == b["crlf"]
        text = raw.decode("utf-8-sig")
        assert ("*** START OF THE PROJECT GUTENBERG EBOOK" in text) == b["etext_boilerplate"]
        assert ("*** END OF THE PROJECT GUTENBERG EBOOK" in text) == b["etext_boilerplate"]
    assert any(b["etext_boilerplate"] for b in m["books"]) and not all(
        b["etext_boilerplate"] for b in m["books"]
    )


def test_code_tree(demo_dir):
    code = json.loads((demo_dir / "manifest.json").read_text())["code"]
    root = demo_dir / "code"
    reasons = {s["reason"]: root / s["path"] for s in code["skip"]}
    assert {"node_modules", "vendor", "binary", "minified", "large_data"} <= set(reasons)
    assert b"\x00" in reasons["binary"].read_bytes()
    assert reasons["large_data"].stat().st_size > 1_000_000
    assert reasons["minified"].read_text().count("\n") == 1 and reasons["minified"].stat().st_size > 20_000
    skip = {root / s["path"] for s in code["skip"]}
    exts = Counter(p.suffix for p in root.rglob("*") if p.is_file() and p not in skip)
    for ext in (".py", ".js", ".ts", ".go", ".rs", ".java", ".c", ".cpp", ".sh", ".md", ".json", ".yaml"):
        assert exts[ext] >= 1, ext
    for p in root.rglob("*.py"):
        ast.parse(p.read_text())
    for d in code["duplicates"]:
        assert (root / d["path"]).read_bytes() == (root / d["dup_of"]).read_bytes()


def test_jsonl_shards(demo_dir):
    m = json.loads((demo_dir / "manifest.json").read_text())
    all_rows = []
    for shard in m["jsonl"]:
        path = demo_dir / "jsonl" / shard["file"]
        if path.name.endswith(".gz"):
            data = gzip.decompress(path.read_bytes())
        else:
            data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(path.read_bytes())).read()
        rows = [json.loads(x) for x in data.decode().splitlines()]
        assert len(rows) == shard["rows"]
        assert all(r["text"] and r["url"].startswith("https://") and "lang" in r["meta"] for r in rows)
        assert Counter(r["meta"]["planted"] for r in rows) == shard["planted"]
        all_rows += rows
    assert len(all_rows) == m["counts"]["jsonl_rows"]
    by_id = {r["id"]: r for r in all_rows}
    assert len(by_id) == len(all_rows)
    kinds = Counter()
    for r in all_rows:
        meta = r["meta"]
        kinds[meta["planted"]] += 1
        if meta["dup_of"] is None:
            assert meta["planted"] in ("unique", "short")
            continue
        src = by_id[meta["dup_of"]]
        assert src["meta"]["planted"] == "unique" and src["id"] < r["id"]
        if meta["planted"] == "exact_dup":
            assert r["text"] == src["text"] and r["url"] != src["url"]
        elif meta["planted"] == "whitespace_dup":
            assert r["text"] != src["text"] and r["text"].split() == src["text"].split()
        elif meta["planted"] == "near_dup":
            j = shingle_jaccard(r["text"], src["text"])
            assert NEAR_DUP_RANGE[0] <= j <= NEAR_DUP_RANGE[1] and j == pytest.approx(
                meta["jaccard"], abs=1e-3
            )
        else:
            assert meta["planted"] == "url_dup" and r["url"] == src["url"] and r["text"] != src["text"]
    assert set(kinds) == {"unique", "short", "exact_dup", "whitespace_dup", "near_dup", "url_dup"}
    # a boilerplate line repeated across many rows (CCNet-style line dedup)
    lines = Counter(
        x for r in all_rows if r["meta"]["boilerplate_line"] for x in r["text"].split("\n") if x.strip()
    )
    assert lines.most_common(1)[0][1] >= 3  # > 10 at scale 1


# -- sft ------------------------------------------------------------------------------------


def _turns_ok(turns, key, text, first_roles, user, assistant, extra=()) -> bool:
    if not isinstance(turns, list) or not turns:
        return False
    roles = [t.get(key) for t in turns]
    if any(not isinstance(t.get(text), str) or not t[text] for t in turns):
        return False
    body = roles[1:] if roles[0] in first_roles else roles
    body = [r for r in body if r not in extra]
    return bool(body) and all(r == (user if i % 2 == 0 else assistant) for i, r in enumerate(body))


def _valid(fmt: str, line: str) -> bool:
    try:
        row = json.loads(line)
    except ValueError:
        return False
    if fmt == "openai":
        return "messages" in row and _turns_ok(
            row["messages"], "role", "content", ("system",), "user", "assistant"
        )
    if fmt == "sharegpt":
        return "conversations" in row and _turns_ok(
            row["conversations"],
            "from",
            "value",
            ("system",),
            "human",
            "gpt",
            ("function_call", "observation"),
        )
    if fmt == "alpaca":
        hist = row.get("history", [])
        return all(isinstance(row.get(k), str) and row[k] for k in ("instruction", "output")) and isinstance(
            hist, list
        )
    ok = all(k in row for k in ("prompt", "chosen", "rejected"))
    return ok and all(
        (isinstance(row[k], str) and row[k])
        or (isinstance(row[k], list) and row[k] and all(m.get("content") for m in row[k]))
        for k in ("prompt", "chosen", "rejected")
    )


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt", "openai", "preference"])
def test_sft_invalid_rows_are_exactly_the_listed_ones(demo_dir, fmt):
    truth = json.loads((demo_dir / "sft" / "truth.json").read_text())[f"{fmt}.jsonl"]
    lines = (demo_dir / "sft" / f"{fmt}.jsonl").read_text().splitlines()
    assert len(lines) == truth["rows"]
    invalid = {i for i, line in enumerate(lines) if not _valid(fmt, line)}
    assert invalid == {x["index"] for x in truth["invalid"]}
    assert 0 < len(invalid) <= max(5, 0.02 * len(lines)) + 1
    for d in truth["duplicates"]:
        assert lines[d["index"]] == lines[d["dup_of"]] and d["dup_of"] < d["index"]
        assert d["dup_of"] not in invalid


def test_sft_task_rows_and_features(demo_dir):
    lines = (demo_dir / "sft" / "openai.jsonl").read_text().splitlines()
    task = 0
    for line in lines:
        try:
            msgs = json.loads(line)["messages"]
            q, a = msgs[0]["content"], msgs[1]["content"]
        except (ValueError, KeyError, TypeError, IndexError):
            continue
        if m := re.fullmatch(r"What is (\d+) plus (\d+)\?", q):
            assert a == f"The answer is {int(m[1]) + int(m[2])}."
            task += 1
        elif m := re.fullmatch(r"Reverse the word: (\w+)", q):
            assert a == m[1][::-1]
            task += 1
    truth = json.loads((demo_dir / "sft" / "truth.json").read_text())["openai.jsonl"]
    assert task == truth["task_rows"] > 0.2 * len(lines)
    share = (demo_dir / "sft" / "sharegpt.jsonl").read_text()
    assert '"from":"function_call"' in share and '"from":"system"' in share
    pref = [
        json.loads(x)
        for x in (demo_dir / "sft" / "preference.jsonl").read_text().splitlines()
        if _valid("preference", x)
    ]
    as_str = sum(isinstance(r["prompt"], str) for r in pref)
    assert 0.25 < as_str / len(pref) < 0.75
