"""Source-tree reader: one file = one document, with ``lang`` from the extension."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
from pydantic import Field

from curate.io.paths import expand_glob, has_glob, name_parts, resolve, static_root
from curate.io.readers.base import TEXT, Malformed, ReadBatch, Reader, ReaderConfig, register_reader
from curate.io.readers.decode import build_table, empty_table
from curate.io.storage import is_uri

_CORE_TYPES = {TEXT: pa.large_string()}
BINARY_SNIFF_BYTES = 8192

# Folders that hold dependencies, build output or tool state, not the project's own code
# (the exclusions of The Stack / StarCoder data pipelines, plus common tool caches).
SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".bzr", "node_modules", "bower_components", "vendor", "vendors",
        "third_party", "third-party", "thirdparty", "dist", "build", "target",
        "__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
        ".ruff_cache", ".gradle", ".idea", ".vscode", ".next", ".nuxt", "site-packages", "Pods",
        "obj", ".eggs", ".cache", "htmlcov",
    }
)  # fmt: skip

LANGUAGES = {
    ".py": "python", ".pyi": "python", ".ipynb": "jupyter", ".js": "javascript", ".mjs": "javascript",
    ".cjs": "javascript", ".jsx": "javascript", ".ts": "typescript", ".tsx": "typescript",
    ".java": "java", ".kt": "kotlin", ".kts": "kotlin", ".scala": "scala", ".groovy": "groovy",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp",
    ".hxx": "cpp", ".cu": "cuda", ".cuh": "cuda", ".cs": "csharp", ".go": "go", ".rs": "rust",
    ".swift": "swift", ".m": "objective-c", ".mm": "objective-c", ".rb": "ruby", ".php": "php",
    ".pl": "perl", ".pm": "perl", ".lua": "lua", ".r": "r", ".jl": "julia", ".hs": "haskell",
    ".ml": "ocaml", ".mli": "ocaml", ".fs": "fsharp", ".ex": "elixir", ".exs": "elixir",
    ".erl": "erlang", ".clj": "clojure", ".dart": "dart", ".zig": "zig", ".nim": "nim",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell", ".ps1": "powershell", ".sql": "sql",
    ".html": "html", ".htm": "html", ".css": "css", ".scss": "scss", ".less": "less", ".vue": "vue",
    ".svelte": "svelte", ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml",
    ".xml": "xml", ".md": "markdown", ".rst": "restructuredtext", ".tex": "tex", ".proto": "protobuf",
    ".cmake": "cmake", ".f90": "fortran", ".f": "fortran", ".asm": "assembly", ".s": "assembly",
    ".v": "verilog", ".sv": "systemverilog", ".vhd": "vhdl", ".sol": "solidity", ".tf": "terraform",
}  # fmt: skip
FILENAMES = {
    "Makefile": "makefile", "makefile": "makefile", "GNUmakefile": "makefile", "Dockerfile": "dockerfile",
    "CMakeLists.txt": "cmake", "BUILD": "starlark", "BUILD.bazel": "starlark", "WORKSPACE": "starlark",
    "Rakefile": "ruby", "Gemfile": "ruby",
}  # fmt: skip
BINARY_EXTENSIONS = frozenset(
    {
        ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".ico", ".webp", ".tiff", ".psd", ".pdf", ".zip",
        ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".tar", ".jar", ".war", ".whl", ".egg",
        ".so", ".dll", ".dylib", ".exe", ".o", ".a", ".lib", ".obj", ".class", ".pyc", ".pyo", ".pyd",
        ".wasm", ".bin", ".dat", ".db", ".sqlite", ".parquet", ".arrow", ".npy", ".npz", ".pt", ".pth",
        ".onnx", ".safetensors", ".h5", ".pkl", ".mp3", ".mp4", ".wav", ".ogg", ".flac", ".avi",
        ".mov", ".mkv", ".ttf", ".otf", ".woff", ".woff2", ".eot",
    }
)  # fmt: skip


def language_of(path: str) -> str | None:
    """The language of a file from its name or extension, or None when unknown."""
    name = path.rsplit("/", 1)[-1]
    if name in FILENAMES:
        return FILENAMES[name]
    dot = name.rfind(".")
    return LANGUAGES.get(name[dot:].lower()) if dot > 0 else None


@register_reader("code")
class CodeReader(Reader):
    """Every file of a source tree is one document: ``text``, ``lang`` (None if unknown), ``path``.

    ``paths`` names a folder (walked recursively) or a glob. Vendored, generated and tool folders
    (``SKIP_DIRS``: .git, node_modules, vendor, third_party, dist, build, target, .venv, ...) are not
    entered at all: they are not the project's code, and listing them is the expensive part. Files
    that *are* listed are never dropped silently: a known binary extension or a NUL byte in the
    first 8 KB is ``malformed:binary``, a file over ``max_bytes`` ``malformed:too_large``, a file
    that is not UTF-8 ``malformed:utf8``, an empty one ``malformed:empty_file``. ``id`` position is 0.
    """

    files_per_task: ClassVar[int] = 256

    class Config(ReaderConfig):
        max_bytes: int = Field(1 << 20, description="Files larger than this are `malformed:too_large`.", gt=0)
        skip_dirs: list[str] = Field(
            default_factory=lambda: sorted(SKIP_DIRS),
            description="Folder names never entered (vendored, generated, tool state).",
        )
        languages: list[str] | None = Field(
            None,
            description="Keep only files of these languages (e.g. [python, rust]); other files are not "
            "listed. Default: every file outside skip_dirs.",
        )

    def list_files(self, pattern: str, base: Path) -> list[str]:
        skip = set(self.config.skip_dirs)
        full = resolve(pattern, base)
        if not has_glob(full) and not is_uri(full) and Path(full).is_dir():
            found = []
            for root, dirs, files in os.walk(full):
                dirs[:] = sorted(d for d in dirs if d not in skip)  # prune: never descend
                found.extend(os.path.join(root, f) for f in files)
            files_ = sorted(found)
        else:  # a glob, or a remote tree (listed whole, then filtered)
            cut = len(name_parts(static_root(full)))
            files_ = [p for p in expand_glob(pattern, base) if not skip.intersection(name_parts(p)[cut:-1])]
        if self.config.languages is not None:
            keep = set(self.config.languages)
            files_ = [p for p in files_ if language_of(p.rsplit("/", 1)[-1]) in keep]
        return files_

    def read(self, path: Path, relpath: str) -> Iterator[ReadBatch]:
        bad = self._check(path, relpath)
        if isinstance(bad, Malformed):
            yield ReadBatch(empty_table(_CORE_TYPES), [bad])
            return
        text = bad
        meta = {"lang": [language_of(relpath)], "path": [relpath]}
        table = build_table(
            [self.make_id(relpath, 0)], self.source, {TEXT: ([text], pa.large_string())}, meta
        )
        yield ReadBatch(table)

    def _check(self, path: Path, relpath: str) -> str | Malformed:
        if path.suffix.lower() in BINARY_EXTENSIONS:
            return Malformed(relpath, 0, "binary", f"binary extension {path.suffix}")
        try:
            size = path.stat().st_size
            if size > self.config.max_bytes:
                return Malformed(relpath, 0, "too_large", f"{size} bytes > max_bytes {self.config.max_bytes}")
            data = path.read_bytes()
        except OSError as e:
            return Malformed(relpath, 0, "io", str(e))
        if not data.strip():
            return Malformed(relpath, 0, "empty_file", f"{len(data)} bytes, no text")
        if b"\x00" in data[:BINARY_SNIFF_BYTES]:
            return Malformed(relpath, 0, "binary", "NUL byte in the first 8 KB")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            return Malformed(relpath, 0, "utf8", str(e), data[:1000].decode("utf-8", "replace"))
        return text[1:] if text.startswith("\ufeff") else text
