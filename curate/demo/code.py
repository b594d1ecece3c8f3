"""A small repository-like code tree in several languages, plus the things a code reader must skip.

Sources are generated from per-language templates with invented identifiers (Python files parse
with ``ast``). Alongside the code: ``node_modules/`` and ``vendor/`` directories, a ``.git/``
directory, a PNG, a minified one-line bundle, a lock file and a CSV over 1 MB. ``write_code``
returns the list of paths a reader should skip (with why) and the planted duplicate files.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

from curate.demo.archive import png_bytes
from curate.demo.prose import prose

ROOT = "demo-repo"
VERBS = [
    "load",
    "parse",
    "compute",
    "render",
    "merge",
    "filter",
    "update",
    "validate",
    "normalize",
    "fetch",
    "build",
    "count",
    "sort",
    "split",
    "join",
    "encode",
    "decode",
    "format",
    "check",
    "apply",
    "reset",
    "flush",
    "scan",
    "score",
    "rank",
    "index",
]
NOUNS = [
    "price",
    "record",
    "user",
    "order",
    "token",
    "batch",
    "report",
    "config",
    "city",
    "river",
    "item",
    "entry",
    "page",
    "shard",
    "window",
    "buffer",
    "cache",
    "event",
    "metric",
    "sample",
    "label",
    "vector",
    "matrix",
    "node",
    "edge",
    "path",
    "query",
]
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


def _name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(VERBS), rng.choice(NOUNS)


def _camel(*parts: str) -> str:
    return parts[0] + "".join(p.capitalize() for p in parts[1:])


def _doc(rng: random.Random) -> str:
    return prose("en").sentence_words(rng)


def gen_py(rng: random.Random, mod: str) -> str:
    out = [f'"""{_doc(rng)}"""', "", "from __future__ import annotations", "", "import math", ""]
    out.append(f"LIMIT = {rng.randint(2, 500)}")
    for _ in range(rng.randint(2, 5)):
        v, n = _name(rng)
        out += [
            "",
            "",
            f"def {v}_{n}(values: list[float], factor: float = {rng.randint(1, 9)}.0) -> float:",
            f'    """{_doc(rng)}"""',
            "    total = 0.0",
            "    for i, x in enumerate(values):",
            "        if i >= LIMIT:",
            "            break",
            f"        total += math.{rng.choice(('sqrt', 'fabs', 'log1p'))}(abs(x)) * factor",
            "    return total",
        ]
    v, n = _name(rng)
    cls = n.capitalize() + rng.choice(("Store", "Index", "Client", "Cache"))
    out += [
        "",
        "",
        f"class {cls}:",
        f'    """{_doc(rng)}"""',
        "",
        "    def __init__(self) -> None:",
        "        self.items: dict[str, int] = {}",
        "",
        f"    def {v}(self, key: str) -> int:",
        "        self.items[key] = self.items.get(key, 0) + 1",
        "        return self.items[key]",
        "",
    ]
    return "\n".join(out)


def gen_js(rng: random.Random, mod: str) -> str:
    out = ["'use strict';", "", f"// {_doc(rng)}", ""]
    names = []
    for _ in range(rng.randint(2, 5)):
        fn = _camel(*_name(rng))
        names.append(fn)
        out += [
            "/**",
            f" * {_doc(rng)}",
            " * @param {number[]} values",
            " * @returns {number}",
            " */",
            f"function {fn}(values) {{",
            "  let total = 0;",
            "  for (const v of values) {",
            f"    total += v * {rng.randint(1, 9)};",
            "  }",
            "  return total;",
            "}",
            "",
        ]
    out.append(f"module.exports = {{ {', '.join(dict.fromkeys(names))} }};")
    return "\n".join(out) + "\n"


def gen_ts(rng: random.Random, mod: str) -> str:
    n = rng.choice(NOUNS).capitalize()
    out = [
        f"// {_doc(rng)}",
        "",
        f"export interface {n} {{",
        "  id: string;",
        "  score: number;",
        "  tags?: string[];",
        "}",
        "",
    ]
    for _ in range(rng.randint(2, 4)):
        fn = _camel(*_name(rng))
        out += [
            f"export function {fn}(items: {n}[], min = {rng.randint(0, 9)}): {n}[] {{",
            "  return items.filter((it) => it.score >= min).sort((a, b) => b.score - a.score);",
            "}",
            "",
        ]
    return "\n".join(out)


def gen_go(rng: random.Random, mod: str) -> str:
    out = [
        f"// Package {mod} {_doc(rng)[0].lower() + _doc(rng)[1:]}",
        f"package {mod}",
        "",
        'import "strings"',
        "",
    ]
    for _ in range(rng.randint(2, 4)):
        fn = _camel(*_name(rng)).capitalize()
        out += [
            f"// {fn} {_doc(rng)}",
            f"func {fn}(parts []string) string {{",
            "\tvar b strings.Builder",
            "\tfor i, p := range parts {",
            "\t\tif i > 0 {",
            '\t\t\tb.WriteString(",")',
            "\t\t}",
            "\t\tb.WriteString(strings.ToLower(p))",
            "\t}",
            "\treturn b.String()",
            "}",
            "",
        ]
    return "\n".join(out)


def gen_rs(rng: random.Random, mod: str) -> str:
    n = rng.choice(NOUNS).capitalize()
    out = [
        f"//! {_doc(rng)}",
        "",
        "#[derive(Debug, Clone, PartialEq)]",
        f"pub struct {n} {{",
        "    pub id: u64,",
        "    pub weight: f64,",
        "}",
        "",
        f"impl {n} {{",
    ]
    for _ in range(rng.randint(1, 3)):
        v, m = _name(rng)
        out += [
            f"    /// {_doc(rng)}",
            f"    pub fn {v}_{m}(&self, factor: f64) -> f64 {{",
            f"        self.weight * factor + {rng.randint(1, 99)}.0",
            "    }",
        ]
    out += [
        "}",
        "",
        "#[cfg(test)]",
        "mod tests {",
        "    use super::*;",
        "",
        "    #[test]",
        "    fn builds() {",
        f"        let x = {n} {{ id: 1, weight: 2.0 }};",
        "        assert_eq!(x.id, 1);",
        "    }",
        "}",
        "",
    ]
    return "\n".join(out)


def gen_java(rng: random.Random, mod: str) -> str:
    cls = mod[0].upper() + mod[1:]
    out = [
        "package org.demo;",
        "",
        "import java.util.ArrayList;",
        "import java.util.List;",
        "",
        "/**",
        f" * {_doc(rng)}",
        " */",
        f"public class {cls} {{",
        "    private final List<String> items = new ArrayList<>();",
        "",
    ]
    for _ in range(rng.randint(2, 4)):
        fn = _camel(*_name(rng))
        out += [
            f"    /** {_doc(rng)} */",
            f"    public int {fn}(String value) {{",
            "        items.add(value);",
            f"        return items.size() * {rng.randint(1, 9)};",
            "    }",
            "",
        ]
    out.append("}")
    return "\n".join(out) + "\n"


def gen_c(rng: random.Random, mod: str) -> str:
    out = [f"/* {_doc(rng)} */", "#include <stdio.h>", "#include <stdlib.h>", f'#include "{mod}.h"', ""]
    for _ in range(rng.randint(2, 4)):
        v, n = _name(rng)
        out += [
            f"/* {_doc(rng)} */",
            f"double {v}_{n}(const double *xs, size_t n) {{",
            "    double total = 0.0;",
            "    for (size_t i = 0; i < n; i++) {",
            f"        total += xs[i] * {rng.randint(1, 9)}.0;",
            "    }",
            "    return total;",
            "}",
            "",
        ]
    return "\n".join(out)


def gen_h(rng: random.Random, mod: str) -> str:
    guard = mod.upper() + "_H"
    return f"#ifndef {guard}\n#define {guard}\n\n#include <stddef.h>\n\ndouble {mod}_total(const double *xs, size_t n);\n\n#endif\n"


def gen_cpp(rng: random.Random, mod: str) -> str:
    cls = rng.choice(NOUNS).capitalize() + "Table"
    out = [
        f"// {_doc(rng)}",
        "#include <string>",
        "#include <vector>",
        "",
        "namespace demo {",
        "",
        f"class {cls} {{",
        " public:",
        "  void add(const std::string& key) { keys_.push_back(key); }",
        "  std::size_t size() const { return keys_.size(); }",
        "",
        " private:",
        "  std::vector<std::string> keys_;",
        "};",
        "",
    ]
    for _ in range(rng.randint(1, 3)):
        v, n = _name(rng)
        out += [
            f"int {v}_{n}(const std::vector<int>& xs) {{",
            "  int total = 0;",
            "  for (int x : xs) total += x;",
            f"  return total * {rng.randint(1, 9)};",
            "}",
            "",
        ]
    out.append("}  // namespace demo")
    return "\n".join(out) + "\n"


def gen_sh(rng: random.Random, mod: str) -> str:
    v, n = _name(rng)
    return (
        f'#!/usr/bin/env bash\n# {_doc(rng)}\nset -euo pipefail\n\n{v}_{n}() {{\n  local dir="${{1:-.}}"\n'
        f"  find \"$dir\" -name '*.{rng.choice(('log', 'csv', 'json'))}' | sort | head -n {rng.randint(5, 50)}\n}}\n\n"
        f'{v}_{n} "$@"\n'
    )


def gen_md(rng: random.Random, mod: str) -> str:
    p = prose("en")
    out = [
        f"# {p.title(rng)}",
        "",
        p.paragraph(rng, 3, 5),
        "",
        "## Usage",
        "",
        "```bash",
        f"./scripts/{mod}.sh data/",
        "```",
        "",
        "## Notes",
        "",
    ]
    out += [f"- {s}" for s in rng.sample(p.sentences, 4)]
    return "\n".join(out) + "\n"


def gen_json(rng: random.Random, mod: str) -> str:
    return (
        json.dumps(
            {
                "name": f"demo-{mod}",
                "version": f"0.{rng.randint(1, 9)}.{rng.randint(0, 20)}",
                "settings": {
                    "retries": rng.randint(1, 5),
                    "timeout_s": rng.randint(5, 60),
                    "features": rng.sample(NOUNS, 3),
                },
            },
            indent=2,
        )
        + "\n"
    )


def gen_yaml(rng: random.Random, mod: str) -> str:
    return (
        f"# {_doc(rng)}\nname: {mod}\nservice:\n  port: {rng.randint(3000, 9000)}\n  replicas: {rng.randint(1, 5)}\n"
        f"  env:\n    LOG_LEVEL: {rng.choice(('info', 'debug', 'warn'))}\n    REGION: {rng.choice(('eu', 'us', 'ap'))}\n"
        f"checks:\n" + "".join(f"  - {n}\n" for n in rng.sample(NOUNS, 3))
    )


GEN: dict[str, tuple[str, Callable[[random.Random, str], str]]] = {
    "py": ("python/demo_pkg{d}", gen_py),
    "js": ("web/src{d}", gen_js),
    "ts": ("web/src{d}/types", gen_ts),
    "go": ("go/internal/pkg{d}", gen_go),
    "rs": ("rust/src{d}", gen_rs),
    "java": ("java/src/main/java/org/demo{d}", gen_java),
    "c": ("native/src{d}", gen_c),
    "h": ("native/include{d}", gen_h),
    "cpp": ("native/cpp{d}", gen_cpp),
    "sh": ("scripts{d}", gen_sh),
    "md": ("docs{d}", gen_md),
    "json": ("config{d}", gen_json),
    "yaml": ("config{d}", gen_yaml),
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
        v, m = _name(rng)
        if ext == "go":
            stem = f"{v}{m}{k}"
            folder = f"{folder}/{stem}"
        elif ext == "java":
            stem = _camel(v, m) + str(k)
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
        "web/dist/app.min.js": (_minified(rng).encode(), "minified"),
        "web/package-lock.json": (json.dumps({"lockfileVersion": 3, "packages": {}}).encode(), "lockfile"),
        "data/measurements.csv": (_csv(rng), "large_data"),
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
