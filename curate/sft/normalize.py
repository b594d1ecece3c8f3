"""``sft_normalize``: Alpaca, Dolly, ShareGPT, OpenAI ``messages`` and preference pairs -> one canonical form.

Formats (``format: auto`` decides per row from the columns that are set; ``sft_format`` names the
one used and the stage counts rows per format in stats as ``sft_format_<name>``):

* ``alpaca`` - ``instruction`` / ``input`` / ``output`` (+ ``history``, ``system``);
* ``dolly`` - ``instruction`` / ``context`` / ``response`` (databricks-dolly-15k; ``context`` is
  joined to the instruction like Alpaca's ``input``);
* ``sharegpt`` - ``conversations`` of ``{from, value}``; ``openai`` - ``messages`` of ``{role, content}``;
* ``preference`` - ``prompt`` (or a conversation) + ``chosen`` / ``rejected`` (strings, one
  message, or message lists; full conversations without a prompt share their common prefix);
* ``hh_rlhf`` - Anthropic HH-RLHF: ``chosen`` / ``rejected`` are whole transcripts
  (``\n\nHuman: ...\n\nAssistant: ...``). The prompt is everything up to the last
  ``\n\nAssistant:`` boundary both transcripts share, cut at that boundary and never inside a
  reply; what follows it on each side is that side's response. A pair with no shared boundary
  is rejected with ``sft_no_shared_prompt``.

Output columns (input rows keep their other columns; the source columns that were read are
dropped unless ``keep_input_columns``):

* ``messages`` - ``list<struct<role, content>>``; roles are ``system`` (first only), ``user``,
  ``assistant`` and ``tool``. A ShareGPT ``function_call`` turn becomes an ``assistant`` turn whose
  content is the call (it is trained, the model must learn to emit it); an ``observation`` becomes
  a ``tool`` turn (not trained). For preference rows ``messages`` is the shared prompt.
* ``chosen_messages`` / ``rejected_messages`` - preference rows only: prompt + response.
* ``system`` (the system prompt or null), ``tools`` (JSON text or null), ``sft_format`` (which
  format the row was read as), ``n_turns`` (messages in the conversation; for prompt dedup with
  ``keep: quality`` it prefers the richer copy - multi-turn, tool calls - of a repeated prompt), ``prompt``
  (the user turns joined by a blank line: the column prompt dedup, language id and decontamination look at)
  and, with ``prompt_to_text`` (default), the same prompt in ``text`` so the generic dedup/langid stages,
  which read ``text``, work on prompts unchanged. The ``format`` stage later overwrites ``text`` with the
  rendered conversation.

Column names follow LLaMA-Factory's ``dataset_info.json``: ``columns: {prompt, query, response,
history, system, tools, messages, chosen, rejected}`` and ShareGPT ``tags: {role_tag, content_tag,
user_tag, assistant_tag, observation_tag, function_tag, system_tag}``.

Every invalid row is rejected with a precise reason: ``sft_missing_key:<key>``,
``sft_not_a_list:<column>``, ``sft_bad_type:<key>``, ``sft_empty_turn``, ``sft_unknown_role:<role>``,
``sft_system_not_first``, ``sft_roles_out_of_order``, ``sft_last_turn_not_assistant``,
``sft_no_assistant_turn``, ``sft_non_text_content``, ``sft_unknown_format``, ``sft_no_shared_prompt``.

``columns`` here apply to every row; an input's own ``columns:`` (``inputs[].columns`` in the
pipeline) apply to that input's rows only, over these, so an Alpaca file and a file with other
column names share one pipeline. The spec hands them to this stage as ``input_columns``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import Field, model_validator

from curate.engine.registry import register
from curate.engine.stage import REASON, Stage, StageConfig, StageResult

MESSAGE_DTYPE = pl.List(pl.Struct({"role": pl.Utf8, "content": pl.Utf8}))

ROLE_ALIASES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "chatgpt": "assistant",
    "system": "system",
    "function_call": "assistant",
    "function": "assistant",
    "observation": "tool",
    "tool": "tool",
    "function_response": "tool",
    "ipython": "tool",
}
# Defaults per format, LLaMA-Factory names -> input column.
ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "history": "history",
                  "system": "system", "tools": "tools"}
DOLLY_COLUMNS = {**ALPACA_COLUMNS, "query": "context", "response": "response"}
CHAT_COLUMNS = {"messages": "conversations", "system": "system", "tools": "tools"}
OPENAI_COLUMNS = {"messages": "messages", "system": "system", "tools": "tools"}
PREFERENCE_COLUMNS = {
    "messages": "conversations",
    "prompt": "prompt",
    "chosen": "chosen",
    "rejected": "rejected",
    "system": "system",
    "tools": "tools",
}


CANONICAL_KEYS = {
    "prompt", "query", "response", "history", "system", "tools", "messages", "chosen", "rejected",
}


class Invalid(Exception):
    """A row that cannot be normalised; the message is the reject reason."""


class SFTNormalizeConfig(StageConfig):
    format: Literal["alpaca", "dolly", "sharegpt", "openai", "preference", "hh_rlhf", "auto"] = Field(
        "auto", description="Input format; auto decides per row from the columns that are set."
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="LLaMA-Factory style column mapping (canonical name -> input column).",
    )
    input_columns: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Per source: that input's own `columns:` mapping, applied over `columns` to its rows "
        "(filled from inputs[].columns by the pipeline spec; rarely set by hand).",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="ShareGPT tags (role_tag, user_tag, ...).")
    strip: bool = Field(True, description="Strip whitespace around every turn's content.")
    prompt_to_text: bool = Field(
        True, description="Also write the prompt into `text` (for dedup/langid stages)."
    )
    keep_input_columns: bool = Field(False, description="Keep the input columns that were read.")
    tools_to_system: bool = Field(
        False,
        description="Append the row's `tools` (JSON) to its system prompt under a '# Tools' heading, for "
        "built-in templates, which do not render a tools list themselves.",
    )
    dataset_info: str | None = Field(
        None,
        description="A LLaMA-Factory dataset_info.json to take formatting/columns/tags from (with "
                    "`dataset`).",
    )
    dataset: str | None = Field(None, description="The entry of dataset_info to use.")

    @model_validator(mode="after")
    def _from_dataset_info(self):
        """Fill format/columns/tags from a LLaMA-Factory dataset_info.json entry (explicit keys win)."""
        if self.dataset_info is None:
            return self
        if not self.dataset:
            raise ValueError("dataset_info needs dataset: (the entry name)")
        info = json.loads(Path(self.dataset_info).read_text(encoding="utf-8"))
        if self.dataset not in info:
            raise ValueError(f"{self.dataset!r} is not in {self.dataset_info}")
        entry = info[self.dataset]
        fmt = "preference" if entry.get("ranking") else entry.get("formatting", "alpaca")
        columns = {k: v for k, v in entry.get("columns", {}).items() if k in CANONICAL_KEYS}
        object.__setattr__(self, "columns", {**columns, **self.columns})
        object.__setattr__(self, "tags", {**entry.get("tags", {}), **self.tags})
        if "format" not in self.model_fields_set:
            object.__setattr__(self, "format", fmt)
        return self


@register("sft_normalize")
class SFTNormalize(Stage):
    """Instruction data (Alpaca, Dolly, ShareGPT, OpenAI ``messages``, preference pairs, HH-RLHF) -> canonical ``messages``.

    Writes ``messages`` (for preference rows the shared prompt, plus ``chosen_messages`` /
    ``rejected_messages``), ``system``, ``tools``, ``prompt`` (user turns joined; also in ``text``
    with ``prompt_to_text``), ``n_turns`` and ``sft_format`` (the layout each row was read as).
    ``format: auto`` decides per row from the columns that are set; an input's own ``columns:``
    mapping (in ``inputs[]``) applies to that input's rows. Invalid rows are rejected with
    ``sft_missing_key:<key>``, ``sft_not_a_list:<column>``, ``sft_bad_type:<key>``,
    ``sft_empty_turn``, ``sft_unknown_role:<role>``, ``sft_system_not_first``,
    ``sft_roles_out_of_order``, ``sft_last_turn_not_assistant``, ``sft_no_assistant_turn``,
    ``sft_non_text_content``, ``sft_unknown_format`` or ``sft_no_shared_prompt``.
    """  # noqa: E501

    Config = SFTNormalizeConfig

    def process(self, df: pl.DataFrame) -> StageResult:
        c = self.config
        rows = _decode_json_columns(df, c).to_dicts()
        out: dict[str, list] = {k: [] for k in ("messages", "chosen_messages", "rejected_messages", "system",
                                                "tools", "prompt", "sft_format", "message_fields")}
        reasons: list[str | None] = []
        used: set[str] = set()
        per_source = _configs_by_source(rows, c)
        fallbacks = {
            src: _majority_format([r for r in rows if r.get("source") == src], cfg)
            if src is not None
            else _majority_format(rows, cfg)
            for src, cfg in per_source.items()
        }
        formats: dict[str, int] = {}
        for row in rows:
            src = row.get("source") if row.get("source") in per_source else None
            try:
                rec = normalize_row(row, per_source[src], used, fallbacks[src])
                formats[rec["sft_format"]] = formats.get(rec["sft_format"], 0) + 1
                reasons.append(None)
            except Invalid as e:
                rec = {}
                reasons.append(str(e))
            for k in out:
                out[k].append(rec.get(k))
        kept_cols = [
            pl.Series("messages", out["messages"], dtype=MESSAGE_DTYPE),
            pl.Series("system", out["system"], dtype=pl.Utf8),
            pl.Series("tools", out["tools"], dtype=pl.Utf8),
            pl.Series("message_fields", out["message_fields"], dtype=pl.Utf8),
            pl.Series("prompt", out["prompt"], dtype=pl.Utf8),
            pl.Series("sft_format", out["sft_format"], dtype=pl.Utf8),
            pl.Series(
                "n_turns",
                [
                    None if m is None else len(c or m)
                    for m, c in zip(out["messages"], out["chosen_messages"], strict=True)
                ],
                dtype=pl.Int32,
            ),
        ]
        if any(v is not None for v in out["chosen_messages"]):
            kept_cols += [
                pl.Series("chosen_messages", out["chosen_messages"], dtype=MESSAGE_DTYPE),
                pl.Series("rejected_messages", out["rejected_messages"], dtype=MESSAGE_DTYPE),
            ]
        if c.prompt_to_text:
            kept_cols.append(pl.Series("text", out["prompt"], dtype=pl.Utf8))
        reason = pl.Series(REASON, reasons, dtype=pl.Utf8)
        dropped = df.with_columns(reason).filter(reason.is_not_null())
        names = {s.name for s in kept_cols}
        base = (
            df if c.keep_input_columns else df.drop([k for k in used if k in df.columns and k not in names])
        )
        base = base.drop([n for n in names if n in base.columns])
        kept = base.with_columns(kept_cols).filter(reason.is_null())
        counters = {f"sft_format_{f}": n for f, n in sorted(formats.items())}
        return StageResult(kept=kept, dropped=dropped if dropped.height else None, counters=counters)


def _configs_by_source(rows: list[dict], c: SFTNormalizeConfig) -> dict[str | None, SFTNormalizeConfig]:
    """The config for each source's rows: ``columns`` with that input's own mapping on top.
    Key None is the stage's own config (sources without a mapping of their own)."""
    out: dict[str | None, SFTNormalizeConfig] = {None: c}
    sources = {r.get("source") for r in rows} & set(c.input_columns)
    for src in sources:
        out[src] = c.model_copy(update={"columns": {**c.columns, **c.input_columns[src]}})
    return out


