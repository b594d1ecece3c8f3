"""Small pieces the readers share: streaming decompression, table building, schema conformance.

Decompression is done by hand with decompress objects (``zlib``, ``bz2``, ``lzma``, and
``compression.zstd`` or its backport ``backports.zstd``) rather than ``gzip.open``: we need the *compressed*
byte offset where a stream breaks off (truncated download, corrupt member) to report it, and we must keep
every byte decoded before that point.
"""

from __future__ import annotations

import bz2
import contextlib
import lzma
import zlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from curate.io.readers.base import ID, RENAMED_ON_COLLISION, SOURCE, TEXT

READ_CHUNK = 4 << 20  # compressed bytes per read() call
WINDOW = 4 << 20  # at most this many decompressed bytes per chunk handed out (bounded memory)
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


_SUFFIXES = {
    "gzip": (".gz", ".gzip"),
    "zstd": (".zst", ".zstd"),
    "bz2": (".bz2",),
    "xz": (".xz", ".lzma"),
}


def compression_of(path: Path | str) -> str:
    """``gzip``, ``zstd``, ``bz2``, ``xz`` or ``none`` from the file name."""
    name = str(path).lower()
    return next((kind for kind, ends in _SUFFIXES.items() if name.endswith(ends)), "none")


def _zstd_module():
    """The standard library's ``compression.zstd`` (3.14+) or its backport: a decompressor with
    ``max_length``, which python-zstandard's ``decompressobj`` lacks (its output is unbounded)."""
    try:
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        from backports import zstd  # type: ignore[no-redef]
    return zstd


def _new_decoder(kind: str):
    """A fresh decoder for one member/frame/stream. Each has ``decompress(data, max_length)``,
    ``eof`` and ``unused_data``; zlib keeps input it had no room for in ``unconsumed_tail``, the
    others buffer it inside and say so with ``needs_input``."""
    if kind == "gzip":
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    if kind == "zstd":
        return _zstd_module().ZstdDecompressor()
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor()


def _decode_errors() -> tuple[type[BaseException], ...]:
    return (zlib.error, OSError, EOFError, lzma.LZMAError, _zstd_module().ZstdError, ValueError)


class DecompressedStream:
    """Decompressed bytes of ``path`` (a local path or a URI, streamed), in chunks of at most
    ``window`` bytes; raises :class:`StreamError` where the stream breaks.

    Memory is bounded by ``chunk + window`` whatever the compression ratio: an 86 KB zstd file
    that inflates to 10 GB is handed out 4 MB at a time, so a reader can reject the over-long line
    it holds without ever holding it. ``offset`` is the compressed byte offset consumed so far
    (for messages: where in the file a line or a break is). Multi-member gzip (pigz, bgzip,
    concatenated files), multi-frame zstd and multi-stream bz2/xz are read to the end.
    """

    def __init__(self, path: Path | str, chunk: int = READ_CHUNK, window: int = WINDOW):
        self.path, self.chunk, self.window = path, chunk, window
        self.kind = compression_of(path)
        self.offset = 0

    def __iter__(self) -> Iterator[bytes]:
        from curate.io.storage import open_input

        with open_input(self.path) as f:
            if self.kind == "none":
                while data := f.read(self.chunk):
                    self.offset += len(data)
                    yield data
                return
            yield from self._inflate(f)

    def _inflate(self, f) -> Iterator[bytes]:
        kind, window = self.kind, self.window
        errors = _decode_errors()
        dec = _new_decoder(kind)
        is_zlib = kind == "gzip"
        data = b""  # compressed input not yet handed to the decoder
        started = False  # the current member has received input
        starved = False  # the decoder gave nothing without new input: give it some
        while True:
            feed = b""
            if is_zlib or starved or dec.needs_input:
                if not data and not (data := f.read(self.chunk)):
                    break
                feed, data = data, b""
            try:
                out = dec.decompress(feed, window)
            except errors as e:
                raise StreamError(kind, self.offset, f"corrupt {kind} data: {e}") from None
            self.offset += len(feed)
            started = True
            starved = not feed and not out
            if is_zlib and dec.unconsumed_tail:  # no room for it in this window: feed it next
                data = dec.unconsumed_tail
                self.offset -= len(data)
            if out:
                yield out
            if dec.eof:  # member/frame finished: the rest (if any) is the next member
                rest = dec.unused_data
                self.offset -= len(rest)
                if is_zlib and (tail := dec.flush()):
                    yield tail
                dec, started = _new_decoder(kind), False
                data = rest + data
        if is_zlib and (tail := dec.flush()):
            yield tail
        if started and not dec.eof:
            raise StreamError(kind, self.offset, f"{kind} stream ends before its end marker (truncated file)")


def iter_decompressed(path: Path | str, chunk: int = READ_CHUNK, window: int = WINDOW) -> Iterator[bytes]:
    """The chunks of :class:`DecompressedStream` (at most ``window`` bytes each)."""
    return iter(DecompressedStream(path, chunk, window))


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
