"""From a codebase (or a BEIR ``corpus.jsonl``) to the list of chunks an index embeds.

Every file ends up either as chunks or as a :class:`Skip` with a reason, so a user can
see in ``skipped.jsonl`` why a file is not searchable. Units longer than the encoder's
window are split by encoder tokens, each later part repeating the unit's signature.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from codehunt.index.chunking import ChunkConfig, chunk_source, language_for_path
from codehunt.index.errors import BadInputError, ConfigError
from codehunt.index.sources import (
    SourceConfig,
    SourceFile,
    is_excluded,
    is_vendored,
    iter_directory,
    iter_git_revision,
    looks_generated,
)
from codehunt.index.storage import read_jsonl_objects
from codehunt.index.types import Chunk, Skip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorpusConfig:
    """How a codebase becomes chunks."""

    source: SourceConfig = field(default_factory=SourceConfig, metadata={"help": "file selection"})
    chunk: ChunkConfig = field(default_factory=ChunkConfig, metadata={"help": "how files are cut into units"})
    split_long: bool = field(default=True, metadata={"help": "split units longer than the encoder window"})
    summaries: bool = field(
        default=True, metadata={"help": "embed each documented unit's docstring summary as an extra dense vector"}
    )

    def __post_init__(self) -> None:  # the parts validate their own fields
        if not isinstance(self.source, SourceConfig) or not isinstance(self.chunk, ChunkConfig):
            raise ConfigError(
                f"CorpusConfig needs a SourceConfig and a ChunkConfig, got {type(self.source).__name__} and {type(self.chunk).__name__}"
            )


@dataclass(frozen=True)
class Corpus:
    """Chunks plus the files that were skipped (or indexed by a fallback)."""

    chunks: list[Chunk]
    skipped: list[Skip]


def path_skip_reason(path: str, config: CorpusConfig) -> str | None:
    """Why a file is left out from its path alone (so its bytes are never read), or None."""
    if is_excluded(path, config.source.exclude):
        return "excluded"
    if path.endswith("/"):  # a vendored directory, listed once and not descended (sources.iter_directory)
        return "vendored"
    if language_for_path(path) is None:
        return "not-source"
    if is_vendored(path):
        return "vendored"
    return None


def decode_source(source: SourceFile) -> tuple[str | None, Skip | None]:
    """UTF-8 text of a file, or the reason it is not indexed."""
    if source.data is None:
        return None, Skip(source.path, "too-large", f"{source.size} bytes")
    if not source.data.strip():
        return None, Skip(source.path, "empty")
    if b"\0" in source.data[:8192]:
        return None, Skip(source.path, "binary")
    try:
        text = source.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, Skip(source.path, "not-utf8", f"byte {exc.start}")
    return text.lstrip("\ufeff"), None


def chunk_files(files: Iterable[SourceFile], config: CorpusConfig = CorpusConfig()) -> Corpus:
    """Chunk every readable source file, recording a Skip for every other one."""
    chunks: list[Chunk] = []
    skipped: list[Skip] = []
    for source in files:
        reason = path_skip_reason(source.path, config)
        if reason == "excluded":
            continue
        if reason is not None:
            skipped.append(Skip(source.path, reason))
            continue
        text, skip = decode_source(source)
        if skip is not None:
            skipped.append(skip)
            continue
        assert text is not None
        if looks_generated(text):
            skipped.append(Skip(source.path, "generated"))
            continue
        result = chunk_source(source.path, text, config.chunk)
        if result.skip is not None:
            skipped.append(result.skip)
        if not result.chunks and result.skip is None:
            skipped.append(Skip(source.path, "empty", "no indexable code"))
        chunks.extend(result.chunks)
    return Corpus(chunks, skipped)


def read_codebase(path: Path, rev: str | None = None, config: CorpusConfig = CorpusConfig()) -> Corpus:
    """Chunk a directory (or a git revision of it, read through git) into a Corpus."""
    if rev is None and path.is_file() and path.suffix == ".jsonl":
        return read_beir_corpus(path)
    def wanted(relative: str) -> bool:
        return path_skip_reason(relative, config) is None

    if rev:
        files = iter_git_revision(path, rev, config.source, wanted)
    else:
        files = iter_directory(path, config.source, wanted)
    corpus = chunk_files(files, config)
    if not corpus.chunks:
        reasons = sorted({skip.reason for skip in corpus.skipped})
        detail = f" ({len(corpus.skipped)} files skipped: {', '.join(reasons)})" if reasons else ""
        raise BadInputError(f"{path} holds no indexable source code{detail}: point codehunt at a codebase")
    return corpus


def read_beir_corpus(path: Path) -> Corpus:
    """Read a BEIR ``corpus.jsonl`` (``_id``/``id``, ``title``, ``text``, optional ``lang``, ``path``)."""
    chunks: list[Chunk] = []
    for number, record in read_jsonl_objects(path, "a BEIR corpus record (_id, text)"):
        doc_id = str(record.get("_id", record.get("id")))
        text = record.get("text")
        if not isinstance(text, str):
            raise BadInputError(f"{path}:{number}: not a BEIR corpus record (no text); expected _id, text")
        title = record.get("title") or ""
        chunks.append(
            Chunk(
                doc_id=doc_id,
                path=record.get("path") or doc_id,
                qualname=title,
                kind="document",
                language=record.get("lang") or "text",
                start_line=int(record.get("start_line", 1)),
                end_line=int(record.get("end_line", text.count("\n") + 1)),
                text=text,
            )
        )
    if not chunks:
        raise BadInputError(f"{path} has no documents")
    return Corpus(chunks, [])


def embedding_text(chunk: Chunk) -> str:
    """What the encoder sees: the path and qualified name give context the body lacks."""
    if chunk.kind == "document":
        return f"{chunk.qualname}\n{chunk.text}" if chunk.qualname and chunk.qualname not in chunk.text[:200] else chunk.text
    return f"{chunk.path} {chunk.qualname}\n{chunk.text}"


def bm25_text(chunk: Chunk) -> str:
    """What BM25 indexes: path, qualified name and code (identifiers are split by the tokenizer)."""
    if chunk.kind == "document":
        return f"{chunk.qualname}\n{chunk.text}"
    return f"{chunk.path} {chunk.qualname}\n{chunk.text}"


SUMMARY_PART = "summary"
SUMMARY_CHARS = 400


def docstring_summary(docstring: str) -> str:
    """The first paragraph of a docstring on one line, at most ``SUMMARY_CHARS`` characters."""
    paragraph = docstring.strip().split("\n\n", 1)[0]
    return " ".join(paragraph.split())[:SUMMARY_CHARS]


def is_summary(chunk: Chunk) -> bool:
    return chunk.extra.get("part") == SUMMARY_PART


def with_summary_chunks(chunks: Sequence[Chunk]) -> list[Chunk]:
    """``chunks`` followed by one summary chunk per documented unit (dense only; BM25 reads the code chunks).

    Why: a long function's vector is dominated by its signature and body, so a plain-language query can miss the
    one sentence that says what it does (``json.dumps``: "Serialize ``obj`` to a JSON formatted ``str``." is
    cosine 0.685 to "serialize a Python object to a JSON formatted string", the whole function 0.419). The summary
    is embedded as its own vector and a unit keeps its best vector (MaxP over parts, as for split units). Summary
    chunks come after every code chunk, so the code chunks' positions — which BM25 indexes — stay a prefix.
    """
    result = list(chunks)
    seen: set[str] = set()
    for chunk in chunks:
        if chunk.unit in seen:
            continue
        seen.add(chunk.unit)
        summary = summary_chunk(chunk)
        if summary is not None:
            result.append(summary)
    return result


def summary_id(unit: str) -> str:
    """The doc id of ``unit``'s summary chunk."""
    return f"{unit}~{SUMMARY_PART}"