# --- one row ---------------------------------------------------------------------------------
def _col(row: dict, mapping: dict[str, str], defaults: dict[str, str], key: str, used: set[str]) -> Any:
    name = mapping.get(key, defaults.get(key))
    if name is None:
        return None
    if name in row:
        used.add(name)
    return row.get(name)


def _present(row: dict, name: str) -> bool:
    return row.get(name) is not None


def detect(row: dict, mapping: dict[str, str]) -> str:
    """The format of one row under ``format: auto``."""
    def has(key: str, default: str) -> bool:
        return _present(row, mapping.get(key, default))

    if has("chosen", "chosen") and has("rejected", "rejected"):
        no_prompt = not any(has(k, d) for k, d in (("prompt", "prompt"), ("messages", "conversations"),
                                                   ("messages", "messages"), ("prompt", "instruction")))
        if no_prompt and is_hh_transcript(row.get(mapping.get("chosen", "chosen"))):
            return "hh_rlhf"
        return "preference"
    if has("messages", "conversations"):
        return "sharegpt"
    if has("messages", "messages"):
        return "openai"
    if has("prompt", "instruction") and has("response", "response") and not has("response", "output"):
        return "dolly"
    if has("prompt", "instruction") or has("response", "output"):
        return "alpaca"
    raise Invalid("sft_unknown_format")


