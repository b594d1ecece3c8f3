"""The run report: ``OUT/report.html``, one self-contained page of charts (see :mod:`curate.report.build`).

`build` (Polars, the run layout) is imported on first use, so `curate.report.svg` stays importable
where only the training stack is installed (the ablation page uses it on a GPU machine).
"""

__all__ = ["ReportError", "build_report", "report_or_warn"]


def __getattr__(name: str):
    if name in ("ReportError", "build_report"):
        from curate.report import build

        return getattr(build, name)
    raise AttributeError(name)


def report_or_warn(out_dir) -> object:
    """Write the report at the end of a run; a failure is a warning on stderr, never a failed run."""
    import sys

    import curate.report as report  # through the package, so a patched build_report is the one called

    try:
        return report.build_report(out_dir)
    except Exception as e:  # the data is already committed; a broken report must not undo that
        print(
            f"warning: could not write {out_dir}/report.html: {type(e).__name__}: {e} (retry: curate report "
            f"{out_dir})",
            file=sys.stderr,
        )
        return None
