"""HTML pages for the demo crawl: sites with boilerplate, good articles and the bad kinds filters drop.

A page's *article* is a list of text blocks (``h2`` headings and ``p`` paragraphs) inside the
element with class ``article-body``; everything else (header, nav, cookie banner, sidebar, share
links, footer) is boilerplate an extractor should remove. Duplicate ground truth is defined on the
article blocks (see :mod:`curate.demo.duplicates`).
"""

from __future__ import annotations

import dataclasses
import functools
import html
import random

from curate.demo.prose import Prose, capitalize, lorem, person_name, prose

_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "ta",
    "vo",
    "zen",
    "bri",
    "cor",
    "dal",
    "fen",
    "gor",
    "hal",
    "jun",
    "kel",
    "mar",
    "nor",
    "pil",
    "qua",
    "ros",
    "sel",
    "tur",
    "vel",
    "wen",
]
_TLDS = {
    "en": ("com", "org", "net", "co.uk"),
    "de": ("de", "at"),
    "fr": ("fr", "be"),
    "es": ("es", "mx"),
    "ru": ("ru", "su"),
    "zh": ("cn", "com.cn"),
}
_SECTIONS = ("news", "world", "culture", "science", "travel", "opinion", "local", "blog")


@dataclasses.dataclass
class Site:
    """One web site: its domain, language and boilerplate style."""

    domain: str
    lang: str
    name: str
    layout: int  # 0: semantic HTML5 tags, 1: div soup with class names
    cookie_banner: bool
    sidebar: bool


def make_site(rng: random.Random, lang: str) -> Site:
    """A new site with an ASCII domain built from syllables."""
    stem = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
    domain = f"www.{stem}{rng.choice(('', '-news', '-blog', '-times', '-info'))}.{rng.choice(_TLDS[lang])}"
    return Site(domain, lang, stem.capitalize(), rng.randint(0, 1), rng.random() < 0.6, rng.random() < 0.7)


def slug(rng: random.Random) -> str:
    """An ASCII URL slug."""
    syl = rng.choices(_SYLLABLES, k=2 * rng.randint(2, 4))
    return "-".join(a + b for a, b in zip(syl[::2], syl[1::2], strict=True))


def make_path(rng: random.Random, n: int) -> str:
    """A plausible article path, unique through ``n``."""
    return f"/{rng.choice(_SECTIONS)}/{rng.randint(2019, 2024)}/{slug(rng)}-{n}.html"


@dataclasses.dataclass
class Article:
    """The main content of a page."""

    title: str
    blocks: list[tuple[str, str]]  # (tag, text) with tag in {"h2", "p"}
    byline: str = ""

    @property
    def text(self) -> str:
        return "\n".join(t for _, t in self.blocks)


def good_article(p: Prose, rng: random.Random) -> Article:
    """A news-style article: 5-9 paragraphs, sometimes with sub-headings."""
    n = rng.randint(5, 9)
    paras = p.paragraphs(rng, n, 4, 7)
    blocks: list[tuple[str, str]] = []
    for i, para in enumerate(paras):
        if i in (2, 5) and rng.random() < 0.5:
            blocks.append(("h2", p.title(rng)))
        blocks.append(("p", para))
    date = f"{rng.randint(2019, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return Article(p.title(rng), blocks, f"{person_name(rng)} | {date}")