def _majority_format(rows: list[dict], c: SFTNormalizeConfig) -> str | None:
    """The format most rows of the batch are in (auto mode), to name what an odd row is missing."""
    if c.format != "auto":
        return None
    counts: dict[str, int] = {}
    for row in rows:
        try:
            f = detect(row, c.columns)
        except Invalid:
            continue
        counts[f] = counts.get(f, 0) + 1
    return max(counts, key=counts.get) if counts else None


def _decode_json_columns(df: pl.DataFrame, c: SFTNormalizeConfig) -> pl.DataFrame:
    """Columns the reader kept as JSON text (values of mixed types, e.g. a prompt that is a string
    in some rows and a message list in others) are decoded back, when *every* value is JSON."""
    names = (
        set(c.columns.values())
        | {v for m in c.input_columns.values() for v in m.values()}
        | {
            "conversations", "messages", "prompt", "chosen", "rejected", "history", "tools", "instruction",
            "input", "output", "system",
        }
    )
    out = []
    for name in names & set(df.columns):
        if df[name].dtype != pl.Utf8:
            continue
        values = df[name].to_list()
        decoded = []
        for v in values:
            if v is None:
                decoded.append(None)
                continue
            if v[:1] not in ('"', "[", "{"):
                break
            try:
                decoded.append(json.loads(v))
            except json.JSONDecodeError:
                break
        else:
            # The reader falls back to JSON text only when a column mixes types, so a column of
            # plain strings that merely look like JSON ('"quoted"') is left alone.
            if any(v is not None and not isinstance(v, str) for v in decoded):
                out.append(pl.Series(name, decoded, dtype=pl.Object))
    return df.with_columns(out) if out else df


