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
would make; their ``corpus.jsonl`` lines are written again as they were. Vectors come from the
index's embedding store (:mod:`~codehunt.index.embedding_cache`): only texts it never saw are
encoded. BM25 is rebuilt from ``bm25_terms/`` (each document's distinct terms and counts,
:class:`DocTerms`), tokenizing only new chunks, into the arrays ``BM25Index.build`` makes; FAISS is
rebuilt from the vectors. So the result is the index a fresh build makes: the same ids, the same
BM25 scores, vectors equal to float tolerance.

Limits: an update still reads, rewrites and checksums the whole index (about 4.5 s for the 85k
chunks of the standard library on a 2-core machine, beside the ~6 s a process takes to load the
model; ``benchmarks/incremental_update.py``), and HNSW and IVF indexes are rebuilt (trained) in full,
so those steps cost time proportional to the corpus, not to the change.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from codehunt.index.bm25 import BM25Config, BM25Index, _rank_bm25_idf
from codehunt.index.corpus import CorpusConfig, bm25_text, chunk_files, is_summary, path_skip_reason, read_beir_corpus
from codehunt.index.errors import BadInputError, CodehuntError
from codehunt.index.git import git
from codehunt.index.manifest import MANIFEST_NAME, IndexManifest
from codehunt.index.progress import BuildProgress, ProgressCallback, no_progress
from codehunt.index.sources import iter_directory, iter_git_revision
from codehunt.index.storage import atomic_file, save_npy_atomic, write_json_atomic
from codehunt.index.tokenize import tokenize_code
from codehunt.index.types import Chunk, Skip

if TYPE_CHECKING:
    from codehunt.index.encoder import Encoder
    from codehunt.index.index import Index

log = logging.getLogger(__name__)

FILES_NAME = "files.jsonl"
TERMS_DIR = "bm25_terms"
"""Each BM25 document's distinct terms and counts (:class:`DocTerms`): BM25 is rebuilt without re-tokenizing."""
TERMS_FORMAT_VERSION = 1
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
class DocTerms:
    """The distinct terms of each BM25 document in first-occurrence order, with their counts (CSR rows).

    That is all BM25 needs of a document, in a form an update can copy row by row: ids into
    ``vocabulary``, which lists terms in the order they first occur in the corpus, as
    ``BM25Index.build`` numbers them.
    """

    vocabulary: list[str]
    offsets: np.ndarray  # (n_docs + 1,) int64: document d is rows [offsets[d], offsets[d + 1])
    term_ids: np.ndarray  # (n_rows,) int32
    counts: np.ndarray  # (n_rows,) int32, >= 1

    @property
    def n_docs(self) -> int:
        return len(self.offsets) - 1


@dataclass(frozen=True)
class PreviousIndex:
    """What an existing index offers a new build: file records, and its code chunks with their JSON lines and terms."""

    records: dict[str, FileRecord]
    chunks: list[Chunk]  # code chunks (BM25 documents) in corpus order; summaries are derived again
    lines: list[str]  # their corpus.jsonl lines, written again as they are
    rows: dict[str, list[int]]  # path -> rows of its chunks
    skips: dict[str, list[Skip]]
    source: dict[str, Any]
    terms: DocTerms | None  # None in an index from before bm25_terms/: its chunks are tokenized again

    def has(self, path: str) -> bool:
        return path in self.records and (path in self.rows or path in self.skips)


