"""``curate tokenizer train SHARDS... -o DIR --vocab-size N``: the CLI over :mod:`curate.train.tokenizer`."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import click

from curate.train.storage import is_uri, list_parquet
from curate.train.tokenizer import DEFAULT_SAMPLE_BYTES, train_tokenizer


def expand_shards(specs: tuple[str, ...]) -> list[Path | str]:
    """Parquet files from files, folders (searched recursively) and globs (``**`` recurses), sorted;
    a URI (``s3://bucket/out/data``) names an object or everything under a prefix."""
    found: set = set()
    for spec in specs:
        if is_uri(spec):
            try:
                found.update(list_parquet(spec))
            except (FileNotFoundError, OSError) as e:
                raise click.BadParameter(f"{spec}: {e}", param_hint="SHARDS") from None
            continue
        spec = os.path.expanduser(spec)
        if any(c in spec for c in "*?["):
            found.update(Path(p) for p in glob.glob(spec, recursive=True) if p.endswith(".parquet"))
        elif os.path.isdir(spec):
            found.update(Path(spec).rglob("*.parquet"))
        elif os.path.isfile(spec):
            found.add(Path(spec))
        else:
            raise click.BadParameter(f"{spec}: no such file, folder or glob match", param_hint="SHARDS")
    if not found:
        raise click.BadParameter(f"no .parquet files in {', '.join(specs)}", param_hint="SHARDS")
    return sorted(found, key=str)


@click.group()
def tokenizer() -> None:
    """Train tokenizers on curated shards."""


@tokenizer.command("train")
@click.argument("shards", nargs=-1, required=True)
@click.option(
    "-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder."
)
@click.option("--vocab-size", type=int, required=True, help="Vocabulary size, special tokens included.")
@click.option(
    "--sample-bytes",
    type=int,
    default=DEFAULT_SAMPLE_BYTES,
    show_default=True,
    help="Text bytes to train on, spread evenly over the shards.",
)
@click.option("--text-column", default="text", show_default=True)
@click.option("--min-frequency", type=int, default=2, show_default=True)
@click.option(
    "--template",
    default="chatml",
    show_default=True,
    help="Built-in chat template (chatml, llama3, llama2, mistral, alpaca, vicuna, chatglm, "
    "human_assistant): its special tokens are added as single ids and its Jinja is saved as the tokenizer's "
    "chat_template.",
)
def train_cmd(
    shards: tuple[str, ...],
    out_dir: str,
    vocab_size: int,
    sample_bytes: int,
    text_column: str,
    min_frequency: int,
    template: str,
) -> None:
    """Train a byte-level BPE on a sample of SHARDS (Parquet files, folders or globs)."""
    markers, jinja = template_markers(template)
    paths = expand_shards(shards)
    out = train_tokenizer(
        paths, out_dir, vocab_size, sample_bytes, text_column, min_frequency, markers, jinja
    )
    problems = template_eot_problems(template, out)
    if problems:  # the same check format: {kind: sft} runs at validation
        raise click.ClickException(f"check template_eot: {'; '.join(problems)} (template {template}, {out})")
    click.echo(f"tokenizer trained on {len(paths)} shard(s) -> {out} (chat template: {template})")


def template_eot_problems(name: str, folder) -> list[str]:
    """``check template_eot`` (curate.sft.selfcheck) on the folder just written."""
    import importlib

    from transformers import AutoTokenizer

    selfcheck = importlib.import_module("curate.sft.selfcheck")
    templates = importlib.import_module("curate.sft.templates")
    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return selfcheck.check_template_eot(templates.get_template(name), tok, folder)


def template_markers(name: str) -> tuple[list[str], str]:
    """(special tokens, Jinja) of a built-in chat template.

    The templates live in ``curate.sft.templates`` (plain data, no curation stack), imported only
    when this command runs so that ``curate.train`` imports nothing outside the training stack.
    """
    import importlib

    try:
        templates = importlib.import_module("curate.sft.templates")
    except ImportError as e:
        raise click.ClickException(
            f"--template needs the curate package's chat templates (curate.sft): {e}"
        ) from None
    try:
        t = templates.get_template(name)
    except KeyError as e:
        raise click.BadParameter(e.args[0], param_hint="--template") from None
    eot = [] if "{" in t.eot else [t.eot]  # "{eos}" is the tokenizer's own </s>
    return [*t.special_tokens, *eot], t.jinja
