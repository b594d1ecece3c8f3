"""``curate classifier``: train the quality classifier used by the ``classifier`` stage."""

from __future__ import annotations

import json

import click


@click.group("classifier")
def classifier() -> None:
    """Quality classifier (DCLM-style): train on positives vs negatives."""


@classifier.command("train")
@click.option(
    "--pos",
    multiple=True,
    required=True,
    help="Positive examples: Parquet shards or JSONL (files, folders, globs).",
)
@click.option("--neg", multiple=True, required=True, help="Negative examples: Parquet shards or JSONL.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Model file to write.")
@click.option("--epochs", default=5, show_default=True)
@click.option("--buckets", default=1 << 20, show_default=True, help="Hash buckets for word n-grams.")
@click.option("--ngrams", default=2, show_default=True, help="Word n-gram order (fastText's -wordNgrams).")
@click.option("--max-docs", default=None, type=int, help="Use at most this many texts per side.")
@click.option("--seed", default=0, show_default=True)
def train_cmd(pos, neg, output, epochs, buckets, ngrams, max_docs, seed) -> None:
    """Train and save a model; prints held-out accuracy as JSON."""
    from curate.filters.classifier import train

    info = train(list(pos), list(neg), output, epochs=epochs, buckets=buckets, ngrams=ngrams,
                 max_docs=max_docs, seed=seed)
    click.echo(json.dumps({"model": output, **info}))