@dataclass(frozen=True)
class Scan:
    """A source read into the chunks an index embeds.

    ``records`` is None for a BEIR corpus (no files); ``origins[i]`` is the row in ``previous`` that
    chunk ``i`` was taken from, or -1 for a chunk made now.
    """

    chunks: list[Chunk]
    skipped: list[Skip]
    records: list[FileRecord] | None
    origins: list[int] | None = None
    previous: "PreviousIndex | None" = None


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
        chunks: list[Chunk] = []
        lines: list[str] = []
        rows: dict[str, list[int]] = {}
        with (output / "corpus.jsonl").open("rb") as handle:  # binary lines: no newline translation, no big copies
            for raw in handle:
                line = raw.decode("utf-8").rstrip("\n")
                chunk = Chunk.from_json(json.loads(line))
                if not is_summary(chunk):  # summaries are derived from the code chunks again (``with_summary_chunks``)
                    rows.setdefault(chunk.path, []).append(len(chunks))
                    chunks.append(chunk)
                    lines.append(line)
        skips: dict[str, list[Skip]] = {}
        for skip in (Skip(**record) for record in _read_jsonl(output / "skipped.jsonl")):
            skips.setdefault(skip.path, []).append(skip)
        terms = load_doc_terms(output / TERMS_DIR, len(chunks))
    except (CodehuntError, OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("%s cannot be reused (%s): building from scratch", output, exc)
        return None
    return PreviousIndex(records, chunks, lines, rows, skips, manifest.source, terms)


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

    # Per file, in listing order: the rows of its old chunks (reused), or None when its new chunks follow.
    plan: list[tuple[str, list[int] | None, list[Skip]]] = []
    fresh: list[Chunk] = []
    records: list[FileRecord] = []
    for file in files:
        if file.path in unread:
            assert previous is not None
            plan.append((file.path, previous.rows.get(file.path, []), previous.skips.get(file.path, [])))
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
                plan.append((file.path, previous.rows.get(file.path, []), previous.skips.get(file.path, [])))
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
    origins: list[int] = []
    skipped: list[Skip] = []
    for path, rows, skips in plan:
        if rows is None:
            made = split_fresh.get(path, [])
            chunks.extend(made)
            origins.extend([-1] * len(made))
        else:
            assert previous is not None
            chunks.extend(previous.chunks[row] for row in rows)
            origins.extend(rows)
        skipped.extend(skips)
    if not chunks:
        reasons = sorted({skip.reason for skip in skipped})
        detail = f" ({len(skipped)} files skipped: {', '.join(reasons)})" if reasons else ""
        raise BadInputError(f"{source} holds no indexable source code{detail}: point codehunt at a codebase")
    log.info("read %s: %d files read, %d unchanged, %d chunks", source, progress.files_read, progress.files_reused, len(chunks))
    return Scan(chunks, skipped, records, origins, previous)


def is_up_to_date(output: Path, scan: Scan, previous: PreviousIndex, config: dict[str, Any], source: dict[str, Any],
                  encoder: "Encoder | None") -> bool:
    """True when publishing ``scan`` would write the index at ``output`` again unchanged: skip the build.

    That is: every chunk came from ``previous`` in its old order and nothing was added, every file record and skip
    is the same, the source (path, revision, commit) and the whole build config are the ones recorded, and the model
    is the same: the given ``encoder``'s fingerprint, or, without one, the same
    :func:`~codehunt.index.encoder.model_files_signature` of a local model directory (a hub model must be loaded
    to know, so its index is rebuilt).
    """
    from codehunt.index.encoder import model_files_signature

    if scan.records is None or scan.origins != list(range(len(previous.chunks))):
        return False
    if scan.records != list(previous.records.values()) or scan.skipped != [s for skips in previous.skips.values() for s in skips]:
        return False
    manifest = IndexManifest.read(output)
    if manifest.source != source or manifest.config != config:
        return False
    if encoder is not None:
        return encoder.fingerprint() == manifest.encoder.fingerprint
    signature = model_files_signature(str(config.get("encoder", {}).get("model", "")))
    return bool(signature) and signature == manifest.encoder.model_files


def corpus_lines(chunks: Sequence[Chunk], scan: Scan | None) -> Iterator[str]:
    """The ``corpus.jsonl`` line of each chunk: a reused chunk's old line as it was (the same JSON), others dumped.

    ``vars(chunk)`` is the JSON of ``chunk.to_json()`` without ``asdict``'s deep copy.
    """
    origins = scan.origins if scan is not None and scan.previous is not None and scan.origins is not None else []
    for number, chunk in enumerate(chunks):
        origin = origins[number] if number < len(origins) else -1
        yield scan.previous.lines[origin] if origin >= 0 else json.dumps(vars(chunk), ensure_ascii=False)  # type: ignore[union-attr]


def write_lines_atomic(path: Path, lines: Iterable[str]) -> None:
    with atomic_file(path) as handle:
        for line in lines:
            handle.write(line)
            handle.write("\n")


def bm25_doc_terms(chunks: Sequence[Chunk], scan: Scan | None) -> DocTerms:
    """The :class:`DocTerms` of ``chunks`` (the BM25 documents, in order): rows of reused chunks copied from the
    previous index, every other chunk tokenized (``tokenize_code(bm25_text(chunk))``)."""
    previous = scan.previous if scan is not None else None
    old = previous.terms if previous is not None else None
    origins = scan.origins if old is not None and scan is not None and scan.origins is not None else []
    vocabulary: list[str] = list(old.vocabulary) if old is not None else []  # ids of the old terms are kept for now
    term_ids = {term: number for number, term in enumerate(vocabulary)}
    pieces: list[tuple[np.ndarray, np.ndarray]] = []
    for number, chunk in enumerate(chunks):
        origin = origins[number] if number < len(origins) else -1
        if origin >= 0:
            assert old is not None
            start, end = old.offsets[origin], old.offsets[origin + 1]
            pieces.append((old.term_ids[start:end], old.counts[start:end]))
            continue
        counts = Counter(tokenize_code(bm25_text(chunk)))  # a dict: terms in first-occurrence order
        ids = [term_ids.setdefault(term, len(term_ids)) for term in counts]
        pieces.append((np.array(ids, dtype=np.int32), np.fromiter(counts.values(), dtype=np.int32, count=len(counts))))
    vocabulary.extend(list(term_ids)[len(vocabulary):])
    lengths = np.fromiter((len(ids) for ids, _ in pieces), dtype=np.int64, count=len(pieces))
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate([ids for ids, _ in pieces]) if pieces else np.zeros(0, dtype=np.int32)
    counts = np.concatenate([counts for _, counts in pieces]) if pieces else np.zeros(0, dtype=np.int32)
    # Renumber the terms by first occurrence in this corpus, dropping terms no document has any more.
    present, first = np.unique(ids, return_index=True)
    order = present[np.argsort(first, kind="stable")]
    renumber = np.full(len(vocabulary), -1, dtype=np.int32)
    renumber[order] = np.arange(len(order), dtype=np.int32)
    return DocTerms([vocabulary[i] for i in order.tolist()], offsets, renumber[ids], counts)


def bm25_from_doc_terms(terms: DocTerms, config: BM25Config = BM25Config()) -> BM25Index:
    """The :class:`BM25Index` ``BM25Index.build`` makes from the same documents, array for array.

    Terms are numbered by first occurrence and postings sorted by (term, document), as there; the
    idf comes from the same ``_rank_bm25_idf`` fed the same document frequencies in the same order.
    """
    n_docs = terms.n_docs
    if n_docs == 0:
        raise BadInputError("cannot build a BM25 index over an empty corpus")
    doc_of_row = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(terms.offsets))  # (n_rows,)
    doc_lens = np.bincount(doc_of_row, weights=terms.counts, minlength=n_docs).astype(np.int64)  # (n_docs,)
    if int(doc_lens.sum()) == 0:
        raise BadInputError(f"cannot build a BM25 index: all {n_docs} documents are empty")
    order = np.argsort(terms.term_ids.astype(np.int64) * n_docs + doc_of_row, kind="stable")  # (term, doc) keys are unique
    doc_freqs = np.bincount(terms.term_ids, minlength=len(terms.vocabulary))  # (n_terms,)
    offsets = np.zeros(len(terms.vocabulary) + 1, dtype=np.int64)
    np.cumsum(doc_freqs, out=offsets[1:])
    idf = _rank_bm25_idf(terms.vocabulary, doc_freqs, n_docs, config.epsilon)
    return BM25Index(terms.vocabulary, offsets, doc_of_row[order].astype(np.int32), terms.counts[order].astype(np.int32),
                     doc_lens, idf, config)


