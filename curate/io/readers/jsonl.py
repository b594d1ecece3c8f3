"""JSON Lines reader: plain, ``.gz`` and ``.zst``, streamed in blocks cut at newlines.

Parsing is orjson per line plus column building, chosen by measurement (bench/readers.py, 100 MB
of ~2 KB documents on one core): pyarrow.json 167 MB/s, polars.read_ndjson 219 MB/s, orjson +
columns 88 MB/s. The two bulk parsers were rejected for correctness, not speed: pyarrow.json
*segfaults* on deeply nested input (100k ``[``), accepts invalid UTF-8 into string columns and
turns ISO date strings into timestamps; polars silently coerces ``{"text": 1}`` to ``"1"`` and
mixed-type fields to strings. orjson rejects all of these per line, so every bad line becomes a
precise ``malformed:<what>`` with its line number while the good lines around it are kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
from pydantic import Field

from curate.io import storage
from curate.io.readers.base import (
    RAW_SNIPPET_CHARS,
    TEXT,
    Malformed,
    ReadBatch,
    Reader,
    ReaderConfig,
    register_reader,
)
from curate.io.readers.decode import (
    READ_CHUNK,
    DecompressedStream,
    SchemaKeeper,
    StreamError,
    build_table,
    compression_of,
    empty_table,
)

_CORE_TYPES = {TEXT: pa.large_string()}
HUGE_BLOCK = 64 << 20


def snippet(raw: bytes) -> str:
    """The first ``RAW_SNIPPET_CHARS`` characters of a raw line, for a Malformed record."""
    return raw[: RAW_SNIPPET_CHARS * 4].decode("utf-8", "replace")[:RAW_SNIPPET_CHARS]


def _near(stream: DecompressedStream) -> str:
    """Where the stream is in the file, for a message about the line that starts here."""
    unit = "byte" if stream.kind == "none" else f"compressed ({stream.kind}) byte"
    return f"; it starts before {unit} {stream.offset}"


@register_reader("jsonl")
class JsonlReader(Reader):
    """One JSON object per line; ``id`` position = 1-based line number in the decompressed stream.

    Blank lines are not records. A line that is not valid JSON (including nesting deeper than
    orjson's 1024 levels and raw NUL bytes) is ``malformed:json``; one that is not UTF-8 is
    ``malformed:utf8``; a value that is not an object, or an object without a string under
    ``text_key``, is ``malformed:missing_text``. A truncated or corrupt ``.gz``/``.zst`` keeps every
    line decoded before the break and adds one ``malformed:gzip``/``malformed:zstd`` whose position
    is the *compressed* byte offset. A file with no records at all is ``malformed:empty_file``.
    """

    reads_uris = True

    class Config(ReaderConfig):
        text_key: str = Field("text", description="Field holding the document text (must be a string).")
        id_key: str | None = Field(
            None,
            description="Field holding the input's own record id; kept as column `source_id`. The record "
            "`id` is always derived from source + file + line, so it is stable and unique.",
        )
        max_line_bytes: int = Field(
            256 << 20,
            description="Lines longer than this are not parsed (bounded memory); each becomes "
            "`malformed:line_too_long`.",
            gt=0,
        )

    def read(self, path: Path | str, relpath: str) -> Iterator[ReadBatch]:
        if storage.size(path) == 0:
            yield ReadBatch(empty_table(_CORE_TYPES), [Malformed(relpath, 0, "empty_file", "zero-byte file")])
            return
        keeper = SchemaKeeper()
        pending: list[Malformed] = []  # malformed entries found while cutting blocks
        seen = 0
        for holder, first_line in self._blocks(path, relpath, pending):
            rows, lines, bad = self._parse(holder, first_line, relpath)
            bad = pending + bad
            pending.clear()  # _blocks keeps appending to this same list
            seen += len(rows) + len(bad)
            step = self.config.batch_rows
            for start in range(0, max(len(rows), 1), step):
                chunk_rows, chunk_lines = rows[start : start + step], lines[start : start + step]
                table = keeper.conform(self._table(chunk_rows, chunk_lines, relpath))
                if table.num_rows or bad:
                    yield ReadBatch(table, bad)
                    bad = []
        if pending or not seen:
            if not seen and not pending:
                pending.append(
                    Malformed(relpath, 0, "empty_file", "no records (only blank lines or empty stream)")
                )
            yield ReadBatch(keeper.conform(empty_table(_CORE_TYPES)), pending)

    # -- cutting the stream into blocks of whole lines -----------------------------------------

    def _blocks(
        self, path: Path | str, relpath: str, bad: list[Malformed]
    ) -> Iterator[tuple[list[bytes], int]]:
        """Blocks of whole lines and the line number of each block's first line."""
        max_line = self.config.max_line_bytes
        chunk_size = READ_CHUNK if compression_of(path) == "none" else READ_CHUNK // 4
        line_no = 1
        parts: list[bytes] = []  # the start of the current, unfinished line
        size = 0
        skipping = False  # inside an over-long line: drop bytes up to its newline
        error: StreamError | None = None
        stream = DecompressedStream(path, chunk_size)
        where = ""  # the compressed offset near the start of the current line, for messages
        try:
            for chunk in stream:
                if skipping:
                    i = chunk.find(b"\n")
                    if i < 0:
                        continue
                    chunk, skipping, line_no = chunk[i + 1 :], False, line_no + 1
                i = chunk.rfind(b"\n")
                if i < 0:
                    if not parts:
                        where = _near(stream)
                    parts.append(chunk)
                    size += len(chunk)
                    if size > max_line:
                        bad.append(
                            Malformed(
                                relpath,
                                line_no,
                                "line_too_long",
                                f"line longer than {max_line} bytes{where}",
                                snippet(parts[0]),
                            )
                        )
                        parts, size, skipping = [], 0, True
                    continue
                parts.append(chunk[: i + 1])
                rest = chunk[i + 1 :]
                block = b"".join(parts)
                parts, size = ([rest] if rest else []), len(rest)
                if rest:
                    where = _near(stream)
                n_lines = block.count(b"\n")
                # Handed over in a list the parser empties, so that this suspended generator does
                # not keep a second reference alive: a 100 MB line must not cost 100 MB twice.
                holder = [block]
                del block
                yield holder, line_no
                line_no += n_lines
        except StreamError as e:
            error = e
        if parts and not skipping:
            yield [b"".join(parts)], line_no  # the last line has no newline (or was cut by a truncation)
        if error is not None:
            bad.append(
                Malformed(relpath, error.offset, error.what, f"{error.detail}; lines before {line_no} kept")
            )

    # -- parsing one block ----------------------------------------------------------------------

    def _parse(
        self, holder: list[bytes], first_line: int, relpath: str
    ) -> tuple[list[dict], list[int], list[Malformed]]:
        block = holder.pop()
        block_bytes = len(block)
        if len(block) > HUGE_BLOCK and block.count(b"\n") < 64:
            # A few huge lines: parse zero-copy slices instead of split()'s copies.
            view = memoryview(block)
            lines: list = []
            start = 0
            while start < len(block):
                end = block.find(b"\n", start)
                end = len(block) if end < 0 else end
                lines.append(view[start:end])
                start = end + 1
        else:
            lines = block.split(b"\n")
        del block  # with split(), the lines are copies: the block can go now
        if not lines[-1]:
            lines.pop()
        loads = orjson.loads
        bad: list[Malformed] = []
        max_line = self.config.max_line_bytes
        if block_bytes > max_line:  # a line within one chunk can be over the cap too
            for k, line in enumerate(lines):
                if len(line) > max_line:
                    bad.append(
                        Malformed(relpath, first_line + k, "line_too_long", f"line of {len(line)} bytes, "
                                  f"over max_line_bytes={max_line}", snippet(bytes(line[:4096])))
                    )  # fmt: skip
                    lines[k] = b""  # a blank line: not parsed, not a record
        try:  # fast path: every line is a JSON value (no blank lines, no errors)
            values = [loads(line) for line in lines]
            numbers: list[int] = list(range(first_line, first_line + len(lines)))
        except orjson.JSONDecodeError:
            values, numbers = [], []
            for n, line in enumerate(lines, first_line):
                try:
                    values.append(loads(line))
                    numbers.append(n)
                except orjson.JSONDecodeError as e:
                    line = bytes(line)  # a memoryview slice on the huge-line path
                    if not line.strip():
                        continue  # a blank line is not a record
                    what = "json"
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError:
                        what = "utf8"
                    bad.append(Malformed(relpath, n, what, str(e), snippet(line)))
        del lines
        key = self.config.text_key
        rows: list[dict] = []
        row_lines: list[int] = []
        for value, n in zip(values, numbers, strict=True):
            if type(value) is dict and type(value.get(key)) is str:
                rows.append(value)
                row_lines.append(n)
            else:
                detail = (
                    f"no string field {key!r}"
                    if type(value) is dict
                    else f"a JSON {type(value).__name__}, not an object"
                )
                bad.append(Malformed(relpath, n, "missing_text", detail, snippet(orjson.dumps(value))))
        return rows, row_lines, bad

    def _table(self, rows: list[dict], lines: list[int], relpath: str) -> pa.Table:
        if not rows:
            return empty_table(_CORE_TYPES)
        key, id_key = self.config.text_key, self.config.id_key
        first = list(rows[0])
        known = set(first)
        extra: dict[str, None] = {}
        for r in rows:
            if r.keys() != known:
                for k in r:
                    if k not in known and k not in extra:
                        extra[k] = None
        meta: dict[str, list] = {}
        for k in first + list(extra):
            if k == key:
                continue
            name = "source_id" if k == id_key else k
            meta[name] = [r.get(k) for r in rows]
        prefix = self.make_id(relpath, 0)[:-10]  # make_id's hash once per batch, not per row
        ids = [f"{prefix}{n:010d}" for n in lines]
        texts = [r[key] for r in rows]
        return build_table(ids, self.source, {TEXT: (texts, pa.large_string())}, meta)
