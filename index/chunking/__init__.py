"""Cut one source file into retrievable units: functions, methods, class bodies, module code, line windows.

Units follow the function-level granularity of CodeSearchNet and CoSQA (one docstring'd
function per document), with classes and module-level code as extra units so that nothing
in a file is lost; files without a parser, with syntax errors or without definitions are
cut into overlapping line windows instead. Python is read with ``ast``; JavaScript,
TypeScript, Java, Go, Ruby, Rust, C and C++ with tree-sitter.

    >>> result = chunk_source("pkg/m.py", "def f():\\n    return 1\\n")
    >>> [c.doc_id for c in result.chunks]
    ['pkg/m.py::f']
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from codehunt.index.chunking.languages import SPECS, SourceParseError, language_for_path
from codehunt.index.chunking.windows import chunk_windows
from codehunt.index.errors import ConfigError
from codehunt.index.types import Chunk, Skip

__all__ = ["CHUNKER_VERSION", "ChunkConfig", "ChunkResult", "chunk_source", "language_for_path"]

CHUNKER_VERSION = "2"  # 2: long signatures cut, parts per unit capped (index/corpus.py)
"""Recorded in index manifests; bump it whenever the same file would be cut differently."""


@dataclass(frozen=True)
class ChunkConfig:
    """How files are cut into units."""

    window_lines: int = field(default=60, metadata={"help": "lines per window for files chunked by line windows"})
    window_overlap: int = field(default=10, metadata={"help": "lines shared by consecutive windows"})
    min_module_lines: int = field(
        default=3,
        metadata={"help": "module-level code (besides imports, comments and blank lines) needs this many lines to become a chunk"},
    )
    max_line_chars: int = field(
        default=5000,
        metadata={"help": "files with a longer line (minified code, data blobs) are cut into windows, not units, "
                          "since units sharing one huge line would each copy it"},
    )
    max_error_fraction: float = field(
        default=0.5,
        metadata={"help": "tree-sitter files whose syntax errors cover more than this share of lines fall back to windows"},
    )

    def __post_init__(self) -> None:
        if self.window_lines < 1 or not 0 <= self.window_overlap < self.window_lines:
            raise ConfigError(
                f"ChunkConfig needs window_lines >= 1 and 0 <= window_overlap < window_lines; "
                f"got window_lines={self.window_lines}, window_overlap={self.window_overlap}"
            )
        if self.min_module_lines < 0 or self.max_line_chars < 1 or not 0.0 <= self.max_error_fraction <= 1.0:
            raise ConfigError(
                f"ChunkConfig needs min_module_lines >= 0, max_line_chars >= 1 and 0 <= max_error_fraction <= 1; "
                f"got {self.min_module_lines}, {self.max_line_chars}, {self.max_error_fraction}"
            )


@dataclass(frozen=True)
class ChunkResult:
    """The chunks of one file; ``skip`` is set when a fallback (line windows) was used, and says why."""

    chunks: list[Chunk]
    skip: Skip | None = None


def chunk_source(path: str, text: str, config: ChunkConfig = ChunkConfig()) -> ChunkResult:
    """Chunk one file's text; ``path`` is its repo-relative POSIX path. Never raises on any ``str``.

    Lines are counted after universal-newline translation (``\\r\\n`` and ``\\r`` end a line,
    as in ``open()`` text mode) and are 1-based inclusive. A file with text always yields at
    least one chunk; a whitespace-only file yields none.
    """
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    language = language_for_path(path)
    if not text.strip():
        return ChunkResult([])
    skip: Skip | None = None
    chunks: list[Chunk] = []
    long_line = _first_long_line(text, config.max_line_chars)
    try:
        if language is not None and long_line is not None:
            skip = Skip(path, "long-line-fallback", long_line)
        elif language == "python":
            from codehunt.index.chunking.python import chunk_python

            chunks = chunk_python(path, text, min_module_lines=config.min_module_lines)
        elif language in SPECS:
            from codehunt.index.chunking.treesitter import chunk_tree_sitter

            chunks = chunk_tree_sitter(
                path, text, language,
                min_module_lines=config.min_module_lines, max_error_fraction=config.max_error_fraction,
            )
    except SourceParseError as exc:
        skip = Skip(path, exc.reason, exc.detail)
    except Exception as exc:  # noqa: BLE001 - the promise is "never raise on a str"; the Skip records it
        skip = Skip(path, "chunker-error-fallback", f"{type(exc).__name__}: {exc}")
    if not chunks:
        chunks = chunk_windows(
            path, text, language or "text", window_lines=config.window_lines, window_overlap=config.window_overlap
        )
    return ChunkResult(_unique_ids(chunks), skip)


def _first_long_line(text: str, max_chars: int) -> str | None:
    """``"line 3 has 90000 characters"`` for the first line over ``max_chars``, else None."""
    if len(text) <= max_chars:
        return None
    for number, line in enumerate(text.split("\n"), start=1):
        if len(line) > max_chars:
            return f"line {number} has {len(line)} characters"
    return None


def _unique_ids(chunks: list[Chunk]) -> list[Chunk]:
    """``path::qualname`` for the first unit of a name, ``path::qualname@L<start>`` for later ones."""
    seen: set[str] = set()
    unique: list[Chunk] = []
    for chunk in chunks:
        doc_id = chunk.doc_id
        if doc_id in seen:
            doc_id = f"{chunk.doc_id}@L{chunk.start_line}"
            suffix = 2
            while doc_id in seen:  # two units of one name starting on one line
                doc_id = f"{chunk.doc_id}@L{chunk.start_line}-{suffix}"
                suffix += 1
        seen.add(doc_id)
        unique.append(replace(chunk, doc_id=doc_id, unit_id=doc_id))
    return unique
