"""Template audit: is ``template: hf:DIR`` exact on a real model's chat template?

For one Jinja template (a file of ``../shared/data/chat_templates``), :func:`audit_template`
builds a tokenizer the way a curate user would have one - a byte-level BPE trained by
:func:`curate.train.tokenizer.train_tokenizer`, plus the template's control tokens
(:mod:`curate.sft.markers`) and the template saved as its ``chat_template`` - and formats the
shared instruction sets with it. A row counts as *equal* when

* its ``text`` is exactly ``tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)``
  (transformers itself, on the messages as the template reads them), and
* its labels, read back independently of how the formatter built them, train one contiguous run
  per assistant turn that holds the turn's visible content (or its tool calls), ends with a single
  end-of-turn id, and no user, system or tool text is ever trained.

A template is *exact* when the formatter accepts it (the ``template_eot`` self-check passes), no
row differs, and no row is rejected because a turn could not be mapped to a mask (only rejections
that name a construct of the template itself: the template raised, or dropped a message). The
``cases.json`` conversations whose ``template_str`` is this file are rendered too and must equal
the recorded ``hf_jinja2_render``. ``bench/sft_templates.py`` runs this over every template and
writes ``docs/templates.md``.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from pathlib import Path
from typing import Any

import polars as pl

from curate.sft.markers import probe_render, template_markers
from curate.sft.selfcheck import _last_token

IGNORE = -100
SETS = (
    "alpaca_en_demo", "alpaca_zh_demo", "identity", "glaive_toolcall_en_demo", "dpo_en_demo", "kto_en_demo",
)
# Rejections that name a construct of the template (the row cannot be rendered as the user gave it);
# anything else (not_prefix_stable, content_changed, no_eot) is a failure to map the template to masks.
CONSTRUCT_REASONS = ("sft_template_error", "sft_template_drops_message", "sft_special_token_in_content",
                     "sft_template_unsupported_role", "sft_template_drops_tool_calls",
                     "sft_template_tool_call_no_eot")


@dataclasses.dataclass
class TemplateAudit:
    """One template's result (see module docstring)."""

    name: str
    refused: str | None = None  # the self-check's message when the formatter refuses the template
    rows: int = 0  # rows given to the formatter
    kept: int = 0
    equal: int = 0  # kept rows whose text and masks check out
    rejected: dict[str, int] = dataclasses.field(default_factory=dict)
    mismatches: list[str] = dataclasses.field(default_factory=list)  # first few differences, for the docs
    cases: int = 0
    cases_equal: int = 0
    per_set: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)  # set -> (equal, rows)

    @property
    def mapping_failures(self) -> dict[str, int]:
        return {r: n for r, n in self.rejected.items() if not r.split(":")[0].startswith(CONSTRUCT_REASONS)}

    @property
    def exact(self) -> bool:
        return (
            self.refused is None
            and self.equal == self.kept
            and self.kept > 0
            and not self.mapping_failures
            and self.cases_equal == self.cases
        )

    def reason(self) -> str:
        """Why the template is not exact (one line), or '' when it is."""
        if self.exact:
            return ""
        if self.refused:
            return f"refused: {self.refused}"
        if self.mapping_failures:
            top = sorted(self.mapping_failures.items(), key=lambda kv: -kv[1])[:2]
            return "rows not mapped: " + ", ".join(f"{r} ({n})" for r, n in top)
        if self.equal != self.kept:
            return f"{self.kept - self.equal} rows differ: {self.mismatches[0] if self.mismatches else ''}"
        if self.kept == 0:
            top = sorted(self.rejected.items(), key=lambda kv: -kv[1])[:2]
            return "no row renders: " + ", ".join(f"{r} ({n})" for r, n in top)
        return f"cases.json: {self.cases - self.cases_equal} of {self.cases} differ"


