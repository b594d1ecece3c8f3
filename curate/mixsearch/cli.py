"""`curate mix search SEARCH.yaml`: the command-line face of curate.mixsearch."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.group("mix", context_settings={"max_content_width": 100})
def mix() -> None:
    """Mixing tools over shard folders (the `mix` stage itself is a pipeline stage)."""


@mix.command("search")
@click.argument("search", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", default=None, help="Output folder (default: `out:` in the YAML).")
@click.option(
    "--force", is_flag=True, help="Retrain proxies that an earlier, different search started in OUT."
)
@click.option("--no-validate", "no_validate", is_flag=True, help="Skip the `validate:` section.")
@click.option(
    "--validate-only",
    is_flag=True,
    help="Only train the validation mixes of the search in OUT/search.json (no proxies).",
)
@click.option(
    "--report-only", is_flag=True, help="Rebuild OUT/search.html and OUT/mix.yaml from search.json."
)
@click.option("-q", "--quiet", is_flag=True, help="Fewer progress lines.")
def search(search, out, force, no_validate, validate_only, report_only, quiet) -> None:
    """Find mix weights with proxy models: RegMix's recipe over curate's `mix`, trainer and ablations.

    \b
    Samples `candidates:` weight vectors (Dirichlet around the sources' natural token shares,
    seeded, inside `bounds:`), builds each candidate's data with the `mix` stage's arithmetic,
    trains one small proxy per candidate (OUT/runs/cNNN: a killed search resumes, finished proxies
    are skipped), scores each on the weighted `target:` sets (bits per byte), fits a regression
    from weights to target loss (k-fold Spearman on held-out candidates), and searches it for the
    best mix under the bounds.
    \b
    Writes OUT/mix.yaml (a ready `mix` stage block with the predicted loss and the candidates'
    table), OUT/candidates.csv, OUT/search.json and OUT/search.html. With a `validate:` section it
    then trains the chosen, natural and uniform mixes at a larger budget over seeds
    (OUT/validate, an ablation) and reports the paired differences.
    """
    from curate.mixsearch.config import SearchError, load_search

    if no_validate and validate_only:
        click.echo("error: --no-validate and --validate-only contradict each other", err=True)
        sys.exit(2)
    try:
        cfg = load_search(search, out=out)
    except SearchError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    o = Path(cfg.resolve(cfg.out))
    if report_only:
        from curate.mixsearch.mixblock import write_mix_block
        from curate.mixsearch.report import write_report

        if not (o / "search.json").is_file():
            click.echo(f"error: {o}/search.json does not exist: run the search first", err=True)
            sys.exit(2)
        doc = json.loads((o / "search.json").read_text())
        write_mix_block(doc, o / "mix.yaml")
        click.echo(str(write_report(doc, o / "search.html")))
        return
    from curate.mixsearch.runner import run_search

    mode = "only" if validate_only else ("skip" if no_validate else "auto")
    try:
        doc = run_search(cfg, force=force, quiet=quiet, validate=mode)
    except SearchError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    print_summary(doc)
    click.echo(f"wrote {o / 'mix.yaml'}, {o / 'candidates.csv'}, {o / 'search.json'} and {o / 'search.html'}")


def print_summary(doc: dict) -> None:
    """The chosen mix, the fit's held-out Spearman and, when run, the validation."""
    fit = doc["fit"]
    m = fit["model"]
    rho = m["spearman_oof"]
    click.echo(
        f"regression {m['model']}: Spearman on held-out candidates "
        f"{'–' if rho is None else f'{rho:.3f}'} ({len(doc['candidates'])} proxies)"
    )
    for k, a in [("chosen", fit["chosen"]), *fit["anchors"].items()]:
        w = " ".join(f"{n} {x:.3f}" for n, x in a["weights"].items())
        click.echo(f"  {k:8s} predicted {a['predicted']:.4f}  {w}")
    v = doc.get("validation")
    if v:
        for k, t in v["table"].items():
            sd = "" if t["std"] is None else f" ± {t['std']:.4f}"
            click.echo(
                f"  validation {k:8s} {t['mean']:.4f}{sd}"
                if t["mean"] is not None
                else f"  validation {k:8s} –"
            )
        for k, p in v["paired"].items():
            if p["mean"] is not None:
                sd = "" if p["std"] is None else f" ± {p['std']:.4f}"
                click.echo(f"  {k}: {p['mean']:+.4f}{sd} (beats by 3 std: {p['beats']})")
