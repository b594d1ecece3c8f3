"""``sft_format``: the SFT formatter as a stage of its own (same options as ``format: {kind: sft}``)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from curate.engine.registry import register
from curate.engine.stage import Stage, StageResult
from curate.io.writer import write_bytes_atomic
from curate.sft.format import SFTFormatConfig, SFTFormatter


def write_chat_template(run_dir: Path, jinja: str) -> Path:
    """``OUT/chat_template.jinja``: the template that renders these rows, to save with the trained model.

    Written atomically (temp + rename); every task writes the same content, so races are harmless.
    """
    path = Path(run_dir) / "chat_template.jinja"
    if path.exists() and path.read_text(encoding="utf-8") == jinja:
        return path
    write_bytes_atomic(path, jinja.encode("utf-8"))
    return path


@register("sft_format")
class SFTFormat(Stage):
    """Chat-templated ``text``, ``input_ids`` and assistant-only ``labels`` (-100 elsewhere), optionally packed.

    Same options as ``format: {kind: sft}``. Each turn is encoded by construction, so the mask is
    exact and a kept row renders exactly like ``apply_chat_template(messages)``; truncation drops
    whole rounds, never part of a turn. A row that fails a check is rejected with the check's name
    (``sft_too_long``, ``sft_special_token_in_content``, ``sft_render_mismatch``, ...) and keeps its
    content in rejects/. Preference rows get ``chosen_*`` / ``rejected_*`` columns.
    """  # noqa: E501

    Config = SFTFormatConfig

    def setup(self) -> None:
        self.formatter = SFTFormatter(self.config)
        self.formatter.setup()
        if self.ctx is not None:
            write_chat_template(self.ctx.run_dir, self.formatter.chat_template)

    def process(self, df: pl.DataFrame) -> StageResult:
        return self.formatter.process(df)

    def flush(self) -> StageResult | None:
        return self.formatter.flush()

    def route_column(self) -> str | None:
        """SFT and preference rows go to ``data/sft/`` and ``data/preference/`` (not when packing)."""
        return SFTFormatter(self.config).route_column()
