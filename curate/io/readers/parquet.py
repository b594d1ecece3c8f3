"""Parquet reader: streams record batches row group by row group with pyarrow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from curate.io import storage
from curate.io.readers.base import (
    ID,
    SOURCE,
    TEXT,
    Malformed,
    ReadBatch,
    Reader,
    ReaderConfig,
    make_id,
    register_reader,
)
from curate.io.readers.decode import SchemaKeeper, column_name, empty_table

_CORE_TYPES = {TEXT: pa.large_string()}


@register_reader("parquet")
class ParquetReader(Reader):
    """Rows of a Parquet file; ``id`` position = 0-based row index in the file.

    The text column must be a string column (binary is accepted if it is valid UTF-8). A null text
    is ``malformed:missing_text`` for that row; a file without the column is one
    ``malformed:missing_text`` entry; a file pyarrow cannot open (truncated footer, not Parquet) is
    ``malformed:parquet``; a row group that fails to decode is ``malformed:parquet`` at its first
    row and the following row groups are still read.
    """

    reads_uris = True

    class Config(ReaderConfig):
        text_key: str = Field("text", description="Column holding the document text.")
        id_key: str | None = Field(
            None, description="Column holding the input's own record id; kept as column `source_id`."
        )
        columns: list[str] | None = Field(
            None, description="Metadata columns to keep (default: all). The text column is always read."
        )

    def read(self, path: Path | str, relpath: str) -> Iterator[ReadBatch]:
        if storage.size(path) == 0:
            yield ReadBatch(empty_table(_CORE_TYPES), [Malformed(relpath, 0, "empty_file", "zero-byte file")])
            return
        try:
            # A remote file is read in place: the footer, then only the column chunks wanted.
            pf = pq.ParquetFile(
                storage.open_input(path, seekable=True) if storage.is_uri(str(path)) else path
            )
        except Exception as e:  # ArrowInvalid, OSError: not Parquet / footer missing
            yield ReadBatch(empty_table(_CORE_TYPES), [Malformed(relpath, 0, "parquet", str(e)[:500])])
            return
        key = self.config.text_key
        names = pf.schema_arrow.names
        if key not in names:
            yield ReadBatch(
                empty_table(_CORE_TYPES),
                [Malformed(relpath, 0, "missing_text", f"no column {key!r}; columns: {names}")],
            )
            return
        wanted = None
        if self.config.columns is not None:
            wanted = [key] + [c for c in self.config.columns if c != key and c in names]
        keeper = SchemaKeeper()
        row = 0
        any_rows = False
        for rg in range(pf.num_row_groups):
            rg_rows = pf.metadata.row_group(rg).num_rows
            try:
                for batch in pf.iter_batches(
                    batch_size=self.config.batch_rows, row_groups=[rg], columns=wanted
                ):
                    table, bad = arrow_to_records(
                        pa.Table.from_batches([batch]),
                        row,
                        relpath,
                        source=self.source,
                        text_key=key,
                        id_key=self.config.id_key,
                    )
                    row += batch.num_rows
                    any_rows = True
                    yield ReadBatch(keeper.conform(table), bad)
            except Exception as e:  # a corrupt page/row group: report it, go on with the next one
                start = sum(pf.metadata.row_group(i).num_rows for i in range(rg))
                lost = start + rg_rows - row  # the group's rows not yielded before the break
                detail = (
                    f"row group {rg} (rows {start}..{start + rg_rows - 1}, {lost} unread): {str(e)[:400]}"
                )
                yield ReadBatch(
                    keeper.conform(empty_table(_CORE_TYPES)),
                    [Malformed(relpath, row, "parquet", detail, rows=max(lost, 1))],
                )
                row = start + rg_rows
        if not any_rows and pf.metadata.num_rows == 0:
            yield ReadBatch(empty_table(_CORE_TYPES), [Malformed(relpath, 0, "empty_file", "no rows")])


def arrow_to_records(
    table: pa.Table, first_row: int, relpath: str, *, source: str, text_key: str, id_key: str | None = None
) -> tuple[pa.Table, list[Malformed]]:
    """An Arrow batch of input rows -> (records with id/source/text first, rejects).

    Row ``first_row + i`` gets position ``first_row + i``. Shared by the Parquet and HF readers.
    """
    key = text_key
    text = table.column(key)
    bad: list[Malformed] = []
    valid = None
    if pa.types.is_binary(text.type) or pa.types.is_large_binary(text.type):
        decoded = []
        for i, v in enumerate(text.to_pylist()):
            try:
                decoded.append(None if v is None else v.decode("utf-8"))
            except UnicodeDecodeError as e:
                decoded.append(None)
                bad.append(
                    Malformed(relpath, first_row + i, "utf8", str(e), v[:1000].decode("utf-8", "replace"))
                )
        text = pa.chunked_array([pa.array(decoded, pa.large_string())])
    elif not (
        pa.types.is_string(text.type)
        or pa.types.is_large_string(text.type)
        or pa.types.is_string_view(text.type)
    ):
        bad.append(
            Malformed(
                relpath,
                first_row,
                "missing_text",
                f"column {key!r} has type {text.type}, not string ({table.num_rows} rows)",
            )
        )
        return empty_table(_CORE_TYPES), bad
    text = text.cast(pa.large_string())
    if text.null_count:
        valid = pc.is_valid(text)
        nulls = pc.indices_nonzero(pc.invert(valid)).to_pylist()
        already = {m.position for m in bad}
        for i in nulls:
            if first_row + i not in already:
                bad.append(Malformed(relpath, first_row + i, "missing_text", f"null {key!r}"))
    n = table.num_rows
    ids = pa.array([make_id(source, relpath, first_row + i) for i in range(n)], pa.string())
    arrays = {ID: ids, SOURCE: pa.array([source] * n, pa.string()), TEXT: text}
    taken = set(arrays) | set(table.column_names)
    for name in table.column_names:
        if name == key:
            continue
        out = "source_id" if name == id_key else column_name(name, taken)
        arrays[out] = table.column(name)
    out_table = pa.table(arrays)
    if valid is not None:
        out_table = out_table.filter(valid)
    bad.sort(key=lambda m: m.position)
    return out_table, bad
