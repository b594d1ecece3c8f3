"""Training formats (``format`` stage): pretraining text, packed token rows, SFT chat rows."""

from curate.format.stage import Format

__all__ = ["Format"]
