"""A small repository-like code tree in several languages, plus the things a code reader must skip.

Sources are generated from per-language templates with invented identifiers (Python files parse
with ``ast``). Alongside the code: ``node_modules/`` and ``vendor/`` directories, a ``.git/``
directory, a PNG, a minified one-line bundle, a lock file and a CSV over 1 MB. ``write_code``
returns the list of paths a reader should skip (with why) and the planted duplicate files.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from curate.demo.archive import png_bytes
from curate.demo.code_templates import GEN, camel_case, gen_go, gen_js, gen_json, gen_md, verb_noun

ROOT = "demo-repo"
FILES_PER_DIR = 25
# Files per language at scale 1 (about 150 in all with configs and docs).
COUNTS = {
    "py": 30,
    "js": 14,
    "ts": 12,
    "go": 12,
    "rs": 12,
    "java": 10,
    "c": 10,
    "h": 4,
    "cpp": 8,
    "sh": 6,
    "md": 8,
    "json": 4,
    "yaml": 5,
}


def _minified(rng: random.Random) -> str:
    parts = [f"function {chr(97 + i % 26)}{i}(t,e){{return t*{rng.randint(1, 9)}+e}}" for i in range(1500)]
    return "!function(){'use strict';" + ";".join(parts) + "}();\n"


def _csv(rng: random.Random) -> bytes:
    rows = ["timestamp,sensor,temperature_c,humidity_pct,status"]
    sensors = [f"sensor-{i:02d}" for i in range(40)]
    for i in range(26_000):
        rows.append(
            f"2024-{1 + i // 2400 % 12:02d}-{1 + i // 100 % 28:02d}T{i % 24:02d}:{i % 60:02d}:00,"
            f"{sensors[i % 40]},{rng.uniform(-5, 35):.2f},{rng.uniform(10, 95):.1f},ok"
        )
    return ("\n".join(rows) + "\n").encode()


def _put(root: Path, path: str, data: bytes) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    if path.endswith(".sh"):
        target.chmod(0o755)


def plan(out: Path, scale: float, seed: int) -> list[tuple[Path, str, int, int]]:
    """One task per file extension: (code dir, extension, files, seed)."""
    return [(out, ext, max(1, round(base * scale)), seed) for ext, base in COUNTS.items()]


def write_sources(out: Path, ext: str, n: int, seed: int) -> list[str]:
    """Task: write ``n`` generated source files with extension ``ext``; returns their paths."""
    rng = random.Random(f"code:{seed}:{ext}")
    pattern, gen = GEN[ext]
    paths = []
    for k in range(n):
        d = "" if k < FILES_PER_DIR else f"_{k // FILES_PER_DIR}"
        folder = pattern.format(d=d)
        v, m = verb_noun(rng)
        if ext == "go":
            stem = f"{v}{m}{k}"
            folder = f"{folder}/{stem}"
        elif ext == "java":
            stem = camel_case(v, m) + str(k)
        else:
            stem = f"{v}_{m}_{k}"
        path = f"{folder}/{stem}.{ext}"
        _put(out / ROOT, path, gen(rng, stem).encode())
        paths.append(path)
    return paths


def finish(out: Path, tasks: list[tuple], results: list[list[str]], seed: int) -> dict:
    """Write the repository's top-level files, planted duplicates and the files a reader must
    skip; returns the code part of the manifest."""
    rng = random.Random(f"code:{seed}:extras")
    root = out / ROOT
    extras = {
        "README.md": gen_md(rng, "run").encode(),
        "web/package.json": gen_json(rng, "web").encode(),
        "go/go.mod": b"module example.org/demo\n\ngo 1.22\n",
        "rust/Cargo.toml": b'[package]\nname = "demo"\nversion = "0.1.0"\nedition = "2021"\n',
    }
    # Planted exact duplicates: a copied Python module in two more places.
    py = next(paths for task, paths in zip(tasks, results, strict=True) if task[1] == "py")
    dups = []
    for i, src in enumerate(rng.sample(py[:FILES_PER_DIR], min(2, len(py)))):
        dst = f"python/legacy/copy_{i}.py"
        extras[dst] = (root / src).read_bytes()
        dups.append({"path": f"{ROOT}/{dst}", "dup_of": f"{ROOT}/{src}"})
    skip = {
        "web/node_modules/leftish/index.js": (gen_js(rng, "leftish").encode(), "node_modules"),
        "web/node_modules/leftish/package.json": (gen_json(rng, "leftish").encode(), "node_modules"),
        "go/vendor/github.com/acme/strutil/strutil.go": (gen_go(rng, "strutil").encode(), "vendor"),
        "assets/logo.png": (png_bytes(32, 32, (30, 90, 160)), "binary"),
        "web/public/app.min.js": (_minified(rng).encode(), "minified"),
        "web/package-lock.json": (json.dumps({"lockfileVersion": 3, "packages": {}}).encode(), "lockfile"),
        "data/measurements.csv": (_csv(rng), "large_data"),
        "docs/windows-notes.txt": (gen_md(rng, "notes").encode("utf-16"), "binary"),  # UTF-16: NUL bytes
        "native/legacy/README.latin1": (
            "Caf\u00e9 na\u00efve r\u00e9sum\u00e9\n".encode("latin-1"),
            "not_utf8",
        ),
        "python/demo_pkg/__init__.py": (b"", "empty"),
        ".git/HEAD": (b"ref: refs/heads/main\n", "vcs"),
        ".git/config": (b"[core]\n\trepositoryformatversion = 0\n\tbare = false\n", "vcs"),
    }
    for path, data in extras.items():
        _put(root, path, data)
    for path, (data, _) in skip.items():
        _put(root, path, data)
    return {
        "root": ROOT,
        "files": sum(map(len, results)) + len(extras) + len(skip),
        "by_extension": {task[1]: len(paths) for task, paths in zip(tasks, results, strict=True)},
        "skip": [{"path": f"{ROOT}/{p}", "reason": r} for p, (_, r) in sorted(skip.items())],
        "duplicates": dups,
    }
