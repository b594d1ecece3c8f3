"""The `curate` command line: a thin layer over the Python API (curate.engine.*).

Exit codes: 0 success, 1 a task failed, 2 bad input (pipeline file, arguments) or a refused run.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import json
from pathlib import Path

import click

from curate import __version__
from curate.cli_args import WORK_DIR_OPTION, fail, local_run_dir


def _load(pipeline: str, overrides: tuple[str, ...], check_inputs: bool = True):
    from curate.engine.errors import SpecError
    from curate.engine.spec import load_spec

    try:
        return load_spec(pipeline, list(overrides), check_inputs=check_inputs)
    except SpecError as e:
        fail("error: invalid pipeline\n" + "\n".join(f"  {p}" for p in e.problems))


# Sub-commands that live with the code they drive. They are imported only when used, so
# `curate run` does not pay for torch; a package not present hides its command.
_PLUGINS = {
    "demo-data": ("curate.demo.cli", "demo_data"),
    "report": ("curate.report.cli", "report"),
    "export": ("curate.format.cli", "export"),
    "classifier": ("curate.filters.cli", "classifier"),
    "sft": ("curate.sft.cli", "sft"),
    "tokenizer": ("curate.train.tokenizer_cli", "tokenizer"),
    "train": ("curate.train.cli", "train"),
    "generate": ("curate.train.cli", "generate"),
    "chat": ("curate.train.cli", "chat"),
    "eval": ("curate.eval.cli", "eval_cmd"),
    "ablate": ("curate.ablate.cli", "ablate"),
    "mix": ("curate.mixsearch.cli", "mix"),
}


def _plugin(name: str) -> click.Command | None:
    mod, attr = _PLUGINS[name]
    if importlib.util.find_spec(mod) is None:
        return None
    return getattr(importlib.import_module(mod), attr, None)


class _LazyGroup(click.Group):
    def list_commands(self, ctx):
        extra = [n for n, (mod, _) in _PLUGINS.items() if _spec_exists(mod)]
        return sorted(set(super().list_commands(ctx)) | set(extra))

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        if cmd is None and name in _PLUGINS:
            cmd = _plugin(name)
        return cmd


def _spec_exists(mod: str) -> bool:
    try:
        return importlib.util.find_spec(mod) is not None
    except ModuleNotFoundError:
        return False


@click.group(
    cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="curate")
def main() -> None:
    """Curate LLM training data into Parquet shards, and train on them."""


@main.command()
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.option("-o", "--out", help="Output folder or URI such as s3://bucket/run (default: output.path).")
@click.option("-w", "--workers", type=int, default=1, show_default=True, help="Parallel worker processes.")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a pipeline key, e.g. output.shard_rows=5000 (repeatable).",
)
@click.option("--force", is_flag=True, help="Start over in an output folder that holds another run.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option(
    "--address", default=None, help="Ray cluster address (with --executor ray); default: start a local one."
)
@click.option("--work-dir", default=None,
              help="With a URI output: the local folder the run works in before it publishes (default: "
              "$CURATE_WORK_DIR or ~/.cache/curate/work, one folder per output). Or an object store "
              "(s3://bucket/work or gs://bucket/work): the run's work state lives there, so Ray "
              "workers need no shared disk; each task stages on local disk ($CURATE_STAGING).")
@click.option("--lease-seconds", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="With --work-dir s3:// or gs://: the term of the driver's lease (renewed every "
              "third of it); a dead driver's run can be taken over once it runs out.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 when an input file or source ended with 0 rows through reader or "
    "format rejections (malformed:*, sft_missing_key:*, ...), not through quality filters.",
)
def run(pipeline, out, workers, overrides, force, executor, address, work_dir, lease_seconds, quiet,
        strict) -> None:
    """Run PIPELINE (a YAML file); re-running the same command resumes an interrupted run."""
    from curate.engine.errors import RunRefused, TaskFailed
    from curate.engine.runner import run_pipeline
    from curate.engine.spec import custom_stage_names
    from curate.io.storage import StorageError

    spec = _load(pipeline, overrides)
    for name in custom_stage_names(spec):
        click.echo(f"note: running custom stage code from {name} (named in {pipeline})", err=True)
    try:
        result = run_pipeline(
            spec,
            out,
            workers=workers,
            force=force,
            quiet=quiet,
            executor=executor,
            address=address,
            work_dir=work_dir,
            lease_seconds=lease_seconds,
        )
    except RunRefused as e:
        fail(f"error: {e}")
    except KeyboardInterrupt:
        fail("interrupted: finished tasks are kept; re-run the same command to resume", code=130)
    except (TaskFailed, OSError) as e:
        if _disk_full(e):
            fail(
                f"error: disk full (no space left on the device holding {out or spec.output.path}). Finished "
                "tasks are "
                "kept and no partial shard has a final name: free some space and re-run the same command to "
                "resume.",
                code=1,
            )
        if isinstance(e, StorageError):  # a store unreachable or unwritable: the message names it
            fail(f"error: {e}", code=1)
        if isinstance(e, OSError):
            raise
        fail(f"error: {e}", code=1)
    from curate.engine.empty import describe, format_losses

    s = result.stats
    click.echo(
        f"{spec.name}: {s['totals']['input_records']:,} records in, {s['totals']['output_rows']:,} rows out "
        f"in {len(result.manifest['shards'])} shard(s), {s['throughput']['wall_seconds']:.1f} s -> "
        f"{result.location}"
    )
    empty = s.get("empty") or {}
    for line in describe(empty):
        click.secho(line, err=True, fg="yellow" if line.startswith("warning") else None)
    _echo_global_warnings(s)
    if strict and format_losses(empty):
        fail(f"error: --strict: {len(format_losses(empty))} input(s) ended with 0 rows through reader/format "
              "rejections (see the warnings above; the rejected rows are in OUT/rejects/)", code=1)


def _echo_global_warnings(stats: dict) -> None:
    """Warnings of global stages (a mix share missed by more than its tolerance, ...) at the end of a run."""
    for name, summary in (stats.get("global") or {}).items():
        for w in (summary.get("warnings") or []) if isinstance(summary, dict) else []:
            click.echo(click.style(f"warning: {name}: {w}", fg="yellow"), err=True)


def _disk_full(e: BaseException | None) -> bool:
    """ENOSPC anywhere in the exception chain (Python's OSError, or Arrow's message for it)."""
    seen = 0
    while e is not None and seen < 20:
        if isinstance(e, OSError) and (e.errno == errno.ENOSPC or "No space left on device" in str(e)):
            return True
        if "No space left on device" in str(e):  # a worker's error re-raised as TaskFailed text
            return True
        e = e.__cause__ or e.__context__
        seen += 1
    return False


@main.command()
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
def validate(pipeline, overrides) -> None:
    """Check PIPELINE without running it (stages, keys, types, inputs).

    Nothing is read or written and no stage runs. A custom stage named by import path
    (`stage: package.module:Class`) is imported to check its options against its Config, which
    runs that module's top-level code: name only modules you trust.
    """
    from curate.engine.plan import plan_phases, plan_units
    from curate.engine.spec import custom_stage_names

    spec = _load(pipeline, overrides)
    for name in custom_stage_names(spec):
        click.echo(
            f"note: imported custom stage module for {name} to check its options (named in {pipeline})",
            err=True,
        )
    units = plan_units(spec)
    phases = plan_phases(spec)
    click.echo(
        f"{pipeline}: ok - {len(spec.inputs)} input(s), {len(units)} task(s), {len(spec.stages)} stage(s) in "
        f"{len(phases)} phase(s)"
    )


@main.command()
@click.option(
    "--markdown", is_flag=True, help="Print the YAML reference as Markdown (used for docs/REFERENCE.md)."
)
@click.argument("name", required=False)
def stages(markdown, name) -> None:
    """List the built-in stages and readers with their options."""
    from curate.docs import reference_markdown, stage_summary

    click.echo(reference_markdown() if markdown else stage_summary(name))


@main.command()
@click.argument("out")
@click.option("-n", "--samples", default=3, show_default=True, help="Sample rows to show.")
@WORK_DIR_OPTION
def inspect(out, samples, work_dir) -> None:
    """Summarise a finished run (a folder or a published URI): rows, sources, drop reasons, samples."""
    import tempfile

    from curate.inspect import inspect_run
    from curate.io.storage import is_uri

    local = local_run_dir(out, work_dir)
    if is_uri(out) and not (local / "manifest.json").exists():
        from curate.engine.publish import local_copy_for_reading

        with tempfile.TemporaryDirectory(prefix="curate-inspect-") as tmp:
            try:
                local_copy_for_reading(out, Path(tmp), samples=samples > 0)
            except (FileNotFoundError, OSError) as e:
                fail(f"error: {e}")
            click.echo(inspect_run(Path(tmp), samples).replace(tmp, out))
        return
    click.echo(inspect_run(local, samples))


@main.command()
@click.argument("out")
@WORK_DIR_OPTION
def status(out, work_dir) -> None:
    """What a running or stopped run has done and what is left (OUT, or the URI it publishes to)."""
    from curate.inspect import run_status

    local = local_run_dir(out, work_dir)
    if not local.is_dir():
        fail(f"error: no run publishing to {out} has worked on this machine (looked in {local}); "
              f"give --work-dir, or see `curate inspect {out}` for what was published")
    click.echo(run_status(local))


@main.command("schema")
@click.argument("out")
def schema_cmd(out) -> None:
    """Print the manifest of a run (a folder or a published URI) as JSON."""
    from curate.io.storage import is_uri, join, read_bytes

    if is_uri(out):
        try:
            manifest = json.loads(read_bytes(join(out, "manifest.json")))
        except OSError as e:
            fail(f"error: {e}")
    else:
        manifest = json.loads((local_run_dir(out) / "manifest.json").read_text())
    click.echo(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