def save_doc_terms(directory: Path, terms: DocTerms) -> None:
    """``offsets.npy``, ``term_ids.npy``, ``counts.npy`` and ``terms.json`` (vocabulary, n_docs, format_version)."""
    save_npy_atomic(directory / "offsets.npy", terms.offsets)
    save_npy_atomic(directory / "term_ids.npy", np.ascontiguousarray(terms.term_ids, dtype=np.int32))
    save_npy_atomic(directory / "counts.npy", np.ascontiguousarray(terms.counts, dtype=np.int32))
    write_json_atomic(directory / "terms.json", {"format_version": TERMS_FORMAT_VERSION, "n_docs": terms.n_docs,
                                                 "vocabulary": terms.vocabulary})


def load_doc_terms(directory: Path, n_docs: int) -> DocTerms | None:
    """The saved :class:`DocTerms`, or None when absent or not about ``n_docs`` documents (then BM25 re-tokenizes)."""
    if not (directory / "terms.json").is_file():
        return None
    meta = json.loads((directory / "terms.json").read_text(encoding="utf-8"))
    terms = DocTerms(meta["vocabulary"], *(np.load(directory / f"{name}.npy", allow_pickle=False)
                                            for name in ("offsets", "term_ids", "counts")))
    if meta.get("format_version") != TERMS_FORMAT_VERSION or meta.get("n_docs") != n_docs or terms.n_docs != n_docs \
            or len(terms.term_ids) != terms.offsets[-1] or len(terms.counts) != len(terms.term_ids):
        log.warning("%s does not match its index (%s documents): BM25 tokenizes every chunk again", directory, n_docs)
        return None
    return terms


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

