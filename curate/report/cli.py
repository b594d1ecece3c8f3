"""`curate report OUT`: (re)write OUT/report.html from a finished run's output folder."""

from __future__ import annotations

import sys

import click

from curate.cli_args import WORK_DIR_OPTION, local_run_dir


@click.command()
@click.argument("out")
@click.option(
    "-n", "--samples", default=3, show_default=True, help="Sample documents per drop reason (and kept)."
)
@WORK_DIR_OPTION
def report(out, samples, work_dir) -> None:
    """Write OUT/report.html: funnel, drop reasons, lengths, languages, mix, dedup, samples.

    For a run published to a URI the report is built from its work folder and published beside it."""
    from curate.io import storage
    from curate.report import ReportError, build_report

    local = local_run_dir(out, work_dir)
    try:
        if not local.is_dir():
            raise ReportError(
                f"no work folder for {out} on this machine (looked in {local}); give --work-dir"
            )
        path = build_report(local, samples=samples)
        if storage.is_uri(out):
            storage.upload(path, storage.join(out, "report.html"))
    except (ReportError, OSError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    where = storage.join(out, "report.html") if storage.is_uri(out) else path
    click.echo(f"wrote {where} ({path.stat().st_size / 1024:.0f} KB)")
