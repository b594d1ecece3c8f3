"""Sample rows for the run report: read a few rows cheaply and safely, and render them as HTML.

A row is shown as what it is: a document's text; an SFT conversation turn by turn; a preference
pair with its prompt above and the chosen and rejected answers side by side; packed token rows
decoded with the run's tokenizer (or as ids, with a note saying why, when it cannot be loaded).
Every string is cut to ``SNIPPET_CHARS`` while still in Arrow (100 MB lines and million-turn lists
exist in rejected rows) and HTML-escaped, with control characters replaced, before it is written.
"""

from __future__ import annotations

import math
import random
import re
from html import escape
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SNIPPET_CHARS = 600
MAX_TURNS = 24  # turns shown per conversation
MAX_IDS = 2048  # token ids read per row (enough for a SNIPPET_CHARS-long decoded snippet)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SAMPLE_COLUMNS = (
    "id",
    "source",
    "lang",
    "reason",
    "stage",
    "text",
    "raw",
    "detail",
    "url",
    "html",
    "sft_kind",
    "prompt",
    "messages",
    "chosen_messages",
    "rejected_messages",
    "chosen",
    "rejected",
    "input_ids",
    *(
        RAW_FIELDS := (
            "system",
            "instruction",
            "input",
            "output",
            "context",
            "response",
            "conversations",
            "history",
        )
    ),
)


def _clip(arr: pa.Array) -> pa.Array:
    """``arr`` with every string cut to SNIPPET_CHARS + 1 and every list to its first few items."""
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.utf8_slice_codeunits(arr, 0, SNIPPET_CHARS + 1)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        is_ids = pa.types.is_integer(t.value_type)
        sliced = pc.list_slice(arr, 0, MAX_IDS if is_ids else MAX_TURNS)
        if is_ids:
            return sliced
        cls = pa.ListArray if pa.types.is_list(sliced.type) else pa.LargeListArray
        return cls.from_arrays(sliced.offsets, _clip(sliced.values), mask=sliced.is_null())
    if pa.types.is_struct(t):
        fields = [_clip(arr.field(i)) for i in range(t.num_fields)]
        return pa.StructArray.from_arrays(fields, fields=list(t), mask=arr.is_null())
    return arr


def read_head(f: Path, rows: int) -> list[dict]:
    """The first ``rows`` rows of a Parquet file, only the columns a sample shows, every value cut short."""
    try:
        pf = pq.ParquetFile(f)
    except (OSError, pa.ArrowInvalid):
        return []
    cols = [c for c in SAMPLE_COLUMNS if c in pf.schema_arrow.names]
    out: list[dict] = []
    for batch in pf.iter_batches(columns=cols, batch_size=min(rows, 4096)):
        # cut long values before they become Python objects
        arrays = [_clip(c) for c in batch.columns]
        out += pa.Table.from_arrays(arrays, names=batch.schema.names).to_pylist()
        if len(out) >= rows:
            break
    return out[:rows]


def sample_rows(files: list[Path], n: int) -> list[dict]:
    """``n`` kept rows from the output: a few files picked with a fixed seed, then rows within them."""
    if not files:
        return []
    rng = random.Random(0)
    picks = sorted(rng.sample(range(len(files)), min(len(files), n)))
    rows: list[dict] = []
    per = math.ceil(n / len(picks))
    for i in picks:
        head = read_head(files[i], 200)
        rows += rng.sample(head, min(per, len(head)))
    return rows[:n]


def reject_samples(files: list[Path], n: int, scan_rows: int = 20_000) -> dict[str, list[dict]]:
    """Up to ``n`` rejected rows per reason, from the first ``scan_rows`` rows of a rejects folder."""
    by: dict[str, list[dict]] = {}
    seen = 0
    for f in files:
        for r in read_head(f, 4096):
            seen += 1
            lst = by.setdefault(str(r.get("reason")), [])
            if len(lst) < n:
                lst.append(r)
        if seen >= scan_rows:
            break
    return by


def snip(s: Any) -> str:
    """``s`` as safe HTML: control characters replaced, cut to SNIPPET_CHARS (marked), escaped."""
    s = _CONTROL.sub("\N{REPLACEMENT CHARACTER}", str(s))
    cut = len(s) > SNIPPET_CHARS
    return escape(s[:SNIPPET_CHARS]) + ('<span class="cut">…</span>' if cut else "")


# --------------------------------------------------------------------------- token ids


def run_tokenizer(config: dict) -> str | None:
    """The tokenizer the run's ``format`` stage named (manifest config), if any."""
    for st in config.get("stages") or []:
        if isinstance(st, dict) and st.get("stage") == "format" and (st.get("config") or {}).get("tokenizer"):
            return str(st["config"]["tokenizer"])
    return None


def _load_tokenizer(p: Path) -> Any:
    """A local tokenizer with ``decode(ids)``: a tokenizer.json through ``tokenizers``, else the folder
    through ``transformers`` (offline). Imported here, on first use: most reports decode nothing."""
    file = p if p.is_file() else p / "tokenizer.json"
    if file.is_file():
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(file))
    if not p.is_dir():
        raise FileNotFoundError(f"no such folder or tokenizer.json: {p}")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(p), local_files_only=True)


