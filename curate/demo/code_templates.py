"""Per-language source templates for the demo code tree, with invented identifiers.

Each ``gen_<ext>(rng, module_name)`` returns one plausible source file; Python output parses with
``ast``. ``GEN`` maps an extension to (folder pattern, generator).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from curate.demo.prose import prose

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


def verb_noun(rng: random.Random) -> tuple[str, str]:
    """A random (verb, noun) pair, the parts of a plausible identifier."""
    return rng.choice(VERBS), rng.choice(NOUNS)


def camel_case(*parts: str) -> str:
    """``camel_case("load", "user")`` -> ``loadUser``."""
    return parts[0] + "".join(p.capitalize() for p in parts[1:])


def _doc(rng: random.Random) -> str:
    return prose("en").sentence_words(rng)


def gen_py(rng: random.Random, mod: str) -> str:
    out = [f'"""{_doc(rng)}"""', "", "from __future__ import annotations", "", "import math", ""]
    out.append(f"LIMIT = {rng.randint(2, 500)}")
    for _ in range(rng.randint(2, 5)):
        v, n = verb_noun(rng)
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
    v, n = verb_noun(rng)
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
        fn = camel_case(*verb_noun(rng))
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
        fn = camel_case(*verb_noun(rng))
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
        fn = camel_case(*verb_noun(rng)).capitalize()
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
        v, m = verb_noun(rng)
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
        fn = camel_case(*verb_noun(rng))
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
        v, n = verb_noun(rng)
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
    return (f"#ifndef {guard}\n#define {guard}\n\n#include <stddef.h>\n\ndouble {mod}_total(const double "
            "*xs, size_t n);\n\n#endif\n")


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
        v, n = verb_noun(rng)
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
    v, n = verb_noun(rng)
    return (
        f'#!/usr/bin/env bash\n# {_doc(rng)}\nset -euo pipefail\n\n{v}_{n}() {{\n  local dir="${{1:-.}}"\n'
        f"  find \"$dir\" -name '*.{rng.choice(('log', 'csv', 'json'))}' | sort | head -n "
        f"{rng.randint(5, 50)}\n}}\n\n"
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
        f"# {_doc(rng)}\nname: {mod}\nservice:\n  port: {rng.randint(3000, 9000)}\n  replicas: "
        f"{rng.randint(1, 5)}\n"
        f"  env:\n    LOG_LEVEL: {rng.choice(('info', 'debug', 'warn'))}\n    REGION: "
        f"{rng.choice(('eu', 'us', 'ap'))}\n"
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
