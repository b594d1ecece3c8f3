"""Plain-text reader: one file = one document (books, articles, transcripts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

import pyarrow as pa
from pydantic import Field

from curate.io.readers.base import TEXT, Malformed, ReadBatch, Reader, ReaderConfig, register_reader
from curate.io.readers.decode import StreamError, build_table, compression_of, empty_table, iter_decompressed

_CORE_TYPES = {TEXT: pa.large_string()}
BINARY_SNIFF_BYTES = 8192


def decode_text(data: bytes, fallback: str) -> tuple[str | None, str, str]:
    """``(text, encoding, error)``: UTF-8 (BOM stripped) first, then detection if ``fallback="detect"``.

    Detection uses charset_normalizer (pure Python, offline); it is trusted only when it finds an
    encoding that decodes the whole input, which old Latin-1/Windows-1252/CP1251 books do.
    """
    try:
        text = data.decode("utf-8")
        return (text[1:] if text.startswith("\ufeff") else text), "utf-8", ""
    except UnicodeDecodeError as e:
        err = f"not UTF-8: {e}"
    if fallback == "detect":
        from charset_normalizer import from_bytes

        matches = list(from_bytes(data))
        best = _prefer_common(matches)
        if best is not None and best.encoding:
            try:
                return data.decode(best.encoding), best.encoding, ""
            except (UnicodeDecodeError, LookupError):
                pass
        err += "; no other encoding detected"
    return None, "", err


# When charset_normalizer finds several encodings equally plausible (cp1250 vs cp1252 on French
# text is a real tie), take the one most used for that kind of text rather than the first listed.
_COMMON = ("cp1252", "iso8859_1", "iso8859_15", "cp1251", "koi8_r", "gb18030", "big5", "shift_jis", "euc_kr")


def _prefer_common(matches: list):
    if not matches:
        return None
    best = matches[0]
    ties = [m for m in matches if m.chaos == best.chaos and m.coherence == best.coherence]
    for enc in _COMMON:
        for m in ties:
            if m.encoding == enc:
                return m
    return best


@register_reader("text")
class TextReader(Reader):
    """Each file is one document: ``text``, plus ``title`` (the file stem) and ``path`` (relpath).

    Encoding: UTF-8 (a BOM is dropped); with ``encoding: detect`` (default) other encodings are
    detected and the document keeps an ``encoding`` column saying which was used; with
    ``encoding: utf-8`` a non-UTF-8 file is ``malformed:utf8``. A file with NUL bytes in its first
    8 KB is ``malformed:binary``, an empty or whitespace-only file ``malformed:empty_file``, one
    over ``max_bytes`` ``malformed:too_large`` (never read into memory). ``id`` position is 0.
    ``.gz``/``.zst``/``.bz2``/``.xz`` files (books often ship as ``.txt.gz``) are decompressed,
    ``max_bytes`` counting decompressed bytes; a corrupt or truncated one is ``malformed:gzip`` (...).
    The title drops the compression suffix too (``book.txt.gz`` -> ``book``).
    """

    files_per_task: ClassVar[int] = 64  # thousands of small books must not become thousands of tasks

    class Config(ReaderConfig):
        encoding: Literal["detect", "utf-8"] = Field(
            "detect",
            description="`detect`: UTF-8, else detect the encoding; `utf-8`: reject non-UTF-8 files.",
        )
        max_bytes: int = Field(
            256 << 20,
            description="Files larger than this (decompressed) are rejected as `malformed:too_large`.",
            gt=0,
        )

    def read(self, path: Path, relpath: str) -> Iterator[ReadBatch]:
        doc, bad = self.read_document(path, relpath, self.config.max_bytes, self.config.encoding)
        if doc is None:
            yield ReadBatch(empty_table(_CORE_TYPES), [bad] if bad else [])
            return
        text, encoding = doc
        stem = Path(path.stem).stem if compression_of(path) != "none" else path.stem
        meta = {"title": [stem], "path": [relpath], "encoding": [encoding]}
        table = build_table(
            [self.make_id(relpath, 0)], self.source, {TEXT: ([text], pa.large_string())}, meta
        )
        yield ReadBatch(table)

    @staticmethod
    def read_document(
        path: Path, relpath: str, max_bytes: int, encoding: str
    ) -> tuple[tuple[str, str] | None, Malformed | None]:
        """The decoded text of one file and its encoding, or the reason it is not a document."""
        try:
            size = path.stat().st_size
            if size > max_bytes:
                return None, Malformed(relpath, 0, "too_large", f"{size} bytes > max_bytes {max_bytes}")
            if compression_of(path) == "none":
                data = path.read_bytes()
            else:
                data, bad = _decompressed(path, relpath, max_bytes)
                if bad is not None:
                    return None, bad
        except OSError as e:
            return None, Malformed(relpath, 0, "io", str(e))
        if not data.strip():
            return None, Malformed(relpath, 0, "empty_file", f"{len(data)} bytes, no text")
        if b"\x00" in data[:BINARY_SNIFF_BYTES] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return None, Malformed(
                relpath, 0, "binary", "NUL byte in the first 8 KB", data[:200].decode("latin-1")
            )
        text, used, err = decode_text(data, encoding)
        if text is None:
            return None, Malformed(relpath, 0, "utf8", err, data[:1000].decode("utf-8", "replace"))
        return (text, used), None


def _decompressed(path: Path, relpath: str, max_bytes: int) -> tuple[bytes, Malformed | None]:
    """A compressed file's bytes, read no further than ``max_bytes`` decompressed bytes."""
    parts, n = [], 0
    try:
        for chunk in iter_decompressed(path):
            n += len(chunk)
            if n > max_bytes:
                return b"", Malformed(relpath, 0, "too_large", f"over max_bytes {max_bytes} decompressed")
            parts.append(chunk)
    except StreamError as e:
        return b"", Malformed(relpath, 0, e.what, str(e))
    return b"".join(parts), None
