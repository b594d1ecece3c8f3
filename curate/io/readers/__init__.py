"""Built-in input readers. Importing this package registers them (the ``reader:`` names in YAML)."""

from curate.io.readers import code, hf, jsonl, parquet, text, warc  # noqa: F401