class TokenDecoder:
    """Decodes sample token ids with the run's tokenizer, loaded on first use; ``note`` says what the
    samples show (decoded text, or ids and why)."""

    def __init__(self, path: str | None, base: Path | None = None):
        self.path, self.base = path, base
        self._tok: Any = None
        self.error: str | None = None if path else "no tokenizer is named in the run's config"

    def _load(self) -> Any:
        if self._tok is None and self.error is None:
            tried = [Path(self.path).expanduser()]
            if self.base is not None and not tried[0].is_absolute():
                tried.append(self.base / tried[0])
            for p in tried:
                try:
                    self._tok = _load_tokenizer(p)
                    break
                except Exception as e:  # any failure to load means "show ids", never a failed report
                    self.error = f"tokenizer {self.path} could not be loaded ({type(e).__name__}: {e})"
            else:
                return None
            self.error = None
        return self._tok

    def decode(self, ids: list[int]) -> str | None:
        """The text of ``ids``, or None when there is no usable tokenizer."""
        tok = self._load()
        if tok is None:
            return None
        try:
            return tok.decode([int(i) for i in ids], skip_special_tokens=False)
        except Exception as e:  # ids out of this tokenizer's range: it is not the run's tokenizer
            self.error = f"tokenizer {self.path} could not decode the ids ({type(e).__name__}: {e})"
            return None

    @property
    def note(self) -> str:
        if self.error:
            return f"Token rows are shown as ids: {self.error}."
        return f"Token rows are decoded with the run's tokenizer ({self.path})."


# --------------------------------------------------------------------------- rendering


def _turns(messages: list[dict] | None) -> str:
    """A conversation as role-labelled turns."""
    if not messages:
        return ""
    if not isinstance(messages, list):  # a raw `messages` string of a row sft_normalize rejected
        return snip(messages)
    return "".join(
        f'<div class="turn"><span class="role">{escape(str(m.get("role")))}</span> '
        f"{snip(m.get('content') or '')}</div>"
        if isinstance(m, dict)
        else f'<div class="turn">{snip(m)}</div>'
        for m in messages
    )


def _pair(r: dict) -> str | None:
    """A preference pair: the shared prompt, then chosen | rejected side by side; None if not a pair."""
    cm, rm = r.get("chosen_messages"), r.get("rejected_messages")
    if cm is not None or rm is not None:
        cm, rm = cm or [], rm or []
        shared = 0  # the prompt turns both sides share; only what follows differs
        while shared < min(len(cm), len(rm)) and cm[shared] == rm[shared]:
            shared += 1
        prompt = _turns(cm[:shared]) or snip(r.get("prompt") or "")
        left, right = _turns(cm[shared:]), _turns(rm[shared:])
    elif isinstance(r.get("chosen"), str) or isinstance(
        r.get("rejected"), str
    ):  # raw rows (rejects of sft_normalize)
        prompt = snip(r.get("prompt") or "")
        left, right = snip(r.get("chosen") or ""), snip(r.get("rejected") or "")
    else:
        return None
    return (
        (f'<div class="prompt"><span class="role">prompt</span> {prompt}</div>' if prompt else "")
        + '<div class="pair">'
        f'<div class="side chosen"><div class="k">chosen</div>{left}</div>'
        f'<div class="side rejected"><div class="k">rejected</div>{right}</div></div>'
    )


def _body(r: dict, decoder: TokenDecoder | None) -> str:
    pair = _pair(r)
    if pair is not None:
        return pair
    if isinstance(r.get("messages"), list) and r["messages"]:
        return f'<div class="text">{_turns(r["messages"])}</div>'
    text = next((r[k] for k in ("text", "raw", "html") if r.get(k)), "")
    if not text and r.get("input_ids") is not None:
        ids = r["input_ids"]
        decoded = decoder.decode(ids) if decoder is not None else None
        if decoded is not None:
            return f'<div class="text decoded">{snip(decoded)}</div>'
        shown = " ".join(str(i) for i in ids[:200]) + (" …" if len(ids) > 200 else "")
        return f'<div class="text ids">{escape(shown)}</div>'
    if not text:  # a record rejected before it was normalized: show the fields it had
        fields = [(k, r[k]) for k in ("prompt", "messages", *RAW_FIELDS) if r.get(k) not in (None, "")]
        if fields:
            return "".join(
                f'<div class="turn"><span class="role">{escape(k)}</span> {snip(v)}</div>' for k, v in fields
            )
    return f'<div class="text">{snip(text)}</div>'


def doc_list(rows: list[dict], decoder: TokenDecoder | None = None) -> str:
    """Sample rows as HTML blocks: id and metadata, then the row's content as what it is."""
    items = []
    for r in rows:
        meta = " · ".join(
            escape(f"{k}={r[k]}") for k in ("source", "lang", "detail") if r.get(k) not in (None, "")
        )
        items.append(
            f'<div class="doc"><div class="id"><code>{escape(str(r.get("id")))}</code> {meta}</div>'
            f"{_body(r, decoder)}</div>"
        )
    return "".join(items)
