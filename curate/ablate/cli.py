"""`curate ablate ABLATION.yaml`: the command-line face of curate.ablate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("ablate", context_settings={"max_content_width": 100})
@click.argument("ablation", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", default=None, help="Output folder (default: `out:` in the YAML).")
@click.option(
    "--force", is_flag=True, help="Retrain runs that an earlier, different ablation started in OUT."
)
@click.option(
    "--report-only", is_flag=True, help="Rebuild OUT/ablation.html from OUT/ablation.json and exit."
)
@click.option("--seeds", "seeds_opt", default=None, metavar="0,1",
              help="Train only these seeds now (others' finished runs are still reported).")
@click.option("--arms", "arms_opt", default=None, metavar="A,B",
              help="Train only these arms now (others' finished runs are still reported).")
@click.option("--prepare-only", is_flag=True,
              help="Prepare the arms and the tokenizer, print tokens and epochs per arm, train nothing.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars for pipeline arms.")
def ablate(ablation, out, force, report_only, seeds_opt, arms_opt, prepare_only, quiet) -> None:
    """Train the same model on several data arms at the same token budget and compare them.

    \b
    Arms are shard folders (`data:`) or pipelines to run first (`pipeline:` + `set:` overrides, run
    into OUT/arms/NAME). All arms share one tokenizer (given, or trained on equal bytes of every
    arm), one preset and schedule, and the same number of training tokens (`tokens:`); an arm with
    less data repeats epochs, reported per arm. Each seed of `seeds:` trains every arm.
    \b
    Writes OUT/runs/ARM/seedN (normal run directories: a killed ablation resumes, finished runs
    are skipped), OUT/ablation.json (curves of held-out bits per byte against tokens, final
    scores, mean ± std, paired differences vs `baseline:`, lineage) and OUT/ablation.html.
    
    Spread one ablation over several calls or machines: `--prepare-only` once (the tokenizer),
    then `--seeds 0`, `--seeds 1,2` ...; runs are keyed by content, not path, so run folders
    trained elsewhere and copied into OUT/runs count as finished.
    """
    from curate.ablate.config import AblationError, load_ablation

    try:
        cfg = load_ablation(ablation, out=out)
    except AblationError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    if report_only:
        from curate.ablate.report import write_report

        o = Path(cfg.resolve(cfg.out))
        if not (o / "ablation.json").is_file():
            click.echo(f"error: {o}/ablation.json does not exist: run the ablation first", err=True)
            sys.exit(2)
        click.echo(str(write_report(json.loads((o / "ablation.json").read_text()), o / "ablation.html")))
        return
    from curate.ablate.runner import run_ablation

    try:
        seeds = None if seeds_opt is None else [int(x) for x in seeds_opt.split(",") if x.strip()]
    except ValueError:
        click.echo(f"error: --seeds {seeds_opt!r}: expected comma-separated integers, e.g. 0,1", err=True)
        sys.exit(2)
    only = None if arms_opt is None else [x.strip() for x in arms_opt.split(",") if x.strip()]
    try:
        doc = run_ablation(cfg, force=force, quiet=quiet, seeds=seeds, only_arms=only,
                           prepare_only=prepare_only)
    except AblationError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    if prepare_only:
        b = doc["budget"]
        click.echo(f"{b['steps']} steps x {b['tokens_per_step']:,} tokens = {b['train_tokens']:,} per run; "
                   f"tokenizer {doc['tokenizer']['path']}; nothing trained")
        return
    print_table(doc)
    o = Path(cfg.resolve(cfg.out))
    click.echo(f"wrote {o / 'ablation.json'} and {o / 'ablation.html'}")


def print_table(doc: dict) -> None:
    """The final table on stdout: mean ± std per arm and metric, epochs, paired differences."""
    s = doc["summary"]
    metrics = s["metrics"]
    head = ["arm", "epochs"] + metrics
    rows = []
    for arm, a in doc["arms"].items():
        row = [arm, f"{a['epochs']:.2f}"]
        for m in metrics:
            c = s["table"][arm][m]
            row.append(
                "–"
                if c["mean"] is None
                else f"{c['mean']:.4f}" + (f"±{c['std']:.4f}" if c["std"] is not None else "")
            )
        rows.append(row)
    for arm, d in s["paired"].items():
        row = [f"{arm}−{s['baseline']}", ""]
        for m in metrics:
            c = d[m]
            row.append("–" if c["mean"] is None else f"{c['mean']:+.4f}" + ("*" if c["clear"] else ""))
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    if s["paired"]:
        click.echo("* paired difference larger than 3x the std of the per-seed differences")
