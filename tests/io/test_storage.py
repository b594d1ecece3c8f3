"""URI globbing follows Python's glob exactly, so a corpus gives the same files on disk or in a bucket."""

from __future__ import annotations

import glob
import os

import pytest

from curate.io.storage import glob_regex, is_uri, static_root

TREE = [
    "a.txt", "b.py", ".h.py", "d/x.py", "d/.e/y.py", "d/f/g.txt", ".git/c.py", "d/f/.k.txt", "ab", "a[b",
    "d/f/q/r.py",
]
PATTERNS = [
    "*", "*.py", "**/*.py", "**", "d/**", "d/*/*.txt", "?.txt", "[ab].*", "**/.*", "d/**/*.txt",
    "*/*", "[!a]*", ".*/*.py", "d/.e/*", "d/**/q/*.py", "**/f/**", "d/f/?/*",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_glob_regex_agrees_with_python_glob(tmp_path, pattern):
    for name in TREE:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    root = str(tmp_path)
    want = sorted(
        os.path.relpath(p, root)
        for p in glob.glob(os.path.join(root, pattern), recursive=True)
        if os.path.isfile(p)
    )
    every = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
    rx = glob_regex(f"{root}/{pattern}")
    assert sorted(f for f in every if rx.match(f"{root}/{f}")) == want


def test_uri_forms():
    assert is_uri("s3://b/k") and is_uri("gs://b") and is_uri("az://c/p") and is_uri("memory://x")
    assert not is_uri("/data/x") and not is_uri("file:///data/x") and not is_uri("data/s3://x")
    assert static_root("s3://b/cc/2024-*/seg/*.warc.gz") == "s3://b/cc"
    assert static_root("s3://b/cc/x.gz") == "s3://b/cc/x.gz"