def _ul(items: list[str], cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<ul{c}>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _links(labels: list[str], prefix: str = "/") -> list[str]:
    return [f'<a href="{prefix}{i}">{html.escape(lab)}</a>' for i, lab in enumerate(labels)]


@functools.lru_cache(maxsize=16)
def _chrome(lang: str) -> dict[str, object]:
    """A language's static boilerplate, rendered once: nav, footer links, cookie banner, teasers."""
    p = prose(lang)
    v = p.vocab
    rng = random.Random(f"chrome:{lang}")
    titles = [html.escape(p.title(rng)) for _ in range(500)]
    return {
        "nav": _ul(_links(p.nav), "menu"),
        "foot_links": _ul(_links(p.footer, "/legal/"), "footer-links"),
        "rights": html.escape(v.rights),
        "cookie": f'<div id="cookie-banner" class="cookie-consent"><p>{html.escape(v.cookie)}</p>'
        f'<button type="button">{html.escape(v.cookie_button)}</button></div>',
        "popular": f"<h3>{html.escape(v.popular)}</h3>",
        "titles": titles,
    }


def render(
    site: Site,
    title: str,
    main: str,
    rng: random.Random,
    meta_charset: str | None,
    description: str = "",
    head_extra: str = "",
) -> str:
    """Wrap ``main`` (HTML) in the site's boilerplate."""
    c = _chrome(site.lang)
    nav = c["nav"]
    year = rng.randint(2019, 2024)
    footer = (
        f'<p class="copyright">&copy; {year} {html.escape(site.name)}. {c["rights"]}</p>{c["foot_links"]}'
    )
    cookie = c["cookie"] if site.cookie_banner else ""
    sidebar = ""
    if site.sidebar:
        teasers = rng.sample(c["titles"], 5)  # type: ignore[arg-type]
        links = "".join(f'<li><a href="/article/{rng.randint(1, 99999)}">{t}</a></li>' for t in teasers)
        sidebar = f'{c["popular"]}<ul class="popular">{links}</ul>'
    head = ["<!DOCTYPE html>", f'<html lang="{site.lang}">', "<head>"]
    if meta_charset:
        if rng.random() < 0.5:
            head.append(f'<meta charset="{meta_charset}">')
        else:
            head.append(f'<meta http-equiv="Content-Type" content="text/html; charset={meta_charset}">')
    head.append(f"<title>{html.escape(title)} - {html.escape(site.name)}</title>")
    if description:
        head.append(f'<meta name="description" content="{html.escape(description)}">')
    if head_extra:
        head.append(head_extra)
    head.append('<meta name="viewport" content="width=device-width, initial-scale=1">')
    head.append('<link rel="stylesheet" href="/static/site.css">')
    head.append("</head>")
    if site.layout == 0:
        body = (
            '<body><header class="site-header"><div class="logo"><a '
            f'href="/">{html.escape(site.name)}</a></div>'
            f"<nav>{nav}</nav></header>{cookie}<main>{main}"
            + (f'<aside class="sidebar">{sidebar}</aside>' if sidebar else "")
            + f"</main><footer>{footer}</footer>"
        )
    else:
        body = (
            f'<body><div id="header"><div class="brand">{html.escape(site.name)}</div>'
            f'<div class="navigation">{nav}</div></div>{cookie}<div id="wrapper"><div '
            f'class="content">{main}</div>'
            + (f'<div class="widget-area sidebar">{sidebar}</div>' if sidebar else "")
            + f'</div><div id="footer" class="site-footer">{footer}</div>'
        )
    body += '<script src="/static/analytics.js"></script></body></html>\n'
    return "\n".join(head) + "\n" + body


def article_head(a: Article, url: str, canonical: str | None = None) -> str:
    """Metadata tags of an article page (what trafilatura's ``with_metadata`` reads)."""
    author, _, date = a.byline.partition(" | ")
    tags = [
        f'<meta property="og:title" content="{html.escape(a.title)}">',
        f'<meta name="author" content="{html.escape(author)}">',
        f'<meta property="article:published_time" content="{date}">',
        f'<link rel="canonical" href="{html.escape(canonical or url)}">',
    ]
    return "\n".join(tags)


def article_html(a: Article, site: Site, rng: random.Random) -> str:
    """The main column for an article: title, byline, blocks, share links."""
    parts = [f'<div class="article-body"><h1>{html.escape(a.title)}</h1>']
    if a.byline:
        parts.append(f'<div class="byline">{html.escape(a.byline)}</div>')
    for tag, text in a.blocks:
        parts.append(f"<{tag}>{html.escape(text, quote=False)}</{tag}>")
    parts.append("</div>")
    share = '<div class="share"><a href="#">Facebook</a> <a href="#">X</a> <a href="#">E-Mail</a></div>'
    inner = "".join(parts) + share
    return f"<article>{inner}</article>" if site.layout == 0 else f'<div class="post">{inner}</div>'


# -- the bad kinds ---------------------------------------------------------------------------


def spam_main(p: Prose, rng: random.Random) -> tuple[str, str]:
    """Keyword stuffing: a handful of keywords repeated hundreds of times."""
    keys = rng.sample(p.commerce, 3) + p.content_words(rng, 2)
    title = " ".join(keys).title()
    slogan = " ".join(keys) + "!"
    lines = []
    for _ in range(rng.randint(8, 15)):
        if rng.random() < 0.4:  # the same slogan line again and again (Gopher's duplicate-line rules)
            lines.append(slogan)
        else:  # keyword salad
            lines.append(" ".join(rng.choice(keys) for _ in range(rng.randint(15, 30))))
    links = _ul(_links([" ".join(rng.sample(keys, 3)) for _ in range(20)], "/go/"))
    main = (
        f'<div class="article-body"><h1>{html.escape(title)}</h1>'
        + "".join(f"<p>{html.escape(x)}</p>" for x in lines)
        + links
        + "</div>"
    )
    return title, main


def short_main(p: Prose, rng: random.Random) -> tuple[str, str]:
    """A page whose only content is one or two sentences."""
    title = p.title(rng)
    text = p.paragraph(rng, 1, 2)
    return title, f'<div class="article-body"><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></div>'


def lorem_main(p: Prose, rng: random.Random) -> tuple[str, str]:
    """An unfinished template page full of placeholder Latin."""
    title = "Lorem ipsum dolor sit amet"
    paras = "".join(f"<p>{lorem(rng, rng.randint(40, 90))}</p>" for _ in range(rng.randint(3, 6)))
    return title, f'<div class="article-body"><h1>{title}</h1>{paras}</div>'


def js_main(p: Prose, rng: random.Random) -> tuple[str, str]:
    """A single-page-app shell: no content without JavaScript."""
    title = p.title(rng)
    main = (
        f"<noscript><p>{html.escape(p.vocab.js_notice)}</p></noscript>"
        f'<div id="root" data-page="{rng.randint(1000, 9999)}"></div>'
        '<script>window.__STATE__={"page":1,"items":[]};function boot(){var '
        'r=document.getElementById("root");'
        'r.innerHTML="<p>Loading...</p>";}boot();</script>'
        f"<p>{html.escape(p.vocab.js_notice)}</p>"
    )
    return title, main


def link_farm_main(p: Prose, rng: random.Random) -> tuple[str, str]:
    """A directory page that is nothing but links."""
    title = capitalize(" ".join(p.content_words(rng, 3)))
    anchors = [" ".join(p.content_words(rng, rng.randint(2, 4))) for _ in range(rng.randint(60, 150))]
    return (
        title,
        f'<div class="article-body"><h1>{html.escape(title)}</h1>{_ul(_links(anchors, "/link/"), "links")}'
        '</div>',
    )


def bullets_main(p: Prose, rng: random.Random) -> tuple[str, str]:
    """A page of bullet fragments without sentences."""
    title = p.title(rng)
    items = [
        html.escape(" ".join(p.content_words(rng, rng.randint(3, 7)))) for _ in range(rng.randint(25, 50))
    ]
    return title, f'<div class="article-body"><h1>{html.escape(title)}</h1>{_ul(items)}</div>'


def symbols_main(p: Prose, rng: random.Random) -> tuple[str, str]:
    """Social-media style text drowning in hashtags and ellipses."""
    title = p.title(rng)
    paras = []
    for _ in range(rng.randint(4, 7)):
        words = []
        for s in rng.sample(p.sentences, 3):
            words.extend(s.split() if p.vocab.spaced else [s])
            words.extend(f"#{w}" for w in p.content_words(rng, rng.randint(3, 6)))
            words.append("...")
        paras.append(" ".join(words))
    body = "".join(f"<p>{html.escape(x)}</p>" for x in paras)
    return title, f'<div class="article-body"><h1>{html.escape(title)}</h1>{body}</div>'


def boilerplate_main(p: Prose, rng: random.Random) -> tuple[str, str]:
    """A section front: teaser links and "read more", no article."""
    title = capitalize(rng.choice(p.nav))
    teasers = "".join(
        f'<div class="teaser"><a href="/a/{i}">{html.escape(p.title(rng))}</a> '
        f'<a class="more" href="/a/{i}">{html.escape(p.vocab.read_more)}</a></div>'
        for i in range(rng.randint(8, 15))
    )
    return title, f"<h1>{html.escape(title)}</h1>{teasers}"


BAD_KINDS = {
    "spam": spam_main,
    "short": short_main,
    "lorem": lorem_main,
    "js_required": js_main,
    "link_farm": link_farm_main,
    "bullets": bullets_main,
    "symbols": symbols_main,
    "boilerplate": boilerplate_main,
}


def not_found_html(lang: str) -> str:
    """A small 404 page."""
    msg = html.escape(prose(lang).vocab.not_found)
    return (f'<!DOCTYPE html><html lang="{lang}"><head><title>404 '
            f'{msg}</title></head><body><h1>404</h1><p>{msg}</p></body></html>\n')
