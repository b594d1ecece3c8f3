"""``reader: sft_jsonl`` - instruction data files whose records have no ``text`` field.

The generic ``jsonl`` reader requires a string under ``text_key`` (a document corpus); instruction
sets (Alpaca, ShareGPT, OpenAI ``messages``, preference pairs) have none. This reader is the jsonl
reader with ``text_key: null`` meaning "every JSON object is a record" (``text`` is null until
``sft_normalize`` fills it), and it also reads LLaMA-Factory's ``.json`` files (one JSON array of
objects; loaded whole, so meant for files that fit in memory; ``id`` position = 1-based index).
A value that is not an object is ``malformed:not_an_object``; a ``.json`` file that holds one
object (or any other non-array value) is ``malformed:not_a_json_array`` with the message
:func:`not_an_array_message` gives (``curate sft preview`` says the same); broken JSON is
``malformed:json``.

It is registered when ``curate.sft`` is imported. If the ``jsonl`` reader learns ``text_key: null``
this reader only adds the ``.json`` arrays.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
from pydantic import Field

from curate.io.readers.base import RAW_SNIPPET_CHARS, TEXT, Malformed, ReadBatch, register_reader
from curate.io.readers.decode import SchemaKeeper, build_table
from curate.io.readers.jsonl import JsonlReader, snippet

NOT_AN_ARRAY = "not a JSON array of objects"


def not_an_array_message(value: object) -> str:
    """What is wrong with a ``.json`` file whose top level is ``value`` (not a list): one message for
    the reader's reject and for ``curate sft preview``."""
    kind = {dict: "one JSON object", str: "a JSON string", type(None): "null"}.get(
        type(value), f"a JSON {type(value).__name__}"
    )
    return (f"{NOT_AN_ARRAY}: the file holds {kind} (a .json file is one [...] array; one object per line is "
            ".jsonl)")


@register_reader("sft_jsonl")
class SFTJsonlReader(JsonlReader):
    """Instruction data: JSONL (plain/gz/zst) or a LLaMA-Factory ``.json`` array; every JSON object is a record.

    No ``text`` field is required (``sft_normalize`` fills it). A value that is not an object is
    ``malformed:not_an_object``; a ``.json`` file that is not an array of objects is
    ``malformed:not_a_json_array``; broken JSON is ``malformed:json``.
    """  # noqa: E501

    reads_uris = False  # a .json array is parsed whole from a local copy

    class Config(JsonlReader.Config):
        text_key: str | None = Field(None, description="null: no text field required (instruction data).")

    def read(self, path: Path, relpath: str) -> Iterator[ReadBatch]:
        if path.suffix == ".json":
            yield from self._read_array(path, relpath)
        else:
            yield from super().read(path, relpath)

    def _read_array(self, path: Path, relpath: str) -> Iterator[ReadBatch]:
        try:
            values = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as e:
            yield ReadBatch(pa.table({}), [Malformed(relpath, 0, "json", str(e))])
            return
        if not isinstance(values, list):
            raw = snippet(path.read_bytes()[:RAW_SNIPPET_CHARS * 4])
            yield ReadBatch(
                pa.table({}), [Malformed(relpath, 0, "not_a_json_array", not_an_array_message(values), raw)]
            )
            return
        rows, lines, bad = self._objects(values, list(range(1, len(values) + 1)), relpath)
        keeper = SchemaKeeper()
        step = self.config.batch_rows
        for start in range(0, max(len(rows), 1), step):
            table = keeper.conform(
                self._table(rows[start : start + step], lines[start : start + step], relpath)
            )
            if table.num_rows or bad:
                yield ReadBatch(table, bad)
                bad = []

    def _objects(
        self, values: list, numbers: list[int], relpath: str
    ) -> tuple[list[dict], list[int], list[Malformed]]:
        rows, lines, bad = [], [], []
        for value, n in zip(values, numbers, strict=True):
            if type(value) is dict:
                rows.append(value)
                lines.append(n)
            else:
                bad.append(Malformed(relpath, n, "not_an_object", f"a JSON {type(value).__name__}",
                                     snippet(orjson.dumps(value))))
        return rows, lines, bad

    def _parse(self, holder: list[bytes], first_line: int, relpath: str):
        if self.config.text_key is not None:
            return super()._parse(holder, first_line, relpath)
        block = holder.pop()
        lines = block.split(b"\n")
        del block
        values, numbers, bad = [], [], []
        for n, line in enumerate(lines, first_line):
            if not line.strip():
                continue  # a blank line is not a record
            try:
                values.append(orjson.loads(line))
                numbers.append(n)
            except orjson.JSONDecodeError as e:
                try:
                    line.decode("utf-8")
                    what = "json"
                except UnicodeDecodeError:
                    what = "utf8"
                bad.append(Malformed(relpath, n, what, str(e), snippet(line)))
        rows, row_lines, not_objects = self._objects(values, numbers, relpath)
        return rows, row_lines, bad + not_objects

    def _table(self, rows: list[dict], lines: list[int], relpath: str) -> pa.Table:
        if self.config.text_key is not None:
            return super()._table(rows, lines, relpath)
        id_key = self.config.id_key
        meta: dict[str, list] = {}
        for r in rows:
            for k in r:
                if k not in meta:
                    meta[k] = []
        for k in list(meta):
            meta["source_id" if k == id_key else k] = [r.get(k) for r in rows]
            if k == id_key:
                del meta[k]
        ids = [self.make_id(relpath, n) for n in lines]
        return build_table(ids, self.source, {TEXT: ([None] * len(rows), pa.large_string())}, meta)
