"""General-purpose built-in stages (no heavy dependencies). Importing this package registers them."""

from curate.stages import sample  # noqa: F401
