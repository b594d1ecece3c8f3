"""``curate classifier``: train and evaluate the quality classifier used by the ``classifier`` stage."""

from __future__ import annotations

import json

import click

SPEC_HELP = (
    "[NAME=]SPEC, repeatable: files, globs or folders of .txt[.gz] (one document each), "
    ".jsonl[.gz]/.parquet/.json rows (#COLUMN, ?KEY=VALUE filters, &strip_markup), as `curate eval --text`."
)


@click.group("classifier")
def classifier() -> None:
    """Quality classifier (DCLM-style): reference text against web text, scored by held-out AUC."""


@classifier.command("train")
@click.option("--pos", multiple=True, required=True, help=f"Positives (reference text). {SPEC_HELP}")
@click.option("--neg", multiple=True, required=True, help="Negatives (raw web text). Same SPECs as --pos.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Model file to write; the report goes beside it as OUTPUT.json.",
)
@click.option("--eval-pos", multiple=True, help="Held-out positives for the AUC (never trained on).")
@click.option("--eval-neg", multiple=True, help="Held-out negatives for the AUC (never trained on).")
@click.option(
    "--chunk-chars",
    default=4000,
    show_default=True,
    help="Cut longer documents at paragraph breaks into pieces this long (0: keep whole).",
)
@click.option(
    "--max-per-source",
    default=None,
    type=int,
    help="At most this many pieces from each SPEC (a seeded sample).",
)
@click.option(
    "--balance/--no-balance",
    default=True,
    show_default=True,
    help="Sample the larger side down to the smaller one.",
)
@click.option("--epochs", default=5, show_default=True)
@click.option("--lr", default=0.5, show_default=True, help="Adagrad learning rate (per-feature steps).")
@click.option("--buckets", default=1 << 20, show_default=True, help="Hash buckets for word n-grams.")
@click.option("--ngrams", default=2, show_default=True, help="Word n-gram order (fastText's -wordNgrams).")
@click.option("--seed", default=0, show_default=True)
def train_cmd(
    pos,
    neg,
    output,
    eval_pos,
    eval_neg,
    chunk_chars,
    max_per_source,
    balance,
    epochs,
    lr,
    buckets,
    ngrams,
    seed,
) -> None:
    """Train and save a model; prints the report (counts, validation and held-out AUC) as JSON."""
    from curate.filters.classifier_recipe import RecipeOptions, train_recipe

    opt = RecipeOptions(
        chunk_chars=chunk_chars,
        max_per_source=max_per_source,
        balance=balance,
        epochs=epochs,
        lr=lr,
        buckets=buckets,
        ngrams=ngrams,
        seed=seed,
    )
    try:
        report = train_recipe(list(pos), list(neg), output, opt, list(eval_pos), list(eval_neg))
    except (ValueError, FileNotFoundError) as e:
        raise click.UsageError(str(e)) from None
    click.echo(json.dumps(_short(report)))


@classifier.command("eval")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--pos", multiple=True, required=True, help=f"Held-out positives. {SPEC_HELP}")
@click.option("--neg", multiple=True, required=True, help="Held-out negatives. Same SPECs.")
@click.option("--chunk-chars", default=4000, show_default=True, help="As in `train` (0: whole documents).")
@click.option(
    "--label", default="__label__hq", show_default=True, help="fastText models: the positive label."
)
@click.option("--threshold", default=0.5, show_default=True, help="For the accuracy figure.")
def eval_cmd(model, pos, neg, chunk_chars, label, threshold) -> None:
    """AUC of a model (ours or a fastText .bin) on held-out positives vs negatives, as JSON."""
    from curate.filters.classifier_recipe import evaluate_model

    try:
        report = evaluate_model(model, list(pos), list(neg), chunk_chars, label, threshold)
    except (ValueError, FileNotFoundError) as e:
        raise click.UsageError(str(e)) from None
    click.echo(json.dumps(report))


def _short(report: dict) -> dict:
    """The report without the per-source tables (those are in OUTPUT.json)."""
    out = {
        k: v for k, v in report.items() if not k.endswith("_counts") and k not in ("pos", "neg", "options")
    }
    if "held_out" in out:
        h = out["held_out"]
        out["held_out"] = {
            k: h[k]
            for k in (
                "auc",
                "accuracy",
                "positives",
                "negatives",
                "auc_by_positive_set",
                "dropped_seen_in_training",
            )
        }
    return out
