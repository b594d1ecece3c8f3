"""`curate report OUT`: (re)write OUT/report.html from a finished run's output folder."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option("-n", "--samples", default=3, show_default=True, help="Sample documents per drop reason (and kept).")
def report(out, samples) -> None:
    """Write OUT/report.html: funnel, drop reasons, lengths, languages, mix, dedup, samples."""
    from curate.report import ReportError, build_report

    try:
        path = build_report(Path(out), samples=samples)
    except ReportError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    click.echo(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")