def summary_chunk(chunk: Chunk) -> Chunk | None:
    """The summary chunk of the unit whose first chunk is ``chunk`` (None: no docstring, or a BEIR document)."""
    if chunk.kind == "document":
        return None
    summary = docstring_summary(chunk.extra.get("docstring") or "")
    if not summary:
        return None
    return replace(
        chunk,
        doc_id=summary_id(chunk.unit),
        unit_id=chunk.unit,
        text=summary,
        extra={"part": SUMMARY_PART, "unit_lines": chunk.extra.get("unit_lines", [chunk.start_line, chunk.end_line])},
    )


SIGNATURE_SHARE = 0.25
"""The repeated signature of a later part takes at most this share of the encoder window; a longer one is cut."""
MAX_PARTS_PER_UNIT = 12
"""A unit is split into at most this many parts; the last part keeps the remaining lines (BM25 reads them all,
the encoder what fits its window), so one huge function cannot flood the index and the top 10."""


def split_long_chunks(
    chunks: Sequence[Chunk],
    count_tokens: Callable[[list[str]], list[int]],
    max_tokens: int,
    max_parts: int = MAX_PARTS_PER_UNIT,
) -> list[Chunk]:
    """Split units whose embedding text exceeds ``max_tokens`` into line groups that fit.

    Later parts repeat the unit's signature (``extra["signature"]``, else its first line)
    so the encoder still sees what the code belongs to; part ids get ``~2``, ``~3``...
    and share ``unit_id`` so search reports one hit per unit. A signature longer than
    ``SIGNATURE_SHARE`` of the window (a 40-parameter annotated endpoint, say) is cut to that
    budget and marked ``extra["signature_cut"]``: otherwise every later part would be the
    signature plus a line or two, and the encoder, which truncates at its window, would see the
    same signature in each (identical vectors, a corpus of repeated text).
    """
    lengths = count_tokens([embedding_text(chunk) for chunk in chunks])
    result: list[Chunk] = []
    for chunk, length in zip(chunks, lengths):
        if length <= max_tokens or chunk.kind == "document":
            result.append(chunk)
            continue
        result.extend(_split_chunk(chunk, count_tokens, max_tokens, max_parts))
    return result


