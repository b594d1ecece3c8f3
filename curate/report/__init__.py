"""The run report: ``OUT/report.html``, one self-contained page of charts (see :mod:`curate.report.build`)."""

from curate.report.build import ReportError, build_report

__all__ = ["ReportError", "build_report", "report_or_warn"]


def report_or_warn(out_dir) -> object:
    """Write the report at the end of a run; a failure is a warning on stderr, never a failed run."""
    import sys

    try:
        return build_report(out_dir)
    except Exception as e:  # the data is already committed; a broken report must not undo that
        print(f"warning: could not write {out_dir}/report.html: {type(e).__name__}: {e} (retry: curate report {out_dir})", file=sys.stderr)
        return None
