"""Render a few SFT rows in the terminal with the trained spans highlighted, so the mask can be seen.

Trained text is shown bold green on a dark background, untrained text dim; with a tokenizer the
colouring is per token from the real ``labels`` (and token boundaries are marked), without one it
is per template segment. Rejected rows are shown with their reason.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import click
import polars as pl

from curate.sft.masks import IGNORE_INDEX


def read_records(path: str | Path, limit: int | None = None) -> list[dict]:
    """Rows of a ``.json`` array or a ``.jsonl`` / ``.jsonl.gz`` file (the first ``limit``)."""
    from curate.sft.reader import not_an_array_message

    p = Path(path)
    if p.suffix == ".json":  # one array, like the sft_jsonl reader reads it
        values = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(values, list):
            raise ValueError(f"{p}: {not_an_array_message(values)}")
        return values[:limit] if limit is not None else values
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8") as f:
        head = f.read(1)
        while head and head.isspace():
            head = f.read(1)
        f.seek(0)
        if head == "[":
            rows = json.load(f)
            return rows[:limit] if limit is not None else rows
        rows = []
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
                if limit is not None and len(rows) >= limit:
                    break
        return rows


def _show(text: str, trained: bool) -> str:
    visible = text.replace("\n", "↵\n")
    return (
        click.style(visible, fg="green", bold=True, bg="black") if trained else click.style(visible, dim=True)
    )


def preview_rows(
    path: str | Path, template: str, tokenizer: str | None = None, n: int = 3, fmt: str = "auto",
    train_on: str = "assistant", max_len: int = 1_000_000,
) -> Iterator[str]:
    """Yield one highlighted block per row (the CLI prints them)."""
    from curate.sft.normalize import SFTNormalize, SFTNormalizeConfig

    rows = read_records(path, n)
    df = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
    norm = SFTNormalize(SFTNormalizeConfig(format=fmt), None).process(df)
    if norm.dropped is not None:
        for reason in norm.dropped["reason"]:
            yield click.style(f"rejected by sft_normalize: {reason}", fg="red")
    kept = norm.kept
    if "chosen_messages" in kept.columns:  # preference rows: show the chosen side
        kept = kept.with_columns(pl.col("chosen_messages").alias("messages")).drop(
            "chosen_messages", "rejected_messages"
        )
    if template.startswith("hf:") and tokenizer is None:
        tokenizer = template[3:]
    if tokenizer is None:
        from curate.sft.templates import TemplateError, get_template

        t = get_template(template)
        for i, msgs in enumerate(kept["messages"].to_list()):
            try:
                segs = t.segments(msgs, "<s>", "</s>", train_on)
            except TemplateError as e:
                yield click.style(f"row {i}: rejected: {e.reason}", fg="red")
                continue
            yield (
                click.style(
                    f"── row {i} ({template}, segments; pass --tokenizer for token-level labels)", bold=True
                )
                + "\n"
                + "".join(_show(s.text, s.trained) for s in segs)
            )
        return
    from curate.sft.format import SFTFormatConfig, SFTFormatter

    fm = SFTFormatter(
        SFTFormatConfig(
            template=template,
            tokenizer=tokenizer,
            max_len=max_len,
            train_on=train_on,
            check_saved_template=False,
        )
    )
    fm.setup()
    res = fm.process(kept)
    if res.dropped is not None:
        for reason in res.dropped["reason"]:
            yield click.style(f"rejected by sft_format: {reason}", fg="red")
    dec = fm.encoder
    for i, row in enumerate(res.kept.iter_rows(named=True)):
        parts = []
        for tok, lab in zip(row["input_ids"], row["labels"], strict=True):
            parts.append(_show(dec.decode([tok]), lab != IGNORE_INDEX))
        yield click.style(
            f"── row {i} ({template}): {row['n_tokens']} tokens, {row['n_trained_tokens']} trained", bold=True
        ) + "\n" + "".join(parts)