def normalize_row(row: dict, c: SFTNormalizeConfig, used: set[str], fallback: str | None = None) -> dict:
    """One input row as a canonical record (raises :class:`Invalid` with the reject reason)."""
    if c.format != "auto":
        fmt = c.format
    else:
        try:
            fmt = detect(row, c.columns)
        except Invalid:
            if fallback is None:
                raise
            fmt = fallback  # normalising as the batch's format names the missing key precisely
    if fmt in ("alpaca", "dolly"):
        defaults = ALPACA_COLUMNS if fmt == "alpaca" else DOLLY_COLUMNS
        msgs = _alpaca(row, c, used, defaults)
    elif fmt in ("sharegpt", "openai"):
        defaults = CHAT_COLUMNS if fmt == "sharegpt" else OPENAI_COLUMNS
        msgs = _conversation(_col(row, c.columns, defaults, "messages", used),
                             c.columns.get("messages", defaults["messages"]), c)
        msgs = _with_system(msgs, _col(row, c.columns, defaults, "system", used), c)
    elif fmt == "hh_rlhf":
        return _hh_rlhf(row, c, used)
    else:
        return _preference(row, c, used)
    msgs, fields = split_fields(msgs)
    validate(msgs, final="assistant")
    tools = _tools(_col(row, c.columns, defaults, "tools", used))
    if tools and c.tools_to_system:
        msgs = _tools_in_system(msgs, tools)
        if fields and len(fields) < len(msgs):
            fields = [None, *fields]
    rec = _record(msgs, fmt, tools, c)
    rec["message_fields"] = json.dumps(fields, ensure_ascii=False) if fields else None
    return rec


