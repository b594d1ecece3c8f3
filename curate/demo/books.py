"""Book-length plain texts: chapters with headings, long paragraphs, a few languages.

About a third carry an e-text-library header and footer around ``*** START OF ...`` / ``*** END
OF ...`` marker lines (the markers real Project Gutenberg files use, so strippers can be tested;
the surrounding licence prose is our own wording). Those are hard-wrapped at 70 columns like
e-texts; one book uses CRLF line endings and one starts with a UTF-8 byte-order mark.
"""

from __future__ import annotations

import random
from pathlib import Path

from curate.demo.prose import person_name, prose

BOOKS_AT_SCALE_1 = 20
BOOK_LANGS = {"en": 0.5, "de": 0.15, "fr": 0.15, "es": 0.1, "ru": 0.05, "zh": 0.05}
LANG_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "ru": "Russian",
    "zh": "Chinese",
}
ROMAN = [
    "I",
    "II",
    "III",
    "IV",
    "V",
    "VI",
    "VII",
    "VIII",
    "IX",
    "X",
    "XI",
    "XII",
    "XIII",
    "XIV",
    "XV",
    "XVI",
    "XVII",
    "XVIII",
    "XIX",
    "XX",
]

HEADER = """The Open Shelf e-text of {title}, by {author}

This e-text is free for anyone, anywhere, to read, copy and share at no
cost and with almost no conditions attached. The terms that come with it
are printed at the end of this file. If you are outside the region where
this text is out of copyright, check the rules of your own country before
you pass it on.

Title: {title}
Author: {author}
Release date: {date} [e-text #{number}]
Language: {language}
Character set encoding: UTF-8

Produced by the volunteers of the Open Shelf reading room.

*** START OF THE PROJECT GUTENBERG EBOOK {upper} ***
"""

FOOTER = """
*** END OF THE PROJECT GUTENBERG EBOOK {upper} ***

Updated editions will replace earlier ones, and the earlier files will be
renamed.

THE TERMS OF THE OPEN SHELF

Section 1. You may copy this e-text, give it away, or re-use it, as long
as this notice stays with every copy you make and you do not charge for
the text itself.

Section 2. The volunteers who prepared this file did their best to keep
it accurate, but they offer it as it is, without any promise that it is
free of mistakes, and they are not responsible for any damage that comes
from using it.

Section 3. Donations keep the reading room open. See the web site of the
Open Shelf for how to help.
"""


def wrap(text: str, width: int = 70) -> str:
    """Greedy word wrap (faster than textwrap for megabytes of prose)."""
    lines, cur, n = [], [], 0
    for w in text.split(" "):
        if cur and n + 1 + len(w) > width:
            lines.append(" ".join(cur))
            cur, n = [w], len(w)
        else:
            n += len(w) + (1 if cur else 0)
            cur.append(w)
    if cur:
        lines.append(" ".join(cur))
    return "\n".join(lines)


def chapter_heading(lang: str, n: int, title: str, rng: random.Random) -> str:
    """A chapter heading in the book's language and one of a few common styles."""
    word = prose(lang).vocab.chapter
    if "{n}" in word:
        return word.format(n=n) + "　" + title
    if lang == "en" and rng.random() < 0.5:
        return f"CHAPTER {ROMAN[(n - 1) % len(ROMAN)]}.\n\n{title.upper()}"
    return f"{word} {n}. {title}"


def make_book(i: int, seed: int) -> tuple[str, dict]:
    """The text of book ``i`` and its truth row."""
    rng = random.Random(f"book:{seed}:{i}")
    lang = "en" if i == 0 else rng.choices(list(BOOK_LANGS), weights=list(BOOK_LANGS.values()))[0]
    p = prose(lang, seed)
    title, author = p.title(rng), person_name(rng)
    e_text = i % 3 == 1
    sep = "" if lang == "zh" else " "
    parts = [f"{title}\n\n{'by ' if lang == 'en' else ''}{author}\n\n"]
    n_chapters = rng.randint(5, 10)
    for c in range(1, n_chapters + 1):
        parts.append("\n\n" + chapter_heading(lang, c, p.title(rng), rng) + "\n\n")
        paras = []
        for _ in range(rng.randint(5, 9)):
            para = sep.join(rng.sample(p.sentences, rng.randint(5, 12)))
            paras.append(wrap(para) if e_text and lang != "zh" else para)
        parts.append("\n\n".join(paras) + "\n")
    body = "".join(parts)
    if e_text:
        fields = dict(
            title=title,
            author=author,
            upper=title.upper(),
            date=f"March {rng.randint(1, 28)}, {rng.randint(1998, 2023)}",
            number=rng.randint(1000, 70000),
            language=LANG_NAMES[lang],
        )
        body = HEADER.format(**fields) + "\n\n" + body + FOOTER.format(**fields)
    crlf, bom = i == 2, i == 3
    if crlf:
        body = body.replace("\n", "\r\n")
    if bom:
        body = "\ufeff" + body
    name = f"book-{i:05d}-{lang}.txt"
    truth = dict(
        file=name,
        lang=lang,
        title=title,
        author=author,
        chapters=n_chapters,
        etext_boilerplate=e_text,
        crlf=crlf,
        bom=bom,
    )
    return body, truth


BOOKS_PER_TASK = 50


def plan(out: Path, scale: float, seed: int) -> list[tuple[Path, int, int, int]]:
    """Tasks of up to BOOKS_PER_TASK books: (dir, first, stop, seed)."""
    n = max(4, round(BOOKS_AT_SCALE_1 * scale))
    return [(out, i, min(n, i + BOOKS_PER_TASK), seed) for i in range(0, n, BOOKS_PER_TASK)]


def write_books(out: Path, first: int, stop: int, seed: int) -> list[dict]:
    """Task: write books ``first..stop-1`` to ``DIR/books``; returns one truth row per book."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(first, stop):
        text, truth = make_book(i, seed)
        data = text.encode("utf-8")
        (out / truth["file"]).write_bytes(data)
        truth["bytes"] = len(data)
        rows.append(truth)
    return rows
