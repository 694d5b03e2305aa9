"""Sharded builds: each process embeds a deterministic 1/N of the units, then one merge makes the index.

``codehunt index build SRC --shard i/N -o SHARD_i`` (one per SLURM array task, torchrun rank or
Kubernetes job) reads and chunks the whole source, keeps the units whose id hashes to ``i``
(:func:`shard_of`: sha256 of the unit id, so every process, machine and Python agrees), splits
and embeds only those, and writes a shard directory. ``codehunt index merge SHARD_0 ... -o IDX``
checks that the shards belong together and cover every unit once, puts the chunks back in the
order a single-process build makes, and publishes a normal index through
:meth:`~codehunt.index.index.Index.build_from_vectors`: same ids, same BM25, vectors equal to
float tolerance (batches differ), same manifest fields.

A shard directory (``format_version`` 1):

* ``shard.json``: shard ``i`` of ``N``, source, index config, encoder, the corpus' chunk count and
  digest (sha256 over every chunk's id and text in order, so shards of different sources or
  revisions never merge), the sha256 of every other file;
* ``chunks.jsonl``: the shard's chunks (split parts, then docstring summaries);
* ``order.npy`` (rows, 3) int64: where each chunk goes, ``(group, ordinal, part)``: group 0 for code
  and 1 for summaries (which a build puts after all code), ``ordinal`` the unit's position in the
  corpus as read, ``part`` its split part;
* ``vectors.npy`` (rows, dim) float32;
* ``skipped.jsonl`` and ``files.jsonl`` (for ``codehunt index update``): the whole source's, in every shard.

Limit: every shard reads and chunks the whole source (it needs every unit's position); only
splitting and embedding, the bulk of the cost, are divided.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from codehunt.index.corpus import embedding_text, is_summary, with_summary_chunks
from codehunt.index.errors import BadInputError, ConfigError, CorruptIndexError
from codehunt.index.manifest import EncoderInfo
from codehunt.index.storage import build_lock, save_npy_atomic, sha256_file, staging_directory, write_json_atomic, write_jsonl_atomic
from codehunt.index.types import Chunk, Skip

if TYPE_CHECKING:
    from codehunt.index.encoder import Encoder
    from codehunt.index.incremental import FileRecord
    from codehunt.index.index import Index, IndexConfig

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SHARD_MANIFEST = "shard.json"
CODE, SUMMARY = 0, 1
"""The order key's first column: code chunks come first, docstring summaries after all of them."""


@dataclass(frozen=True)
class ShardSpec:
    """Which shard a build makes: ``shard`` of ``shards`` (``--shard i/N``, 0-based)."""

    shard: int = field(default=0, metadata={"help": "this shard's number, 0 .. shards-1"})
    shards: int = field(default=1, metadata={"help": "how many shards the units are divided into"})

    def __post_init__(self) -> None:
        if self.shards < 1 or not 0 <= self.shard < self.shards:
            raise ConfigError(f"--shard {self.shard}/{self.shards}: want i/N with N >= 1 and 0 <= i < N, e.g. --shard 0/4")

    @classmethod
    def parse(cls, text: str) -> "ShardSpec":
        """``"i/N"`` -> ShardSpec(i, N)."""
        head, slash, tail = text.partition("/")
        if not slash or not head.strip().isdigit() or not tail.strip().isdigit():
            raise ConfigError(f"--shard {text!r}: want i/N (0-based), e.g. --shard 0/4 ... --shard 3/4")
        return cls(int(head), int(tail))