def _tools_in_system(msgs: list[dict], tools: str) -> list[dict]:
    block = "# Tools\n" + tools
    if msgs and msgs[0]["role"] == "system":
        return [{"role": "system", "content": msgs[0]["content"] + "\n\n" + block}, *msgs[1:]]
    return [{"role": "system", "content": block}, *msgs]


def _record(msgs: list[dict], fmt: str, tools: str | None, c: SFTNormalizeConfig) -> dict:
    system = msgs[0]["content"] if msgs and msgs[0]["role"] == "system" else None
    prompt = "\n\n".join(m["content"] for m in msgs if m["role"] == "user")
    return {"messages": msgs, "system": system, "tools": tools, "prompt": prompt, "sft_format": fmt}


def _text(value: Any, key: str, c: SFTNormalizeConfig) -> str:
    if value is None:
        raise Invalid(f"sft_missing_key:{key}")
    if isinstance(value, list):  # OpenAI content parts
        parts = []
        for p in value:
            if not (isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)):
                raise Invalid("sft_non_text_content")
            parts.append(p["text"])
        value = "".join(parts)
    if not isinstance(value, str):
        raise Invalid(f"sft_bad_type:{key}")
    return value.strip() if c.strip else value


def _alpaca(
    row: dict, c: SFTNormalizeConfig, used: set[str], defaults: dict[str, str] = ALPACA_COLUMNS
) -> list[dict]:
    m, d = c.columns, defaults
    instruction = _text(_col(row, m, d, "prompt", used), m.get("prompt", d["prompt"]), c)
    query = _col(row, m, d, "query", used)
    query = _text(query, m.get("query", d["query"]), c) if query is not None else ""
    response = _text(_col(row, m, d, "response", used), m.get("response", d["response"]), c)
    user = "\n".join(
        x for x in (instruction, query) if x
    )  # LLaMA-Factory joins instruction and input with \n
    msgs: list[dict] = []
    history = _col(row, m, d, "history", used)
    if history is not None:
        history = _as_list(history, m.get("history", d["history"]))
        for pair in history:
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise Invalid("sft_bad_type:history")
            msgs.append({"role": "user", "content": _text(pair[0], "history", c)})
            msgs.append({"role": "assistant", "content": _text(pair[1], "history", c)})
    msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": response}]
    return _with_system(msgs, _col(row, m, d, "system", used), c)


def _with_system(msgs: list[dict], system: Any, c: SFTNormalizeConfig) -> list[dict]:
    if system is None:
        return msgs
    system = _text(system, "system", c)
    if not system:
        return msgs  # an empty system column means "no system prompt", not an empty turn
    if msgs and msgs[0]["role"] == "system":
        raise Invalid("sft_system_not_first")  # two system prompts: the column and a turn
    return [{"role": "system", "content": system}, *msgs]


def _as_list(value: Any, key: str) -> list:
    if isinstance(value, str):  # a column the reader kept as JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise Invalid(f"sft_not_a_list:{key}") from None
    if not isinstance(value, list):
        raise Invalid(f"sft_not_a_list:{key}")
    return value


def _conversation(value: Any, key: str, c: SFTNormalizeConfig) -> list[dict]:
    if value is None:
        raise Invalid(f"sft_missing_key:{key}")
    items = _as_list(value, key)
    return [_message(item, c) for item in items]