def cut_signature(signature: str, count_tokens: Callable[[list[str]], list[int]], budget: int) -> tuple[str, bool]:
    """``signature`` cut to about ``budget`` tokens (whole lines, else a prefix of the first), and whether it was cut."""
    lines = signature.split("\n")
    tokens = count_tokens(lines)
    if sum(tokens) <= budget:
        return signature, False
    kept: list[str] = []
    used = 0
    for line, count in zip(lines, tokens):
        if used + count > budget:
            break
        kept.append(line)
        used += count
    if not kept:  # one very long line: keep a prefix, shortened until it fits
        line = lines[0]
        while line and count_tokens([line])[0] > budget:
            line = line[: max(1, int(len(line) * 0.8))]
        kept = [line]
    return "\n".join(kept) + " ...", True


def _split_chunk(
    chunk: Chunk, count_tokens: Callable[[list[str]], list[int]], max_tokens: int, max_parts: int
) -> Iterator[Chunk]:
    lines = chunk.text.split("\n")
    signature, cut = cut_signature(chunk.extra.get("signature") or lines[0], count_tokens, int(max_tokens * SIGNATURE_SHARE))
    header_tokens = count_tokens([embedding_text(replace(chunk, text=f"{signature}\n    ..."))])[0]
    budget = max(16, max_tokens - header_tokens)
    line_tokens = count_tokens(lines)
    part_start = 0
    used = 0
    parts: list[tuple[int, int]] = []
    for index, tokens in enumerate(line_tokens):
        if used + tokens > budget and index > part_start and len(parts) < max_parts - 1:
            parts.append((part_start, index))
            part_start, used = index, 0
        used += tokens
    parts.append((part_start, len(lines)))
    line_numbers = _source_line_numbers(chunk, len(lines))
    unit_id = chunk.unit
    extra = {**chunk.extra, "parts": len(parts), "unit_lines": [chunk.start_line, chunk.end_line]}
    if cut:
        extra["signature_cut"] = True
    for number, (first, last) in enumerate(parts, start=1):
        body = "\n".join(lines[first:last])
        text = body if number == 1 else f"{signature}\n    ...\n{body}"
        yield replace(
            chunk,
            doc_id=unit_id if number == 1 else f"{unit_id}~{number}",
            unit_id=unit_id,
            start_line=line_numbers[first],
            end_line=line_numbers[last - 1],
            text=text,
            extra={**extra, "part": number},
        )


def _source_line_numbers(chunk: Chunk, count: int) -> list[int]:
    """The file line of each text line: class/module chunks skip their methods (``extra["line_ranges"]``)."""
    ranges = chunk.extra.get("line_ranges")
    if ranges:
        numbers = [line for start, end in ranges for line in range(start, end + 1)]
        if len(numbers) == count:
            return numbers
    return list(range(chunk.start_line, chunk.start_line + count))
