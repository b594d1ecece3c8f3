"""URL block lists: domains, URL substrings and banned words, from the user's own local files.

Nothing is downloaded. ``filters/data/example_blocked_domains.txt``,
``example_blocked_url_substrings.txt`` and ``example_banned_url_words.txt`` are a small example of
the three files (our own made-up entries) to copy and extend. File format: one entry per line, ``#`` comments.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import polars as pl
from pydantic import Field

from curate.engine.registry import register
from curate.engine.stage import Filter, Rule, StageConfig

EXAMPLE_FILES = {
    "domains": "example_blocked_domains.txt",
    "url_substrings": "example_blocked_url_substrings.txt",
    "banned_words": "example_banned_url_words.txt",
}


def example_file(kind: str) -> Path:
    """A shipped example block list: ``domains``, ``url_substrings`` or ``banned_words``."""
    return Path(str(resources.files("curate.filters").joinpath("data", EXAMPLE_FILES[kind])))


def read_list(path: str | Path | None) -> list[str]:
    """Entries of a block-list file: one per line, stripped, lower-cased; blank and ``#`` lines skipped."""
    if path is None:
        return []
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"block list {p} does not exist")
    out = []
    for line in p.read_text("utf-8").splitlines():
        line = line.split("#", 1)[0].strip().lower()
        if line:
            out.append(line)
    return out


_HOST = r"^[a-z][a-z0-9+.-]*://(?:[^/@?#]*@)?([^/:?#]+)"


@register("url_filter")
class UrlFilter(Filter):
    """Drop documents whose URL is on a block list.

    Reasons: ``url_blocked_domain`` (the host or any parent domain is listed: ``example.com``
    blocks ``a.example.com``), ``url_blocked_substring`` (a listed string occurs in the URL),
    ``url_banned_word`` (a listed word occurs as a whole token of the URL: host labels and path
    segments split on non-alphanumerics). Rows without a URL pass.
    """

    class Config(StageConfig):
        domains: str | None = Field(None, description="File of blocked domains (one per line).")
        url_substrings: str | None = Field(None, description="File of blocked URL substrings.")
        banned_words: str | None = Field(
            None, description="File of banned words matched as whole URL tokens."
        )
        use_example_lists: bool = Field(
            False, description="Use the small shipped example lists where no file is given."
        )

    def setup(self) -> None:
        c = self.config

        def pick(given, kind):
            return given if given is not None or not c.use_example_lists else example_file(kind)

        self.domains = set(read_list(pick(c.domains, "domains")))
        self.substrings = read_list(pick(c.url_substrings, "url_substrings"))
        self.words = set(read_list(pick(c.banned_words, "banned_words")))

    def rules(self, df: pl.DataFrame) -> list[Rule]:
        if "url" not in df.columns:
            return []
        url = pl.col("url").str.to_lowercase()
        host = url.str.extract(_HOST, 1).str.strip_chars_end(".")
        rules = []
        if self.domains:
            # the host or a parent domain: a.example.com ends with .example.com
            domains = sorted(self.domains)
            hit = pl.lit(False)
            for chunk in range(0, len(domains), 2000):
                part = domains[chunk : chunk + 2000]
                pattern = r"(?:^|\.)(?:" + "|".join(re.escape(d) for d in part) + r")$"
                hit = hit | host.str.contains(pattern)
            rules.append(Rule("url_blocked_domain", ~hit))
        if self.substrings:
            rules.append(Rule("url_blocked_substring", ~url.str.contains_any(self.substrings)))
        if self.words:
            tokens = url.str.extract_all(r"[a-z0-9]+")
            rules.append(
                Rule("url_banned_word", ~tokens.list.eval(pl.element().is_in(sorted(self.words))).list.any())
            )
        return rules
