"""``curate sft ...``: look at SFT data the way the trainer will see it."""

from __future__ import annotations

import click


@click.group("sft")
def sft() -> None:
    """SFT data tools (templates, loss masks)."""


@sft.command("preview")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--template", "-t", default="chatml", show_default=True,
              help="chatml, llama3, llama2, mistral, alpaca, vicuna, chatglm, human_assistant or hf:DIR")
@click.option("--tokenizer", type=click.Path(exists=True, file_okay=False), default=None,
              help="Local tokenizer folder: colour real tokens by their labels (default: template segments).")
@click.option("-n", "n", default=3, show_default=True, help="Rows to show.")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "alpaca", "dolly", "sharegpt", "openai", "preference", "hh_rlhf"]))
@click.option(
    "--train-on", default="assistant", show_default=True, type=click.Choice(["assistant", "all", "last_turn"])
)
def preview(file: str, template: str, tokenizer: str | None, n: int, fmt: str, train_on: str) -> None:
    """Render the first N rows of FILE (.json / .jsonl[.gz]) with trained spans highlighted."""
    from curate.sft.preview import preview_rows

    try:
        for block in preview_rows(file, template, tokenizer, n, fmt, train_on):
            click.echo(block)
            click.echo()
    except (KeyError, ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e
