"""The code reader: tree walking, vendored dirs, binaries, size cap, languages."""

from __future__ import annotations

from pathlib import Path

from reader_testing import read_all

from curate.io.paths import relative_name
from curate.io.readers.base import make_id, readers
from curate.io.readers.code import language_of


def make_tree(root: Path) -> None:
    files = {
        "src/app.py": b"print('hi')\n",
        "src/lib.rs": b"fn main() {}\n",
        "src/web/index.ts": b"export const x = 1;\n",
        "Makefile": b"all:\n\techo hi\n",
        "README.md": b"# readme\n",
        "notes.unknownext": b"plain\n",
        "node_modules/pkg/index.js": b"module.exports = 1;\n",
        ".git/config": b"[core]\n",
        "vendor/dep.go": b"package dep\n",
        "build/gen.c": b"int x;\n",
        "src/__pycache__/app.cpython-311.pyc": b"\x00\x01",
        "assets/logo.png": b"\x89PNG\r\n\x1a\n",
        "data/blob.txt": b"abc\x00def",
        "src/big.py": b"x = 1\n" * 1000,
        "src/latin.py": b"# caf\xe9\n",
        "src/empty.py": b"",
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def read_tree(root: Path, **options):
    cls = readers()["code"]
    reader = cls(cls.Config(**options), "code")
    files = reader.list_files(str(root), Path("."))
    rows, bad = [], []
    for f in files:
        rel = relative_name(f, str(root), Path("."))
        for b in reader.read(Path(f), rel):
            rows += b.table.to_pylist()
            bad += b.malformed
    return files, rows, bad


def test_tree_listing_and_documents(tmp_path):
    make_tree(tmp_path)
    files, rows, bad = read_tree(tmp_path, max_bytes=4000)
    rels = {Path(f).relative_to(tmp_path).as_posix() for f in files}
    assert not any(
        r.startswith(("node_modules/", ".git/", "vendor/", "build/")) or "__pycache__" in r for r in rels
    )
    by_path = {r["path"]: r for r in rows}
    assert set(by_path) == {
        "src/app.py",
        "src/lib.rs",
        "src/web/index.ts",
        "Makefile",
        "README.md",
        "notes.unknownext",
    }
    assert by_path["src/app.py"]["lang"] == "python" and by_path["src/lib.rs"]["lang"] == "rust"
    assert by_path["Makefile"]["lang"] == "makefile" and by_path["notes.unknownext"]["lang"] is None
    assert by_path["src/app.py"]["id"] == make_id("code", "src/app.py", 0)
    assert {(m.file, m.what) for m in bad} == {
        ("assets/logo.png", "binary"),
        ("data/blob.txt", "binary"),
        ("src/big.py", "too_large"),
        ("src/latin.py", "utf8"),
        ("src/empty.py", "empty_file"),
    }
    assert readers()["code"].files_per_task >= 100


def test_language_filter_and_glob(tmp_path):
    make_tree(tmp_path)
    _, rows, _ = read_tree(tmp_path, languages=["python"])
    assert {r["path"] for r in rows} == {"src/app.py", "src/big.py"}
    cls = readers()["code"]
    reader = cls(cls.Config(), "code")
    files = reader.list_files(str(tmp_path / "**" / "*.js"), Path("."))
    assert files == []  # the only .js file is under node_modules
    assert language_of("a/b/C.HPP") == "cpp" and language_of("Dockerfile") == "dockerfile"


def test_single_file_read(tmp_path):
    p = tmp_path / "x.go"
    p.write_text("package main\n")
    t, bad, _ = read_all("code", p)
    assert (
        bad == []
        and t.column("lang").to_pylist() == ["go"]
        and t.column("text").to_pylist() == ["package main\n"]
    )