def base_tokenizer(out: Path, corpus: list[str], vocab_size: int = 2000) -> Path:
    """A curate-trained byte-level BPE (``curate tokenizer train``) on ``corpus``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.train.tokenizer import train_tokenizer

    out.mkdir(parents=True, exist_ok=True)
    shard = out / "corpus.parquet"
    pq.write_table(pa.table({"text": corpus}), shard)
    return train_tokenizer([shard], out / "tok", vocab_size)


def template_tokenizer(base: Path, jinja: str, out: Path):
    """``base`` plus the template's control tokens, saved with ``jinja`` as its chat template."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    special, plain = template_markers(jinja, probe_render(jinja, tok.bos_token, tok.eos_token))
    special = [t for t in special if t not in tok.get_vocab()]
    if special:
        tok.add_special_tokens({"additional_special_tokens": special}, replace_extra_special_tokens=False)
    if plain:
        tok.add_tokens([t for t in plain if t not in tok.get_vocab()])
    tok.chat_template = jinja
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(out))
    return AutoTokenizer.from_pretrained(str(out), local_files_only=True)


def normalized_sets(instruct: Path, limit: int | None) -> dict[str, pl.DataFrame]:
    """The shared LLaMA-Factory sets through ``sft_normalize`` (the first ``limit`` rows of each)."""
    from curate.sft.normalize import SFTNormalize, SFTNormalizeConfig

    out = {}
    for name in SETS:
        path = instruct / f"{name}.json"
        if not path.is_file():
            continue
        rows = json.loads(path.read_text(encoding="utf-8"))[:limit]
        frame = pl.DataFrame(rows, infer_schema_length=None)
        res = SFTNormalize(SFTNormalizeConfig(), None).process(frame)
        kept = res.kept.with_row_index("row")
        out[name] = kept.with_columns(pl.format("{}-{}", pl.lit(name), pl.col("row")).alias("id")).drop("row")
    return out


def _runs(labels: list[int]) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, lab in enumerate(labels + [IGNORE]):
        if lab != IGNORE and start is None:
            start = i
        elif lab == IGNORE and start is not None:
            runs.append((start, i))
            start = None
    return runs


def check_row(
    row: dict, tok, chat_messages: list[dict], tools, eot_ids: set[int], side: str = ""
) -> str | None:
    """None when the row is right (see module docstring), else what is wrong."""
    p = f"{side}_" if side else ""
    want = tok.apply_chat_template(chat_messages, tools=tools, tokenize=False)
    if row[f"{p}text"] != want:
        at = next((i for i, (a, b) in enumerate(zip(row[f"{p}text"], want, strict=False)) if a != b), None)
        return f"text differs from apply_chat_template at char {at}"
    ids, labels = row[f"{p}input_ids"], row[f"{p}labels"]
    if tok.decode(ids, skip_special_tokens=False) != want:
        return "ids do not decode to the text"
    runs = _runs(list(labels))
    turns = [m for m in chat_messages if m["role"] == "assistant"]
    if side:  # preference: the ranked (last) response only
        turns = turns[-1:]
    if len(runs) != len(turns):
        return f"{len(runs)} trained runs for {len(turns)} assistant turns"
    others = [m["content"].strip() for m in chat_messages if m["role"] != "assistant" and m.get("content")]
    for (a, b), m in zip(runs, turns, strict=True):
        if list(labels[a:b]) != list(ids[a:b]):
            return "labels are not the input ids"
        if ids[b - 1] not in eot_ids:
            return "a trained run does not end with an end-of-turn id"
        text = tok.decode(ids[a:b], skip_special_tokens=False)
        content = (m.get("content") or "").strip()
        if content and content not in text:
            return "a trained run lacks its turn's content"
        if not content and m.get("tool_calls"):
            name = m["tool_calls"][0]["function"]["name"]
            if name not in text:
                return "a trained tool-call run lacks the call"
        if any(len(o) > 12 and o in text for o in others):
            return "user/system/tool text is trained"
    return None