def _message(item: Any, c: SFTNormalizeConfig) -> dict:
    if not isinstance(item, dict):
        raise Invalid("sft_bad_type:message")
    t = c.tags
    sharegpt_style = item.get("from") is not None or item.get("value") is not None
    role_key = t.get("role_tag") or ("from" if sharegpt_style else "role")
    content_key = t.get("content_tag") or ("value" if sharegpt_style else "content")
    raw_role = item.get(role_key)
    if raw_role is None:
        raise Invalid(f"sft_missing_key:{role_key}")
    if not isinstance(raw_role, str):
        raise Invalid(f"sft_bad_type:{role_key}")
    aliases = dict(ROLE_ALIASES)
    for tag, role in (("user_tag", "user"), ("assistant_tag", "assistant"), ("observation_tag", "tool"),
                      ("function_tag", "assistant"), ("system_tag", "system")):
        if tag in t:
            aliases[t[tag]] = role
    role = aliases.get(raw_role)
    if role is None:
        raise Invalid(f"sft_unknown_role:{raw_role[:32]}")
    content = item.get(content_key)
    fields: dict = {}
    if role == "assistant" and item.get("tool_calls"):  # OpenAI tool calls
        calls = [tc.get("function", tc) if isinstance(tc, dict) else tc for tc in item["tool_calls"]]
        fields["tool_calls"] = [_call(tc, item["tool_calls"][k]) for k, tc in enumerate(calls)]
        if content is None or content == "":
            content = json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
            fields["content"] = ""
    elif role == "assistant" and raw_role in _CALL_ROLES and isinstance(content, str):  # ShareGPT call
        try:
            parsed = json.loads(content)
        except json.JSONDecodeError:
            parsed = None
        calls = parsed if isinstance(parsed, list) else [parsed]
        if all(isinstance(tc, dict) and isinstance(tc.get("name"), str) for tc in calls):
            fields["tool_calls"] = [_call(tc, tc) for tc in calls]
            fields["content"] = ""
    elif role == "tool" and item.get("tool_call_id"):
        fields["tool_call_id"] = str(item["tool_call_id"])
    if role == "tool" and isinstance(item.get("name"), str):
        fields["name"] = item["name"]
    text = _text(content, content_key, c)
    if role == "assistant":
        reasoning = next(
            (item[k] for k in ("reasoning_content", "reasoning", "thinking") if isinstance(item.get(k), str)),
            None,
        )
        if reasoning and reasoning.strip() and "</think>" not in text:
            # one place for reasoning: inline, as DeepSeek-R1 / Qwen3 data has it; sft_format hands it to
            # the template as reasoning_content (see curate.sft.hf_template.template_messages)
            text = f"<think>\n{reasoning.strip()}\n</think>\n\n{text}"
    out = {"role": role, "content": text}
    if fields:
        out["_fields"] = fields
    return out


_CALL_ROLES = {"function_call", "function"}


