"""``curate demo-data DIR``: a thin click layer over :func:`curate.demo.generate`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click


@click.command("demo-data")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Size multiplier: 1 runs the demo in about a minute; 1000 writes gigabytes.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Same seed and scale give identical bytes."
)
@click.option(
    "--workers",
    type=int,
    default=0,
    help="Processes writing files in parallel; 0 (default): 1 up to scale 2, else all CPUs. "
    "The bytes written do not depend on it.",
)
def demo_data(out_dir: Path, scale: float, seed: int, workers: int) -> None:
    """Generate the synthetic demo corpus (web WARCs, books, code, JSONL, SFT sets) under DIR."""
    from curate.demo import generate

    if scale <= 0:
        raise click.BadParameter("must be > 0", param_hint="--scale")
    if workers <= 0:
        workers = 1 if scale <= 2 else (os.cpu_count() or 1)
    try:
        counts = generate(out_dir, scale=scale, seed=seed, workers=workers)
    except FileExistsError as e:
        raise click.ClickException(str(e)) from e
    mb = counts["bytes"] / 1e6
    click.echo(json.dumps(counts, indent=1))
    click.echo(
        f"wrote {mb:.1f} MB to {out_dir} in {counts['seconds']:.1f} s "
        f"({mb / max(counts['seconds'], 1e-9):.1f} MB/s)"
    )