def _chat(f, messages, fields) -> list[dict]:
    """The messages as the formatter handed them to the template (what apply_chat_template gets)."""
    return [{k: v for k, v in m.items() if k[:1] != "_"} for m in f._messages(messages, fields)]


def audit_template(
    path: Path, base: Path, work: Path, sets: dict[str, pl.DataFrame], cases: list[dict] | None = None
) -> TemplateAudit:
    """Audit one template file (see module docstring)."""
    from curate.sft.format import SFTFormatConfig, SFTFormatter, _parse_tools
    from curate.sft.hf_template import parse_json

    jinja = path.read_text(encoding="utf-8")
    res = TemplateAudit(name=path.stem)
    tok_dir = work / path.stem
    tok = template_tokenizer(base, jinja, tok_dir)
    try:
        f = SFTFormatter(SFTFormatConfig.model_construct(template=f"hf:{tok_dir}", max_len=1_000_000))
        f.setup()
    except Exception as e:  # the self-check (or the template failing on a plain conversation)
        res.refused = str(e)[:300]
        return res
    eot_ids = {tok.convert_tokens_to_ids(_last_token(t, tok)) for t in f.template.eot}
    reasons: collections.Counter = collections.Counter()
    for name, frame in sets.items():
        out = f.process(frame)
        res.rows += frame.height
        if out.dropped is not None:
            reasons.update(out.dropped["reason"].to_list())
        equal = 0
        for row in out.kept.iter_rows(named=True):
            tools = _parse_tools(row.get("tools"))
            sides = ["chosen", "rejected"] if row.get("sft_kind") == "preference" else [""]
            problem = None
            for side in sides:
                msgs = row[f"{side}_messages" if side else "messages"]
                fields = None if side else parse_json(row.get("message_fields"))
                problem = problem or check_row(row, tok, _chat(f, msgs, fields), tools, eot_ids, side)
            res.kept += 1
            if problem is None:
                equal += 1
            elif len(res.mismatches) < 3:
                res.mismatches.append(f"{row.get('id')}: {problem}")
        res.equal += equal
        res.per_set[name] = (equal, frame.height)
    res.rejected = dict(reasons)
    for case in cases or []:
        if case["template_str"].strip() == jinja.strip():
            res.cases += 1
            res.cases_equal += _case_ok(case, f, tok, eot_ids)
    return res


def _case_ok(case: dict, f, tok, eot_ids) -> bool:
    """The recorded HF rendering of llama.cpp's conversation, and that conversation as a training row."""
    from transformers.utils.chat_template_utils import render_jinja_template

    conv = cases_conversation(case)
    try:
        text = render_jinja_template(
            [conv], chat_template=case["template_str"], add_generation_prompt=True,
            bos_token=case["bos_token"], eos_token=case["eos_token"],
        )[0][0]
    except Exception:
        return case["hf_jinja2_render"] is None
    if text != case["hf_jinja2_render"]:
        return False
    last = max(i for i, m in enumerate(conv) if m["role"] == "assistant")
    train = [dict(m) for m in conv[: last + 1]]
    out = f.process(pl.DataFrame({"id": ["case"], "messages": [train]}))
    if out.kept.height != 1:  # a construct of the template (e.g. Nemo drops a training system prompt)
        return out.dropped is not None and out.dropped["reason"][0].startswith(CONSTRUCT_REASONS)
    return check_row(out.kept.row(0, named=True), tok, _chat(f, train, None), None, eot_ids) is None


_CASES_CONV: list[dict] = []


def cases_conversation(case: dict) -> list[dict]:
    """llama.cpp's reference conversation plus the case's extra turns."""
    return [*_CASES_CONV, *case.get("extra_conversation", [])]


def load_cases(path: Path) -> list[dict]:
    """``cases.json``'s cases (and its shared conversation, kept for :func:`cases_conversation`)."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    _CASES_CONV[:] = data["conversation"]
    return data["cases"]
