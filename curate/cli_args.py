"""Pieces shared by the root ``curate`` command and the sub-commands that live with their code
(``curate report``, ...): the error exit, the ``--work-dir`` option and how OUT names a local folder.

They live here, not in :mod:`curate.cli`, because ``curate.cli`` loads those sub-commands: a
sub-command importing it back would be an arrow running up (and a cycle).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


def fail(msg: str, code: int = 2) -> None:
    """Print ``msg`` to stderr and exit with ``code`` (2: bad input or a refused run)."""
    click.echo(msg, err=True)
    sys.exit(code)


def local_run_dir(out: str, work_dir: str | None = None) -> Path:
    """The local folder of a run: OUT itself, or for a URI the work folder that publishes there."""
    from curate.io.storage import is_uri, strip_file_scheme

    if is_uri(out):
        from curate.engine.publish import default_work_dir

        return Path(work_dir) if work_dir else default_work_dir(out)
    path = Path(strip_file_scheme(out))
    if not path.is_dir():
        fail(f"error: {out} is not a folder")
    return path


WORK_DIR_OPTION = click.option(
    "--work-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="With a URI: the run's work folder, if not the default.",
)