def shard_of(unit: str, shards: int) -> int:
    """The shard of a unit id: the first 8 bytes of its sha256, modulo ``shards`` (stable everywhere, unlike ``hash``)."""
    digest = hashlib.sha256(unit.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def corpus_digest(chunks: Sequence[Chunk]) -> str:
    """sha256 over every chunk's id and text in order: shards of one corpus (same files, same bytes) share it."""
    digest = hashlib.sha256()
    for chunk in chunks:
        for part in (chunk.doc_id, chunk.text):
            digest.update(part.encode("utf-8", "surrogatepass"))
            digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class SourceRead:
    """A source as a single-process build reads it, before any unit is split."""

    chunks: list[Chunk]
    skipped: list[Skip]
    records: "list[FileRecord] | None"
    info: dict[str, Any]


def read_source(source: Path, rev: str | None, config: "IndexConfig") -> SourceRead:
    """Read and chunk ``source`` exactly as ``Index.build`` does (:func:`~codehunt.index.incremental.scan_source`)."""
    from codehunt.index.incremental import scan_source, source_record
    from codehunt.index.sources import resolve_revision

    source = Path(source)
    if not source.exists():
        raise BadInputError(f"{source} does not exist: pass a directory, a git repository or a corpus.jsonl")
    commit = resolve_revision(source, rev) if rev else None
    scan = scan_source(source, commit, config.corpus, None, lambda chunks: chunks)
    return SourceRead(scan.chunks, scan.skipped, scan.records, source_record(source, rev, commit))


def rows_for_units(
    chunks: Sequence[Chunk], ordinals: Sequence[int], split: Callable[[list[Chunk]], list[Chunk]], summaries: bool
) -> tuple[list[Chunk], np.ndarray]:
    """Split ``chunks`` (units at corpus positions ``ordinals``) and add their summaries, as a build does;
    returns the chunks to embed and their order keys (rows, 3)."""
    parts = split(list(chunks))
    out: list[Chunk] = []
    keys: list[tuple[int, int, int]] = []
    position = 0
    for chunk, ordinal in zip(chunks, ordinals):
        count = 1 if position < len(parts) and parts[position] is chunk else int(parts[position].extra.get("parts", 1))
        for part in range(count):
            piece = parts[position + part]
            if piece.unit != chunk.unit:
                raise RuntimeError(f"split returned {piece.doc_id} where a part of {chunk.doc_id} was expected")
            out.append(piece)
            keys.append((CODE, int(ordinal), part))
        position += count
    if position != len(parts):
        raise RuntimeError(f"split returned {len(parts)} chunks, {position} accounted for")
    if summaries:
        first = {}
        for piece, key in zip(out, keys):
            first.setdefault(piece.unit, key[1])
        extra = with_summary_chunks(out)[len(out):]
        out.extend(extra)
        keys.extend((SUMMARY, first[summary.unit], 0) for summary in extra)
    return out, np.array(keys, dtype=np.int64).reshape(-1, 3)


@dataclass(frozen=True)
class ShardManifest:
    """``shard.json``: what a shard directory holds and what it must agree on with its siblings."""

    shard: int
    shards: int
    source: dict[str, Any]
    config: dict[str, Any]
    encoder: dict[str, Any]
    corpus_chunks: int
    corpus_digest: str
    rows: int
    dimension: int
    files: dict[str, str]
    build: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    format_version: int = FORMAT_VERSION

    @classmethod
    def read(cls, directory: Path) -> "ShardManifest":
        path = Path(directory) / SHARD_MANIFEST
        if not path.is_file():
            raise CorruptIndexError(f"{directory} is not a codehunt shard (no {SHARD_MANIFEST}): build it with `codehunt index build --shard i/N`")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("format_version") != FORMAT_VERSION:
                raise CorruptIndexError(f"{path} has format_version {record.get('format_version')}, this codehunt reads {FORMAT_VERSION}: rebuild the shard")
            return cls(**record)
        except (json.JSONDecodeError, TypeError) as exc:
            raise CorruptIndexError(f"{path} is corrupted ({exc}); rebuild the shard") from exc


def build_shard(
    source: Path,
    output: Path,
    spec: ShardSpec,
    config: "IndexConfig | None" = None,
    rev: str | None = None,
    encoder: "Encoder | None" = None,
    show_progress: bool = False,
) -> ShardManifest:
    """Embed shard ``spec`` of ``source`` into the shard directory ``output`` (published atomically)."""
    from codehunt.index.index import IndexConfig, _encoder_info, _lazy_encoder, _splitter

    config = config if config is not None else IndexConfig()
    output = Path(output)
    model = _lazy_encoder(encoder, config.encoder)
    with build_lock(output):
        read = read_source(Path(source), rev, config)
        mine = [position for position, chunk in enumerate(read.chunks) if shard_of(chunk.unit, spec.shards) == spec.shard]
        chunks, order = rows_for_units([read.chunks[p] for p in mine], mine, _splitter(model, config), config.corpus.summaries)
        started = time.perf_counter()
        encoder = model()
        vectors = encoder.encode([embedding_text(chunk) for chunk in chunks], "document", show_progress)  # (rows, dim)
        log.info("shard %d/%d: embedded %d chunks of %d units in %.1fs", spec.shard, spec.shards, len(chunks), len(mine),
                 time.perf_counter() - started)
        info = _encoder_info(encoder, config.encoder)
        build = {"files_read": len(read.records or []), "units_chunked": len(read.chunks), "units_embedded": len(chunks)}
        return write_shard(output, spec, read, chunks, order, vectors, info, config, build)


def write_shard(
    output: Path, spec: ShardSpec, read: SourceRead, chunks: list[Chunk], order: np.ndarray, vectors: np.ndarray,
    encoder: EncoderInfo, config: "IndexConfig", build: dict[str, Any],
) -> ShardManifest:
    from codehunt.index.index import _jsonable

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) != len(chunks) or len(order) != len(chunks):
        raise ValueError(f"{len(chunks)} chunks, {len(order)} order keys and {len(vectors)} vectors")
    with staging_directory(output) as staging:
        write_jsonl_atomic(staging / "chunks.jsonl", (chunk.to_json() for chunk in chunks))
        save_npy_atomic(staging / "order.npy", np.ascontiguousarray(order, dtype=np.int64))
        save_npy_atomic(staging / "vectors.npy", vectors)
        write_jsonl_atomic(staging / "skipped.jsonl", (skip.to_json() for skip in read.skipped))
        if read.records is not None:
            write_jsonl_atomic(staging / "files.jsonl", (record.to_json() for record in read.records))
        manifest = ShardManifest(
            shard=spec.shard, shards=spec.shards, source=read.info, config=_jsonable(asdict(config)), encoder=asdict(encoder),
            corpus_chunks=len(read.chunks), corpus_digest=corpus_digest(read.chunks), rows=len(chunks),
            dimension=int(vectors.shape[1]) if vectors.ndim == 2 else encoder.dimension,
            files={path.name: sha256_file(path) for path in sorted(staging.iterdir()) if path.is_file()},
            build=build, created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        write_json_atomic(staging / SHARD_MANIFEST, asdict(manifest))
    return manifest


@dataclass(frozen=True)
class Shard:
    """A shard directory read back and checked."""

    path: Path
    manifest: ShardManifest
    chunks: list[Chunk]
    order: np.ndarray  # (rows, 3) int64
    vectors: np.ndarray  # (rows, dim) float32, memory-mapped


def read_shard(path: Path) -> Shard:
    """Read a shard directory, checking every file against ``shard.json`` (CorruptIndexError names the file)."""
    path = Path(path)
    manifest = ShardManifest.read(path)
    for name, expected in sorted(manifest.files.items()):
        file = path / name
        if not file.is_file():
            raise CorruptIndexError(f"{file} is missing: rebuild shard {manifest.shard}/{manifest.shards}")
        if sha256_file(file) != expected:
            raise CorruptIndexError(f"{file} fails its checksum: rebuild shard {manifest.shard}/{manifest.shards}")
    with (path / "chunks.jsonl").open(encoding="utf-8") as handle:
        chunks = [Chunk.from_json(json.loads(line)) for line in handle if line.strip()]
    order = np.load(path / "order.npy", allow_pickle=False)
    vectors = np.load(path / "vectors.npy", mmap_mode="r", allow_pickle=False)
    if not (len(chunks) == len(order) == len(vectors) == manifest.rows) or order.shape[1:] != (3,) \
            or vectors.shape[1:] != (manifest.dimension,):
        raise CorruptIndexError(
            f"{path}: {len(chunks)} chunks, order {order.shape}, vectors {vectors.shape}; shard.json says {manifest.rows} "
            f"rows of dimension {manifest.dimension}: rebuild the shard"
        )
    return Shard(path, manifest, chunks, order, vectors)


def merge_shards(paths: Sequence[Path], output: Path) -> "Index":
    """Join shard directories into one index at ``output`` (published atomically, as by ``Index.build``).

    The shards must be all of ``0/N .. N-1/N`` of one corpus, config and encoder; each unit must sit in
    the shard its id hashes to. Anything else is a :class:`BadInputError` that names the shard at fault.
    """
    from codehunt.index.index import Index, IndexConfig

    if not paths:
        raise BadInputError("no shard directories given: pass every SHARD_DIR made by `codehunt index build --shard i/N`")
    shards = [read_shard(Path(path)) for path in paths]
    first = shards[0].manifest

    def agreed(manifest: ShardManifest, name: str) -> Any:
        value = getattr(manifest, name)
        return {k: v for k, v in value.items() if k != "path"} if name == "source" else value  # machines mount it elsewhere

    for shard in shards[1:]:
        for name in ("shards", "corpus_digest", "config", "encoder", "source"):
            if agreed(shard.manifest, name) != agreed(first, name):
                raise BadInputError(
                    f"{shard.path} does not belong with {shards[0].path}: their {name.replace('_', ' ')} differ "
                    f"({_short(agreed(shard.manifest, name))} vs {_short(agreed(first, name))}); merge the shards of one build"
                )
    seen: dict[int, Path] = {}
    for shard in shards:
        number = shard.manifest.shard
        if number in seen:
            raise BadInputError(f"shard {number}/{first.shards} given twice: {seen[number]} and {shard.path}")
        seen[number] = shard.path
        wrong = [chunk.unit for chunk in shard.chunks if shard_of(chunk.unit, first.shards) != number]
        if wrong:
            raise BadInputError(f"{shard.path} holds {len(wrong)} units of other shards (first {wrong[0]!r}): rebuild it")
    missing = sorted(set(range(first.shards)) - set(seen))
    if missing:
        names = ", ".join(f"{number}/{first.shards}" for number in missing)
        raise BadInputError(f"missing shard(s) {names}: build them with `codehunt index build ... --shard i/{first.shards}` and merge all")
    chunks, vectors = assemble(
        [shard.chunks for shard in shards], [shard.order for shard in shards], [shard.vectors for shard in shards],
        first.corpus_chunks,
    )
    config = IndexConfig.from_json(first.config)
    skipped = _read_skips(shards[0].path / "skipped.jsonl")
    records = _read_records(shards[0].path / "files.jsonl")
    build = {
        "files_read": first.build.get("files_read", 0), "files_reused": 0, "units_chunked": first.corpus_chunks,
        "units_embedded": len(chunks), "units_to_embed": len(chunks),
    }  # BuildProgress's fields, so `index info` and the CLI summary read it as any build's
    log.info("merging %d shards: %d chunks into %s", len(shards), len(chunks), output)
    return Index.build_from_vectors(
        chunks, vectors, Path(output), config, EncoderInfo(**first.encoder), skipped, first.source, records, build
    )


def assemble(
    chunk_lists: Sequence[Sequence[Chunk]], orders: Sequence[np.ndarray], vector_lists: Sequence[np.ndarray], corpus_chunks: int
) -> tuple[list[Chunk], np.ndarray]:
    """Put embedded rows from many workers back in single-build order; every unit of the corpus exactly once.

    ``corpus_chunks``: how many chunks the corpus had before splitting (their ordinals are 0 .. n-1).
    """
    order = np.concatenate([np.asarray(o, dtype=np.int64).reshape(-1, 3) for o in orders]) if orders else np.zeros((0, 3), np.int64)
    flat = [chunk for chunks in chunk_lists for chunk in chunks]
    permutation = np.lexsort((order[:, 2], order[:, 1], order[:, 0]))
    order = order[permutation]
    if len(order) > 1:
        same = np.all(order[1:] == order[:-1], axis=1)
        if same.any():
            group, ordinal, part = order[1:][same][0].tolist()
            raise BadInputError(f"chunk {ordinal} (part {part}) of the corpus was embedded twice: merge each shard once")
    code = order[order[:, 0] == CODE][:, 1]
    present = np.unique(code)
    if len(present) != corpus_chunks or (corpus_chunks and (present[0] != 0 or present[-1] != corpus_chunks - 1)):
        absent = sorted(set(range(corpus_chunks)) - set(present.tolist()))[:3]
        raise BadInputError(f"{corpus_chunks - len(present)} of {corpus_chunks} units are missing (first at positions {absent}): "
                            "a shard is incomplete; rebuild it")
    chunks = [flat[row] for row in permutation.tolist()]
    if any(is_summary(chunk) != (key == SUMMARY) for chunk, key in zip(chunks, order[:, 0].tolist())):
        raise CorruptIndexError("order keys and chunks disagree on which chunks are summaries: rebuild the shards")
    dim = next((v.shape[1] for v in vector_lists if np.ndim(v) == 2), 0)
    stacked = np.concatenate([np.asarray(v, dtype=np.float32).reshape(-1, dim) for v in vector_lists]) if vector_lists else np.zeros((0, dim), np.float32)
    return chunks, np.ascontiguousarray(stacked[permutation])  # (rows, dim)


def _read_skips(path: Path) -> list[Skip]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        return [Skip(**json.loads(line)) for line in handle if line.strip()]


def _read_records(path: Path) -> "list[FileRecord] | None":
    from codehunt.index.incremental import FileRecord

    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as handle:
        return [FileRecord.from_json(json.loads(line)) for line in handle if line.strip()]


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."