def _call(fn: dict, raw: dict) -> dict:
    """One tool call as chat templates read it: ``{type, function: {name, arguments: dict}, id?}``."""
    args = fn.get("arguments", fn.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            pass
    call = {"type": "function", "function": {"name": fn.get("name"), "arguments": args}}
    if isinstance(raw, dict) and raw.get("id"):
        call["id"] = str(raw["id"])
    return call


def split_fields(msgs: list[dict]) -> tuple[list[dict], list | None]:
    """(messages of role/content, ``message_fields`` list or None): tool-call ids are filled in
    (``call00001``..., 9 characters as Mistral's templates require) and each tool result is linked
    to the call before it (``tool_call_id``, ``name``)."""
    fields = [m.pop("_fields", None) for m in msgs]
    if not any(fields):
        return msgs, None
    n = 0
    pending: list[dict] = []
    for i, (m, f) in enumerate(zip(msgs, fields, strict=True)):
        if f and f.get("tool_calls"):
            for tc in f["tool_calls"]:
                n += 1
                tc.setdefault("id", f"call{n:05d}")
            pending = list(f["tool_calls"])
        elif m["role"] == "tool":
            f = dict(f or {})
            if pending:
                tc = pending.pop(0)
                f.setdefault("tool_call_id", tc["id"])
                f.setdefault("name", tc["function"]["name"])
            fields[i] = f or None
        elif m["role"] == "user":
            pending = []
    return msgs, fields


def validate(msgs: list[dict], final: Literal["assistant", "user"]) -> None:
    """Roles in order: optional system first, then (user|tool) and assistant alternating."""
    if any(not m["content"] for m in msgs):
        raise Invalid("sft_empty_turn")
    body = msgs[1:] if msgs and msgs[0]["role"] == "system" else msgs
    for i, m in enumerate(body):
        if m["role"] == "system":
            raise Invalid("sft_system_not_first")
        expect_user = i % 2 == 0
        if expect_user != (m["role"] in ("user", "tool")) or (i == 0 and m["role"] != "user"):
            raise Invalid("sft_roles_out_of_order")
    if final == "assistant":
        if not any(m["role"] == "assistant" for m in body):
            raise Invalid("sft_no_assistant_turn")
        if body[-1]["role"] != "assistant":
            raise Invalid("sft_last_turn_not_assistant")
    elif not body or body[-1]["role"] not in ("user", "tool"):
        raise Invalid("sft_roles_out_of_order")


def _tools(value: Any) -> str | None:
    if value is None or value == "" or value == []:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _response(value: Any, key: str, prompt: list[dict], c: SFTNormalizeConfig) -> list[dict]:
    """A chosen/rejected response: a string, one message, or a message list (maybe with the prompt)."""
    if value is None:
        raise Invalid(f"sft_missing_key:{key}")
    if isinstance(value, str):
        try:
            parsed = json.loads(value) if value.lstrip()[:1] in ("[", "{") else value
        except json.JSONDecodeError:
            parsed = value
        value = parsed
    if isinstance(value, str):
        return [{"role": "assistant", "content": _text(value, key, c)}]
    if isinstance(value, dict):
        # LLaMA-Factory's ShareGPT ranking format gives one {from, value} message; the OpenAI/TRL
        # conversational format requires a list of {role, content} messages.
        if value.get("from") is None and value.get("value") is None and "role_tag" not in c.tags:
            raise Invalid(f"sft_not_a_list:{key}")
        return [_message(value, c)]
    if not isinstance(value, list):
        raise Invalid(f"sft_bad_type:{key}")
    msgs = [_message(x, c) for x in value]
    if prompt and msgs[: len(prompt)] == prompt:  # TRL "implicit prompt": the list repeats the prompt
        msgs = msgs[len(prompt) :]
    return msgs


def _preference(row: dict, c: SFTNormalizeConfig, used: set[str]) -> dict:
    m, d = c.columns, PREFERENCE_COLUMNS
    conv_col = m.get("messages") or next((k for k in ("conversations", "messages") if _present(row, k)), None)
    prompt_col = m.get("prompt") or next((k for k in ("prompt", "instruction") if _present(row, k)), None)
    chosen_raw = _col(row, m, d, "chosen", used)
    rejected_raw = _col(row, m, d, "rejected", used)
    if conv_col and _present(row, conv_col):
        used.add(conv_col)
        prompt = _conversation(row[conv_col], conv_col, c)
    elif prompt_col and _present(row, prompt_col):
        used.add(prompt_col)
        value = row[prompt_col]
        if isinstance(value, str) and not value.lstrip().startswith("["):
            prompt = [{"role": "user", "content": _text(value, prompt_col, c)}]
            query_col = m.get("query", "input")
            if isinstance(row.get(query_col), str) and row[query_col].strip():
                used.add(query_col)
                prompt[0]["content"] += "\n" + _text(row[query_col], query_col, c)
        else:
            prompt = _conversation(value, prompt_col, c)
    elif isinstance(chosen_raw, list) and isinstance(rejected_raw, list):
        # No prompt column: chosen/rejected are full conversations; the prompt is their common prefix.
        ch = [_message(x, c) for x in chosen_raw]
        rj = [_message(x, c) for x in rejected_raw]
        n = 0
        while n < min(len(ch), len(rj)) - 1 and ch[n] == rj[n]:
            n += 1
        prompt = ch[:n]
    else:
        raise Invalid(f"sft_missing_key:{m.get('prompt', 'prompt')}")
    prompt = _with_system(prompt, _col(row, m, d, "system", used), c)
    validate(prompt, final="user")
    chosen = prompt + _response(chosen_raw, m.get("chosen", "chosen"), prompt, c)
    rejected = prompt + _response(rejected_raw, m.get("rejected", "rejected"), prompt, c)
    validate(chosen, final="assistant")
    validate(rejected, final="assistant")
    for msg in (*prompt, *chosen, *rejected):  # preference sides carry role/content only
        msg.pop("_fields", None)
    rec = _record(prompt, "preference", _tools(_col(row, m, d, "tools", used)), c)
    rec.update(chosen_messages=chosen, rejected_messages=rejected)
    return rec


# --- Anthropic HH-RLHF transcripts ------------------------------------------------------------
HUMAN, ASSISTANT = "\n\nHuman:", "\n\nAssistant:"
_HH_TURN = re.compile(r"\n\n(Human|Assistant):")


def is_hh_transcript(value: Any) -> bool:
    """A string in HH-RLHF's transcript form: Human and Assistant turns marked by ``\\n\\nRole:``."""
    if not isinstance(value, str):
        return False
    text = _hh_canonical(value)
    return text.startswith(HUMAN) and ASSISTANT in text


def _hh_canonical(text: str) -> str:
    """HH transcripts start with ``\\n\\nHuman:``; a few copies lost the leading blank line."""
    return "\n\n" + text.lstrip("\n") if text.lstrip("\n").startswith("Human:") else text


def _hh_turns(text: str, c: SFTNormalizeConfig, key: str) -> list[dict]:
    """``\\n\\nHuman: a\\n\\nAssistant: b`` -> messages (text before the first marker is not allowed)."""
    parts = _HH_TURN.split(text)
    if parts[0].strip():
        raise Invalid(f"sft_bad_type:{key}")
    msgs = []
    for role, content in zip(parts[1::2], parts[2::2], strict=True):
        msgs.append({"role": "user" if role == "Human" else "assistant", "content": _text(content, key, c)})
    return msgs


def _hh_rlhf(row: dict, c: SFTNormalizeConfig, used: set[str]) -> dict:
    """Split an HH-RLHF pair at the last ``\\n\\nAssistant:`` boundary both transcripts share."""
    m = c.columns
    keys = m.get("chosen", "chosen"), m.get("rejected", "rejected")
    sides = []
    for key in keys:
        value = row.get(key)
        if value is None:
            raise Invalid(f"sft_missing_key:{key}")
        if not isinstance(value, str):
            raise Invalid(f"sft_bad_type:{key}")
        used.add(key)
        sides.append(_hh_canonical(value))
    chosen, rejected = sides
    common = len(os.path.commonprefix([chosen, rejected]))
    # the last Assistant marker that lies wholly inside the shared prefix: a cut at a turn boundary,
    # never inside a reply that merely starts with the same words on both sides
    cut = chosen.rfind(ASSISTANT, 0, common)
    if cut < 0:
        raise Invalid("sft_no_shared_prompt")
    prompt = _hh_turns(chosen[:cut], c, keys[0])
    prompt = _with_system(prompt, _col(row, m, PREFERENCE_COLUMNS, "system", used), c)
    validate(prompt, final="user")
    pair = []
    for key, text in zip(keys, sides, strict=True):
        reply = _hh_turns(text[cut:], c, key)
        msgs = prompt + reply
        validate(msgs, final="assistant")
        pair.append(msgs)
    rec = _record(prompt, "hh_rlhf", None, c)
    rec.update(chosen_messages=pair[0], rejected_messages=pair[1])
    return rec
