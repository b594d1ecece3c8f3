"""``format``: the last stage, shaping records for training.

* ``kind: pretrain`` - documents as they are: ``id``, ``text`` and the ``keep`` columns, plus
  ``n_tokens`` when a tokenizer is given.
* ``kind: tokenized`` - fixed-length packed rows (see :mod:`curate.format.packing`): ``input_ids``
  of ``seq_len + 1`` tokens (uint16 when the vocabulary fits, else uint32), documents joined with
  EOS, ``doc_ids``/``doc_lens`` per row, ``n_pad`` for the padded last row of a task.
* ``kind: sft`` - chat-templated SFT rows, delegated to ``curate.sft.format:SFTFormatter``
  (owned by the SFT package); its options are validated here only when ``kind: sft``.

``kind: tokenized`` with ``export: [megatron, nanogpt, mds]`` also writes ``OUT/export/<target>/``
once the run's shards are final (:meth:`Format.finish_run`, :mod:`curate.format.export`).

Documents with null or empty text are dropped with reason ``format_empty_text``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import Field, model_validator

from curate.engine.registry import register
from curate.engine.stage import REASON, Stage, StageConfig, StageResult
from curate.format.packing import Packer
from curate.format.tokenizer import LoadedTokenizer, load_tokenizer

SFT_ONLY = ("template", "max_len", "train_on", "truncation", "packing", "check_saved_template")
TOKENIZED_ONLY = (
    "seq_len", "add_bos", "remainder", "boundaries", "loss_mask", "export", "export_shuffle", "export_seed"
)


@register("format")
class Format(Stage):
    """Write the training format: pretraining text, packed token rows, or SFT chat rows."""

    class Config(StageConfig):
        kind: Literal["pretrain", "tokenized", "sft"] = Field(
            "pretrain", description="pretrain: text rows; tokenized: packed token rows; sft: chat rows."
        )
        tokenizer: str | None = Field(
            None, description="Local HF tokenizer folder or tokenizer.json (never downloaded)."
        )
        text_column: str = Field("text", description="The column holding the document text.")
        keep: list[str] = Field(
            default_factory=lambda: ["source"], description="kind: pretrain - extra columns to keep."
        )
        # kind: tokenized
        seq_len: int = Field(2048, gt=0, description="Tokens a model sees per row; rows hold seq_len + 1.")
        add_bos: bool = Field(False, description="Prepend BOS to every document (EOS always ends one).")
        remainder: Literal["pad", "drop"] = Field(
            "pad",
            description="The last partial row of a task: 'pad' to full length (n_pad says how much) or "
            "'drop' it, counted in format_tail_tokens_dropped.",
        )
        boundaries: bool = Field(True, description="Write doc_lens (document lengths per row).")
        loss_mask: bool | None = Field(
            None,
            description="Write loss_mask (1 = real token, 0 = padding) so trainers skip the padded tail; "
            "default: when remainder is 'pad'.",
        )
        export: list[Literal["megatron", "nanogpt", "mds"]] = Field(
            default_factory=list,
            description="kind: tokenized - also write OUT/export/<target>/ from the final shards: megatron "
            "(Megatron-LM .bin/.idx), nanogpt (flat train.bin + train_offsets.npy), mds (MosaicML "
            "streaming); same tokens and documents as the shards.",
        )
        export_shuffle: bool = Field(
            False, description="kind: tokenized - shuffle whole documents in the exports (seeded)."
        )
        export_seed: int | None = Field(
            None, description="kind: tokenized - the export shuffle's seed; default: the pipeline seed."
        )
        # kind: sft (interpreted by curate.sft.format:SFTFormatter)
        template: str = Field("chatml", description="kind: sft - a built-in chat template or hf:DIR.")
        max_len: int = Field(2048, gt=0, description="kind: sft - most tokens per example.")
        train_on: Literal["assistant", "all", "last_turn"] = Field(
            "assistant", description="kind: sft - which turns carry loss."
        )
        truncation: Literal["drop", "left", "right"] = Field(
            "drop", description="kind: sft - what to do with an example longer than max_len."
        )
        packing: bool = Field(False, description="kind: sft - pack several examples per row.")
        check_saved_template: bool = Field(
            True, description="kind: sft - refuse a built-in template that renders differently from the "
            "chat_template saved with the tokenizer."
        )

        @model_validator(mode="after")
        def _check_kind_options(self):
            for kind, names in (("sft", SFT_ONLY), ("tokenized", TOKENIZED_ONLY), ("pretrain", ("keep",))):
                stray = [n for n in names if n in self.model_fields_set and self.kind != kind]
                if stray:
                    raise ValueError(f"{', '.join(stray)} only apply to kind: {kind} (kind is {self.kind})")
            needs_tokenizer = self.kind == "tokenized" or (
                self.kind == "sft" and not self.template.startswith("hf:")
            )
            if needs_tokenizer and not self.tokenizer:
                raise ValueError(f"kind: {self.kind} needs tokenizer: (a local HF tokenizer folder)")
            if self.kind == "sft":
                _validate_sft(self)
            if self.export and not self.boundaries:
                raise ValueError("export needs boundaries: true (documents are cut from doc_lens)")
            if len(set(self.export)) != len(self.export):
                raise ValueError(f"export lists a target twice: {self.export}")
            return self

    def setup(self) -> None:
        c = self.config
        self.tok: LoadedTokenizer | None = load_tokenizer(c.tokenizer) if c.tokenizer else None
        self.sft = None
        self.packer: Packer | None = None
        if c.kind == "sft":
            from curate.sft.stage import write_chat_template

            self.sft = _sft_formatter(c)
            # Saved beside the shards so training stores the very template these rows were rendered with.
            write_chat_template(self.ctx.run_dir, self.sft.chat_template)
        elif c.kind == "tokenized":
            tok = self.tok
            if tok.eos_id is None:
                raise ValueError(
                    f"tokenizer {c.tokenizer} has no eos_token: packing needs a document separator"
                )
            if c.add_bos and tok.bos_id is None:
                raise ValueError(f"add_bos: true but tokenizer {c.tokenizer} has no bos_token")
            prefix = self.ctx.task_id or "pack"
            mask = c.loss_mask if c.loss_mask is not None else c.remainder == "pad"
            self.packer = Packer(
                c.seq_len,
                tok.eos_id,
                tok.token_dtype,
                tok.bos_id if c.add_bos else None,
                prefix,
                loss_mask=mask,
            )

    def _split_empty(self, df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        col = self.config.text_column
        if col not in df.columns:
            raise ValueError(f"format: no {col!r} column (columns: {df.columns})")
        empty = df[col].is_null() | (df[col].str.len_bytes() == 0)
        if not empty.any():
            return df, None
        return df.filter(~empty), df.filter(empty).with_columns(pl.lit("format_empty_text").alias(REASON))

    def route_column(self) -> str | None:
        """SFT and preference rows have different columns: they go to data/sft/ and data/preference/."""
        return _sft_formatter(self.config).route_column() if self.config.kind == "sft" else None

    def process(self, df: pl.DataFrame) -> StageResult:
        c = self.config
        if self.sft is not None:
            return self.sft.process(df)
        df, dropped = self._split_empty(df)
        if c.kind == "pretrain":
            cols = ["id"] + [k for k in c.keep if k in df.columns and k not in ("id", c.text_column)]
            out = df.select([*cols, c.text_column])
            if self.tok is not None:
                n = self.tok.count(out[c.text_column].to_list()) if out.height else []
                out = out.with_columns(pl.Series("n_tokens", n, dtype=pl.Int32))
            return StageResult(kept=out, dropped=dropped)
        # One batch-encode call per batch: encoding the next chunk while packing this one was
        # measured slower on 2 cores (small rayon batches, contention): bench/tokenize.py.
        docs = self.tok.encode(df[c.text_column].to_list()) if df.height else []
        n_doc_tokens = sum(map(len, docs))
        kept = self._frame(self.packer.add(docs, df["id"].to_list()))
        return StageResult(
            kept=kept, dropped=dropped, consumed=df.height, counters={"format_doc_tokens": n_doc_tokens}
        )

    def flush(self) -> StageResult | None:
        if self.sft is not None:
            return self.sft.flush()
        if self.packer is None:
            return None
        # Without a pad token, EOS fills the padding; n_pad masks it either way.
        pad = self.tok.pad_id if self.tok.pad_id is not None else self.tok.eos_id
        table, tail_tokens, tail_docs = self.packer.finish(pad if self.config.remainder == "pad" else None)
        counters = {}
        if tail_tokens and table is None:
            counters = {"format_tail_tokens_dropped": tail_tokens, "format_tail_docs_truncated": tail_docs}
        elif table is not None:
            counters = {"format_pad_tokens": int(table["n_pad"][0].as_py())}
        return StageResult(kept=self._frame(table), consumed=0, counters=counters)

    def finish_run(self, shards: list[dict]) -> dict | None:
        """``export:`` targets, written from the final shards (see :mod:`curate.format.export`)."""
        c = self.config
        if c.kind != "tokenized" or not c.export:
            return None
        from curate.format.export import write_exports

        seed = self.ctx.seed if c.export_seed is None else c.export_seed
        key = {
            "shards": [[s["path"], s["sha256"]] for s in shards],
            "export": list(c.export),
            "shuffle": c.export_shuffle,
            "seed": seed,
        }
        run_dir = Path(self.ctx.run_dir)
        return write_exports(
            [run_dir / s["path"] for s in shards],
            run_dir / "export",
            Path(self.ctx.work_dir),
            list(c.export),
            load_tokenizer(c.tokenizer).token_dtype,
            c.export_shuffle,
            seed,
            key,
        )

    def _frame(self, table) -> pl.DataFrame:
        return _packed_frame(table, self.tok, self.config.boundaries, self.packer.loss_mask)


def _packed_frame(table, tok: LoadedTokenizer, boundaries: bool, loss_mask: bool) -> pl.DataFrame:
    """A polars frame of packed rows with the narrowest token dtype (an empty one when no rows)."""
    token_type = pl.UInt16 if tok.token_dtype.itemsize == 2 else pl.UInt32
    schema: dict[str, Any] = {
        "id": pl.Utf8,
        "input_ids": pl.List(token_type),
        "doc_ids": pl.List(pl.Utf8),
        "doc_lens": pl.List(pl.Int32),
        "n_pad": pl.Int32,
        "n_tokens": pl.Int32,
    }
    if not boundaries:
        del schema["doc_lens"]
    if loss_mask:
        schema["loss_mask"] = pl.List(pl.UInt8)
    if table is None:
        return pl.DataFrame(schema=schema)
    df = pl.from_arrow(table)
    return df.select(list(schema)).cast(schema)


def _sft_formatter(config: Format.Config):
    """``curate.sft.format:SFTFormatter(config)``: ``process(df) -> StageResult`` and ``flush()``."""
    try:
        mod = importlib.import_module("curate.sft.format")
    except ModuleNotFoundError as e:
        if e.name not in ("curate.sft", "curate.sft.format"):
            raise
        raise RuntimeError(
            "format kind: sft needs the curate.sft package (curate/sft/format.py: SFTFormatter), "
            "which is not installed in this build"
        ) from e
    cls = getattr(mod, "SFTFormatter", None)
    if cls is None:
        raise RuntimeError("curate.sft.format has no SFTFormatter class")
    formatter = cls(config)
    if hasattr(formatter, "setup"):
        formatter.setup()
    return formatter


def _validate_sft(config) -> None:
    """Check the SFT options with the SFT package's own config, when it is installed."""
    try:
        from curate.sft.format import SFTFormatConfig
    except ImportError:
        return  # reported at setup, with what is missing
    fields = {k: getattr(config, k) for k in SFTFormatConfig.model_fields if hasattr(config, k)}
    try:
        SFTFormatConfig(**fields)
    except KeyError as e:  # an unknown template name surfaces as KeyError from the template table
        raise ValueError(e.args[0] if e.args else str(e)) from None
