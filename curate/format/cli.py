"""`curate export RUN --to TARGET -o OUT`: a finished tokenized run to Megatron-LM, nanoGPT or MDS files."""

from __future__ import annotations

import time

import click

from curate.cli_args import fail
from curate.format.export import TARGETS


def _split_targets(ctx, param, values: tuple[str, ...]) -> list[str]:
    """``--to megatron --to mds`` or ``--to megatron,mds``: one list, checked by the export itself."""
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


@click.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(file_okay=False))
@click.option(
    "--to", "targets", multiple=True, required=True, callback=_split_targets, metavar="TARGET",
    help=f"Export target ({', '.join(TARGETS)}); repeat or comma-separate for several.",
)
@click.option("-o", "--out", required=True, type=click.Path(), help="Folder to write OUT/<target>/ into.")
@click.option(
    "--shuffle-seed", type=int, default=None,
    help="Shuffle whole documents with this seed (default: the shards' order).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def export(run_dir, targets, out, shuffle_seed, quiet) -> None:
    """Export RUN's tokenized shards (a finished `format: {kind: tokenized}` run) for other trainers.

    Writes OUT/megatron/tokens_document.{bin,idx} (Megatron-LM's IndexedDataset),
    OUT/nanogpt/{train.bin,train_offsets.npy,meta.json} (nanoGPT's memmap) and OUT/mds/ (MosaicML
    streaming), with the same tokens and document boundaries as the shards, and OUT/export.json
    (the run, files, sizes, sha256): the same bytes as the run's own `format: {export: [...]}`.
    Re-running with unchanged shards and options keeps the files.
    """
    from curate.format.run_export import ExportError, export_run
    from curate.io.storage import is_uri

    for name, where in (("RUN", run_dir), ("-o", out)):
        if is_uri(where):
            fail(f"error: {where}: export reads and writes local folders ({name} is a URI); run it on the "
                 "machine that holds the run's folder (for a published run, its --work-dir)")
    t0 = time.perf_counter()
    try:
        record = export_run(run_dir, out, targets, shuffle_seed=shuffle_seed, progress=not quiet)
    except ExportError as e:
        fail(f"error: {e}")
    mb = sum(f["bytes"] for f in record["files"]) / 1e6
    order = f", shuffled (seed {shuffle_seed})" if shuffle_seed is not None else ""
    click.echo(
        f"{record['documents']:,} documents, {record['tokens']:,} tokens{order} -> "
        + ", ".join(f"{out}/{t}" for t in record["targets"])
        + f" ({mb:.1f} MB, {time.perf_counter() - t0:.1f} s)"
    )
