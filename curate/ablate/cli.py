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
@click.option("-q", "--quiet", is_flag=True, help="No progress bars for pipeline arms.")
def ablate(ablation, out, force, report_only, quiet) -> None:
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
        doc = run_ablation(cfg, force=force, quiet=quiet)
    except AblationError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
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
