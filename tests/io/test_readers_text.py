"""The text reader: one file = one document, encodings, binaries, empty files."""

from __future__ import annotations

from reader_testing import read_all

from curate.io.readers.base import make_id, readers


def test_one_document_per_file(tmp_path):
    p = tmp_path / "Moby Dick.txt"
    p.write_text("\ufeffCall me Ishmael.\nSome years ago...\n", encoding="utf-8")
    t, bad, _ = read_all("text", p, relpath="books/Moby Dick.txt", source="books")
    assert bad == []
    row = t.to_pylist()[0]
    assert row["text"] == "Call me Ishmael.\nSome years ago...\n"  # BOM dropped
    assert row["id"] == make_id("books", "books/Moby Dick.txt", 0)
    assert (row["title"], row["path"], row["encoding"]) == ("Moby Dick", "books/Moby Dick.txt", "utf-8")
    assert readers()["text"].files_per_task > 1


def test_legacy_encodings_detected_or_rejected(tmp_path):
    p = tmp_path / "alt.txt"
    text = "Les élèves étaient très contents de la fête à l'école, où ça sentait le café. " * 20
    p.write_bytes(text.encode("cp1252"))
    t, bad, _ = read_all("text", p)
    assert bad == [] and t.column("text").to_pylist() == [text]
    assert t.column("encoding").to_pylist()[0].lower().replace("-", "_") in {
        "cp1252",
        "windows_1252",
        "latin_1",
        "iso8859_1",
        "iso_8859_1",
        "iso8859_15",
    }
    t, bad, _ = read_all("text", p, encoding="utf-8")
    assert t.num_rows == 0 and [(m.what, m.file) for m in bad] == [("utf8", "alt.txt")]


def test_binary_empty_and_too_large(tmp_path):
    b = tmp_path / "img.txt"
    b.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    e = tmp_path / "empty.txt"
    e.write_bytes(b"")
    w = tmp_path / "ws.txt"
    w.write_bytes(b" \n\n\t ")
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 5000)
    assert [m.what for m in read_all("text", b)[1]] == ["binary"]
    assert [m.what for m in read_all("text", e)[1]] == ["empty_file"]
    assert [m.what for m in read_all("text", w)[1]] == ["empty_file"]
    t, bad, _ = read_all("text", big, max_bytes=1000)
    assert t.num_rows == 0 and [m.what for m in bad] == ["too_large"]
    assert t.column_names[:3] == ["id", "source", "text"]


def test_compressed_books_are_read_and_bad_ones_named(tmp_path):
    import gzip

    text = "It was the best of times, it was the worst of times.\n" * 200
    gz = tmp_path / "Two Cities.txt.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    t, bad, _ = read_all("text", gz, relpath="Two Cities.txt.gz")
    assert bad == [] and t.column("text").to_pylist() == [text]
    assert t.column("title").to_pylist() == ["Two Cities"]
    # max_bytes counts decompressed bytes: a small .gz of a large book is still too large
    t, bad, _ = read_all("text", gz, max_bytes=len(text) // 2)
    assert t.num_rows == 0 and [m.what for m in bad] == ["too_large"]
    cut = tmp_path / "cut.txt.gz"
    cut.write_bytes(gz.read_bytes()[: gz.stat().st_size // 2])
    t, bad, _ = read_all("text", cut)
    assert t.num_rows == 0 and [m.what for m in bad] == ["gzip"]
