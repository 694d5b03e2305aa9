"""Incremental indexing: re-read a source, re-chunk only the files that changed, re-embed only new texts.

An index records in ``files.jsonl`` one :class:`FileRecord` per file it read: its size, its
content id (the git blob id, ``sha1("blob <size>\\0" + bytes)``, also for files of a directory)
and, for a directory, its mtime. A build onto an existing index (``Index.build`` onto the same
output, or :func:`update_index`) lists the source again and, file by file:

* a git revision: the same blob id in ``git ls-tree`` -> the file's chunks and skips are taken
  from the old index, unread;
* a directory (the one the index was built from): the same size and mtime -> taken unread,
  unless the mtime was within ``RACY_NS`` of the scan that recorded it (git's "racy" rule: a
  file written in the same tick as the scan may have changed without its mtime moving);
  otherwise the file is read, and the same content id -> taken without chunking;
* anything else is read, chunked and split, exactly as a fresh build does.

Chunking is a function of a file's path and bytes alone (plus the corpus config, the chunker
version and the encoder window, which :func:`chunking_key` compares before anything is reused),
and files are visited in the same sorted order, so the reused chunks are the ones a fresh build
would make. Vectors come from the index's embedding store (:mod:`~codehunt.index.embedding_cache`):
only texts it never saw are encoded. BM25 and FAISS are rebuilt from all chunks, so the result
is the index a fresh build makes: the same ids, the same BM25 scores, vectors equal to float
tolerance. Limit: that rebuild costs time proportional to the corpus (a few seconds for the
~50k chunks of the standard library with ``flat``; HNSW and IVF are retrained in full).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from codehunt.index.corpus import CorpusConfig, chunk_files, is_summary, path_skip_reason, read_beir_corpus
from codehunt.index.errors import BadInputError, CodehuntError
from codehunt.index.git import git
from codehunt.index.manifest import MANIFEST_NAME, IndexManifest
from codehunt.index.progress import BuildProgress, ProgressCallback, no_progress
from codehunt.index.sources import iter_directory, iter_git_revision
from codehunt.index.types import Chunk, Skip

if TYPE_CHECKING:
    from codehunt.index.encoder import Encoder
    from codehunt.index.index import Index

log = logging.getLogger(__name__)

FILES_NAME = "files.jsonl"
RACY_NS = 2_000_000_000
"""A file whose mtime is within this many nanoseconds of the scan that read it is hashed again next time."""


@dataclass(frozen=True)
class FileRecord:
    """What an index remembers of one file it read, to tell next time whether it changed."""

    path: str
    size: int
    blob: str
    mtime_ns: int = 0
    racy: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "FileRecord":
        return cls(**record)


@dataclass(frozen=True)
class PreviousIndex:
    """What an existing index offers a new build: its file records, and its chunks and skips by file."""

    records: dict[str, FileRecord]
    chunks: dict[str, list[Chunk]]
    skips: dict[str, list[Skip]]
    source: dict[str, Any]

    def has(self, path: str) -> bool:
        return path in self.records and (path in self.chunks or path in self.skips)


@dataclass(frozen=True)
class Scan:
    """A source read into the chunks an index embeds; ``records`` is None for a BEIR corpus (no files)."""

    chunks: list[Chunk]
    skipped: list[Skip]
    records: list[FileRecord] | None


def blob_id(data: bytes) -> str:
    """git's object id of a blob with these bytes (``git hash-object``)."""
    digest = hashlib.sha1(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def chunking_key(config: dict[str, Any], chunker_version: str) -> dict[str, Any]:
    """What decides a file's chunks: the corpus config, the chunker, and the encoder window used to split."""
    encoder = config.get("encoder", {})
    return {
        "corpus": config.get("corpus"),
        "chunker": chunker_version,
        "model": encoder.get("model"),
        "max_length": encoder.get("max_length"),
    }


def read_previous(output: Path, key: dict[str, Any]) -> PreviousIndex | None:
    """The reusable part of the index at ``output``, or None (no index there, or one chunked differently).

    An index that cannot be read is not reused (the build replaces it); an index from before
    ``files.jsonl`` offers no files, so every file is read again (its vectors still come from the store).
    """
    if not (output / MANIFEST_NAME).is_file():
        return None
    try:
        manifest = IndexManifest.read(output)
        if chunking_key(manifest.config, manifest.chunker_version) != key:
            log.info("%s was chunked with other settings: every file is read again", output)
            return None
        records = {r.path: r for r in map(FileRecord.from_json, _read_jsonl(output / FILES_NAME))} if (output / FILES_NAME).is_file() else {}
        chunks: dict[str, list[Chunk]] = {}
        for chunk in map(Chunk.from_json, _read_jsonl(output / "corpus.jsonl")):
            if not is_summary(chunk):  # summaries are derived from the code chunks again (``with_summary_chunks``)
                chunks.setdefault(chunk.path, []).append(chunk)
        skips: dict[str, list[Skip]] = {}
        for skip in (Skip(**record) for record in _read_jsonl(output / "skipped.jsonl")):
            skips.setdefault(skip.path, []).append(skip)
    except (CodehuntError, OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("%s cannot be reused (%s): building from scratch", output, exc)
        return None
    return PreviousIndex(records, chunks, skips, manifest.source)


def scan_source(
    source: Path,
    commit: str | None,
    config: CorpusConfig,
    previous: PreviousIndex | None,
    split: Callable[[list[Chunk]], list[Chunk]],
    progress: BuildProgress | None = None,
    report: ProgressCallback = no_progress,
) -> Scan:
    """Read ``source`` (a directory, ``commit`` of a git repository, or a BEIR ``corpus.jsonl``) into chunks.

    Unchanged files of ``previous`` keep their chunks and skips (see the module docstring); the
    chunks of every other file go through ``split`` (long units cut to the encoder window) in one
    call. ``progress`` is updated in place and passed to ``report`` as files are read.
    """
    progress = progress if progress is not None else BuildProgress()
    if commit is None and source.is_file() and source.suffix == ".jsonl":
        chunks = split(read_beir_corpus(source).chunks)
        progress.files_read, progress.units_chunked = 1, len(chunks)
        report(progress)
        return Scan(chunks, [], None)
    started_ns = time.time_ns()
    unread: set[str] = set()  # unchanged files, yielded without their bytes
    stats: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns), taken just before the file is read
    blobs: dict[str, str] = {}
    old = previous.records if previous is not None else {}
    if commit is not None:
        blobs = _blob_ids(source, commit)

        def wanted(path: str) -> bool:
            if path_skip_reason(path, config) is not None:
                return False
            if previous is not None and previous.has(path) and old[path].blob == blobs.get(path):
                unread.add(path)
                return False
            return True

        files = iter_git_revision(source, commit, config.source, wanted)
    else:
        trust_mtime = previous is not None and previous.source.get("kind") == "directory" and previous.source.get("path") == str(source.resolve())

        def wanted(path: str) -> bool:
            if path_skip_reason(path, config) is not None:
                return False
            stat = (source / path).stat()
            stats[path] = (stat.st_size, stat.st_mtime_ns)
            record = old.get(path)
            if trust_mtime and record is not None and previous is not None and previous.has(path) and not record.racy \
                    and (record.size, record.mtime_ns) == stats[path]:
                unread.add(path)
                return False
            return True

        files = iter_directory(source, config.source, wanted)

    # Per file, in listing order: the old chunks (reused) or a marker that its new chunks follow.
    plan: list[tuple[str, list[Chunk] | None, list[Skip]]] = []
    fresh: list[Chunk] = []
    records: list[FileRecord] = []
    for file in files:
        if file.path in unread:
            assert previous is not None
            plan.append((file.path, previous.chunks.get(file.path, []), previous.skips.get(file.path, [])))
            records.append(old[file.path])
            progress.files_reused += 1
            report(progress)
            continue
        if file.data is not None:
            size, mtime_ns = stats.get(file.path, (file.size, 0))
            record = FileRecord(file.path, size, blobs.get(file.path) or blob_id(file.data), mtime_ns,
                                commit is None and mtime_ns >= started_ns - RACY_NS)
            records.append(record)
            progress.files_read += 1
            if previous is not None and previous.has(file.path) and old[file.path].blob == record.blob:
                plan.append((file.path, previous.chunks.get(file.path, []), previous.skips.get(file.path, [])))
                progress.files_reused += 1
                report(progress)
                continue
        corpus = chunk_files([file], config)  # too large, not source, vendored: a Skip without reading
        plan.append((file.path, None, corpus.skipped))
        fresh.extend(corpus.chunks)
        progress.units_chunked += len(corpus.chunks)
        report(progress)
    split_fresh: dict[str, list[Chunk]] = {}
    for chunk in split(fresh):
        split_fresh.setdefault(chunk.path, []).append(chunk)
    chunks: list[Chunk] = []
    skipped: list[Skip] = []
    for path, reused, skips in plan:
        chunks.extend(reused if reused is not None else split_fresh.get(path, []))
        skipped.extend(skips)
    if not chunks:
        reasons = sorted({skip.reason for skip in skipped})
        detail = f" ({len(skipped)} files skipped: {', '.join(reasons)})" if reasons else ""
        raise BadInputError(f"{source} holds no indexable source code{detail}: point codehunt at a codebase")
    log.info("read %s: %d files read, %d unchanged, %d chunks", source, progress.files_read, progress.files_reused, len(chunks))
    return Scan(chunks, skipped, records)


def source_record(source: Path, rev: str | None, commit: str | None) -> dict[str, Any]:
    """The manifest's ``source``: enough for ``codehunt index update IDX`` to read it again."""
    record: dict[str, Any] = {"path": str(Path(source).resolve()), "rev": rev}
    if commit is not None:
        record.update(kind="git", commit=commit)
    else:
        record["kind"] = "beir" if Path(source).is_file() else "directory"
    return record


def update_index(
    path: Path,
    rev: str | None = None,
    encoder: "Encoder | None" = None,
    show_progress: bool = False,
    progress: ProgressCallback | None = None,
) -> "Index":
    """Bring the index at ``path`` up to date with the source its manifest records (``rev``: move a git index there).

    Same model, same config, same output: only changed files are read and chunked again and only
    new texts embedded, then the index is published atomically as by a full build.
    """
    from codehunt.index.index import Index, IndexConfig

    path = Path(path)
    manifest = IndexManifest.read(path)
    recorded = manifest.source.get("path")
    rebuild = f"rebuild it with `codehunt index build SOURCE -o {path}`"
    if not recorded:
        raise BadInputError(f"{path} does not record the source it was built from: {rebuild}")
    source = Path(recorded)
    if not source.exists():
        raise BadInputError(f"{path} was built from {source}, which no longer exists: {rebuild}")
    if rev is not None and manifest.source.get("kind") == "beir":
        raise BadInputError(f"{path} was built from the BEIR corpus {source}, which has no revisions: leave out --rev")
    config = IndexConfig.from_json(manifest.config)
    return Index.build(source, path, config, rev=rev if rev is not None else manifest.source.get("rev"),
                       encoder=encoder, show_progress=show_progress, progress=progress)


def _blob_ids(repo: Path, commit: str) -> dict[str, str]:
    """path -> blob id of every file of ``commit`` (one ``git ls-tree``)."""
    listing = git(["ls-tree", "-r", "-z", commit], repo)
    blobs = {}
    for line in listing.decode("utf-8", "surrogateescape").split("\0"):
        if line:
            meta, path = line.split("\t", 1)
            blobs[path] = meta.split()[2]
    return blobs


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]

