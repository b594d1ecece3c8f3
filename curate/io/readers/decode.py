"""Small pieces the readers share: streaming decompression, table building, schema conformance.

Decompression is done by hand with ``zlib`` / ``zstandard`` decompress objects rather than
``gzip.open``: we need the *compressed* byte offset where a stream breaks off (truncated download,
corrupt member) to report it, and we must keep every byte decoded before that point.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from curate.io.readers.base import ID, RENAMED_ON_COLLISION, SOURCE, TEXT

READ_CHUNK = 4 << 20  # compressed bytes per read() call
# A metadata column named like a core column is kept under another name (base.py owns id/source;
# ``text`` can collide when the text comes from another key, e.g. text_key="content").
_RENAMES = {**RENAMED_ON_COLLISION, TEXT: "text_orig"}


class StreamError(Exception):
    """A compressed stream that stops being decodable. Everything yielded before it is good."""

    def __init__(self, what: str, offset: int, detail: str):
        super().__init__(f"{what} at byte {offset}: {detail}")
        self.what = what
        self.offset = offset
        self.detail = detail


def compression_of(path: Path | str) -> str:
    """``gzip``, ``zstd`` or ``none`` from the file name."""
    name = str(path).lower()
    if name.endswith((".gz", ".gzip")):
        return "gzip"
    if name.endswith((".zst", ".zstd")):
        return "zstd"
    return "none"


def iter_decompressed(path: Path | str, chunk: int = READ_CHUNK) -> Iterator[bytes]:
    """Decompressed bytes of ``path`` (a local path or a URI, streamed) in chunks; raises
    :class:`StreamError` where the stream breaks.

    Multi-member gzip (pigz, bgzip, concatenated files) and multi-frame zstd are read to the end.
    """
    from curate.io.storage import open_input

    kind = compression_of(path)
    with open_input(path) as f:
        if kind == "none":
            while data := f.read(chunk):
                yield data
            return
        new = (lambda: zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)) if kind == "gzip" else _zstd_obj
        dec = new()
        consumed = 0  # compressed bytes fed to decoders so far
        started = False  # the current member has received input
        pending = b""
        while True:
            data = pending or f.read(chunk)
            pending = b""
            if not data:
                break
            try:
                out = dec.decompress(data)
            except Exception as e:  # zlib.error, zstandard.ZstdError
                raise StreamError(kind, consumed, f"corrupt {kind} data: {e}") from None
            started = True
            if out:
                yield out
            if dec.eof:  # member/frame finished: the rest (if any) is the next member
                rest = dec.unused_data
                consumed += len(data) - len(rest)
                if kind == "gzip" and (tail := dec.flush()):
                    yield tail
                dec, started = new(), False
                pending = rest
                if not pending and not (pending := f.read(chunk)):
                    return
            else:
                consumed += len(data)
        if started and not dec.eof:
            raise StreamError(kind, consumed, f"{kind} stream ends before its end marker (truncated file)")


def _zstd_obj():
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj()


def column_name(key: str, taken: set[str]) -> str:
    """Name for a metadata column: core names are renamed, and a rename never clobbers a column."""
    name = _RENAMES.get(key, key)
    while name != key and name in taken:
        name += "_"
    return name


def build_table(
    ids: list[str],
    source: str,
    core: dict[str, tuple[list, pa.DataType]],
    meta: dict[str, list],
) -> pa.Table:
    """``id``, ``source``, the reader's core columns (with fixed types), then metadata columns.

    Metadata columns keep Arrow's inferred type; a column whose values cannot share one type
    (an int in one row, a string in another) becomes a string column (strings as they are, other
    values as JSON text) rather than failing the batch.
    """
    arrays: dict[str, pa.Array] = {
        ID: pa.array(ids, type=pa.string()),
        SOURCE: pa.array([source] * len(ids), type=pa.string()),
    }
    for name, (values, typ) in core.items():
        arrays[name] = pa.array(values, type=typ)
    taken = set(arrays) | set(meta)
    for key, values in meta.items():
        name = column_name(key, taken)
        arrays[name] = _infer_array(values)
    return pa.table(arrays)


def _infer_array(values: list) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return _infer_array_as_text(values, pa.string())


_CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)


def _cast_or_keep(col: pa.ChunkedArray, typ: pa.DataType) -> pa.ChunkedArray:
    """``col`` as ``typ`` where that loses nothing; into a string column anything goes, as JSON text.

    Where neither works (a string arriving in an int column) the batch keeps its own type, and a
    column typed ``null`` so far adopts it.
    """
    with contextlib.suppress(*_CAST_ERRORS):
        return col.cast(typ, safe=True)
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return pa.chunked_array([_infer_array_as_text(col.to_pylist(), typ)], type=typ)
    return col


def _infer_array_as_text(values: list, typ: pa.DataType) -> pa.Array:
    import orjson

    return pa.array(
        [v if v is None or type(v) is str else orjson.dumps(v, default=str).decode() for v in values],
        type=typ,
    )


def empty_table(core: dict[str, pa.DataType]) -> pa.Table:
    """A zero-row table with the core columns, for batches that only carry malformed entries."""
    fields = [pa.field(ID, pa.string()), pa.field(SOURCE, pa.string())]
    fields += [pa.field(n, t) for n, t in core.items()]
    return pa.schema(fields).empty_table()


class SchemaKeeper:
    """Keeps the batches of one file on one schema where possible.

    The first non-empty batch fixes the schema. Later batches get missing columns as nulls, columns
    cast to the first type when the cast is safe, and new columns appended (a schema can only
    grow). Where a cast is impossible the batch keeps its own type; the writer must then unify.
    """

    def __init__(self) -> None:
        self.schema: pa.Schema | None = None

    def conform(self, table: pa.Table) -> pa.Table:
        if table.num_rows == 0 and self.schema is not None:
            return self.schema.empty_table()
        if self.schema is None:
            self.schema = table.schema
            return table
        cols, fields = [], []
        for field in self.schema:
            if field.name in table.column_names:
                col = table.column(field.name)
                if col.type != field.type:
                    col = _cast_or_keep(col, field.type)
            else:
                col = pa.nulls(table.num_rows, type=field.type)
            cols.append(col)
            fields.append(pa.field(field.name, col.type))
        for name in table.column_names:
            if name not in self.schema.names:
                cols.append(table.column(name))
                fields.append(pa.field(name, table.column(name).type))
        out = pa.Table.from_arrays(cols, schema=pa.schema(fields))
        if len(fields) > len(self.schema) or any(
            pa.types.is_null(f.type) and not pa.types.is_null(g.type)
            for f, g in zip(self.schema, fields, strict=False)
        ):
            self.schema = out.schema
        return out
