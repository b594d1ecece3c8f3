"""Table rows of extracted text as plain lines.

trafilatura renders every HTML table row as ``| cell | cell |`` (2.x also pads empty cells:
``|  | text |  |``). Layout tables, common on older sites, hold whole articles in such cells, and
the pipes and empty cells then read as symbol-only "words" and unpunctuated lines to every later
rule (Gopher's alphabetic-word ratio, C4/FineWeb's line punctuation), so good pages are dropped
for their markup. `plain_table_rows` keeps each row's non-empty cells, tab-separated, and drops
rows with no text and markdown separator rows (``|---|---|``).
"""

from __future__ import annotations

import re

_SEPARATOR_CELL = re.compile(r"^:?-{2,}:?$")


def _is_row(line: str) -> bool:
    s = line.strip()
    return s.startswith("|") or s.endswith("|")


def plain_row(line: str) -> str:
    """One table row -> its non-empty cells joined by a tab ('' when none carry text)."""
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return "\t".join(c for c in cells if c and not _SEPARATOR_CELL.match(c))


def plain_table_rows(text: str) -> str:
    """Rewrite trafilatura's table rows as plain lines; other lines are untouched."""
    if "|" not in text:
        return text
    out = []
    for line in text.split("\n"):
        if _is_row(line):
            line = plain_row(line)
            if not line:
                continue
        out.append(line)
    return "\n".join(out)
