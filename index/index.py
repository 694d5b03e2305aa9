"""The ``Index`` facade: ``Index.build(...)``, ``Index.load(path)``, ``index.search(query, k)``.

An index directory holds ``manifest.json``, ``corpus.jsonl`` (chunks with metadata),
``skipped.jsonl``, ``ids.json`` (doc ids in vector order), ``dense.faiss`` and ``bm25/``.
It records its encoder, so loading needs no model argument, and a mismatched model is a
clear :class:`IncompatibleIndexError` rather than a FAISS assertion.

Length (over ~600 lines): the facade is the one place where a build (full, incremental, or from vectors
embedded elsewhere), a load with its checks, and a search meet; each step's logic lives in its own module
(incremental, ranking, fusion, file_ranking, units, shards) and this file only wires them. Splitting the build
path into its own module is the next step once the incremental and sharded builds settle.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Literal, Sequence


from codehunt.index.bm25 import BM25Config, BM25Index
from codehunt.index.chunk_file import ChunkFile
from codehunt.index.chunking import CHUNKER_VERSION
from codehunt.index.corpus import (
    Corpus,
    CorpusConfig,
    embedding_text,
    is_summary,
    split_long_chunks,
    with_summary_chunks,
)
from codehunt.index.delta import assemble_rows, gather_vectors, write_corpus
from codehunt.index.dense import (
    FEW_QUERIES, DenseConfig, build_dense_index, dense_index_type, load_dense_index, one_thread_for, save_dense_index,
    search_dense_index,
)
from codehunt.index.embedding_cache import CachedEncoder, store_namespace
from codehunt.index.encoder import Encoder, EncoderConfig, SentenceTransformerEncoder, model_files_signature
from codehunt.index.errors import BadInputError, CorruptIndexError, IncompatibleIndexError
from codehunt.index.file_ranking import FileHit, rank_files
from codehunt.index.incremental import (
    FILES_NAME,
    TERMS_DIR,
    BuildState,
    FileRecord,
    Scan,
    bm25_doc_terms,
    bm25_from_doc_terms,
    chunking_key,
    is_up_to_date,
    previous_from_index,
    read_previous,
    save_doc_terms,
    scan_source,
    source_record,
    update_index,
    with_chunk_counts,
)
from codehunt.index.manifest import FAST_HASH, MANIFEST_NAME, EncoderInfo, IndexManifest, check_fast_checksums, checksum_trees
from codehunt.index.progress import BuildProgress, ProgressCallback, no_progress
from codehunt.index.ranking import SearchConfig, rank_hybrid
from codehunt.index.sources import resolve_revision
from codehunt.index.storage import build_lock, sha256_file, staging_directory, write_json_atomic, write_jsonl_atomic
from codehunt.index.tokenize import tokenize_code
from codehunt.index.types import Chunk, Hit, Skip
from codehunt.index.units import UnitTable, best_per_unit

log = logging.getLogger(__name__)

EMBEDDINGS_DIR = "embeddings"
"""The index's embedding store (``embedding_cache``): a cache, left out of the manifest's checksums."""
SLICE_BATCHES = 8
"""Encoder batches per stored slice: a killed build loses at most this many batches of work."""

SearchMode = Literal["dense", "bm25", "hybrid"]
SEARCH_MODES = ("dense", "bm25", "hybrid")
PassagePooling = Literal["max", "mean"]


@dataclass(frozen=True)
class IndexConfig:
    """Everything that decides what an index contains; saved in its manifest."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig, metadata={"help": "embedding model"})
    corpus: CorpusConfig = field(default_factory=CorpusConfig, metadata={"help": "file selection and chunking"})
    dense: DenseConfig = field(default_factory=DenseConfig, metadata={"help": "FAISS index type"})
    bm25: BM25Config = field(default_factory=BM25Config, metadata={"help": "BM25 parameters"})
    search: SearchConfig = field(default_factory=SearchConfig, metadata={"help": "query-time fusion and ranking"})

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> "IndexConfig":
        """The config a manifest recorded (``_jsonable(asdict(config))``); fields it lacks take their defaults."""
        search = SearchConfig.from_json(payload.get("search"))
        return cls(**{name: _dataclass_from_json(kind, payload.get(name)) for name, kind in _CONFIG_PARTS.items()}, search=search)


DENSE_NAME = "dense.faiss"

_CONFIG_PARTS = {"encoder": EncoderConfig, "corpus": CorpusConfig, "dense": DenseConfig, "bm25": BM25Config}


class Index:
    """A searchable code index (dense FAISS + BM25) over one corpus."""

    def __init__(
        self,
        path: Path,
        manifest: IndexManifest,
        chunks: Sequence[Chunk],
        dense: Any,
        bm25: BM25Index,
        encoder: Encoder | None = None,
    ):
        self.path = path
        self.manifest = manifest
        self.chunks = chunks
        self._dense = dense
        self._verify_dense = False
        self.bm25 = bm25
        self._encoder = encoder
        self.search_config = SearchConfig.from_json(manifest.config.get("search"))
        """Query-time settings: recorded at build time, replaceable per session (``dataclasses.replace``)."""
        self.up_to_date = False
        """True when :meth:`build` found nothing changed and published nothing (``incremental.is_up_to_date``)."""
        self._doc_ids: Sequence[str] | None = None  # ids.json when loaded: finds a unit's chunk without parsing all
        self._ids_path: Path | None = None
        self._half_scan: tuple[Any, Any] | None = None  # (the FAISS index it copies, its HalfPrecisionScan or None)
        self.build_state: BuildState | None = None
        """File records, skips and BM25 terms of the build that made this object (None when loaded from disk)."""

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        source: Path,
        output: Path,
        config: IndexConfig = IndexConfig(),
        rev: str | None = None,
        encoder: Encoder | None = None,
        show_progress: bool = False,
        progress: ProgressCallback | None = None,
        fresh: bool = False,
        base: "Index | None" = None,
        on_ready: "Callable[[Index], None] | None" = None,
    ) -> "Index":
        """Index a directory, a git revision (``rev``) or a BEIR ``corpus.jsonl`` into ``output``.

        Onto an existing index the build is incremental (:mod:`~codehunt.index.incremental`): files
        that did not change keep their chunks unread, and texts the index's embedding store holds
        keep their vectors, so a build killed half-way resumes where it stopped; the result equals
        a fresh build. ``fresh=True`` reuses nothing. ``progress`` receives a
        :class:`~codehunt.index.progress.BuildProgress` at every step (the encoder draws no bar of
        its own then); ``show_progress`` alone draws a tqdm bar over the texts to embed.

        ``base``: the loaded index at ``output`` (a served one), updated from memory instead of reading the
        directory back (``incremental.previous_from_index``). ``on_ready`` receives the new index once it is
        complete in memory, before it is written: a server can answer from it while it is published; the
        object returned is the same one, its manifest then the one written.
        """
        source, output = Path(source), Path(output)
        if not source.exists():
            raise BadInputError(f"{source} does not exist: pass a directory, a git repository or a corpus.jsonl")
        state, report = BuildProgress(), progress or no_progress
        with build_lock(output):
            key = chunking_key(_jsonable(asdict(config)), CHUNKER_VERSION)
            from_memory = base is not None and Path(base.path).resolve() == output.resolve()
            previous = None if fresh else (previous_from_index(base, key) if from_memory else None) or read_previous(output, key)
            model = _lazy_encoder(encoder, config.encoder, previous.encoder if previous is not None else None)
            commit = resolve_revision(source, rev) if rev else None
            scan = scan_source(source, commit, config.corpus, previous, _splitter(model, config), state, report)
            record = source_record(source, rev, commit)
            on_disk = not from_memory or _holds_generation(output, base)  # a served index whose write failed: not yet
            if previous is not None and on_disk and is_up_to_date(output, scan, previous, _jsonable(asdict(config)), record, encoder):
                try:
                    index = cls.load(output)
                except CorruptIndexError as exc:  # the source did not change but a file did: publish it again
                    log.warning("%s is up to date with %s but damaged (%s): writing it again", output, source, exc)
                else:
                    log.info("%s is up to date with %s: nothing to publish", output, source)
                    index.up_to_date = True
                    return index
            return cls._publish(
                scan.chunks, scan.skipped, scan.records, output, config, model(), record,
                state, report, show_progress and progress is None, fresh, scan, on_ready,
            )

    @classmethod
    def build_from_corpus(
        cls,
        corpus: Corpus,
        output: Path,
        config: IndexConfig = IndexConfig(),
        encoder: Encoder | None = None,
        show_progress: bool = False,
        source_info: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> "Index":
        """Embed and index ``corpus``, publishing ``output`` atomically under a build lock.

        Vectors come from ``output``'s embedding store where it holds them (see :meth:`build`).
        """
        output = Path(output)
        model = _lazy_encoder(encoder, config.encoder)
        state, report = BuildProgress(), progress or no_progress
        with build_lock(output):
            chunks = _splitter(model, config)(corpus.chunks)
            state.units_chunked = len(chunks)
            return cls._publish(
                chunks, corpus.skipped, None, output, config, model(), source_info or {}, state, report,
                show_progress and progress is None,
            )

    @classmethod
    def _publish(
        cls,
        chunks: list[Chunk],
        skipped: list[Skip],
        records: list[FileRecord] | None,
        output: Path,
        config: IndexConfig,
        encoder: Encoder,
        source_info: dict[str, Any],
        state: BuildProgress,
        report: ProgressCallback,
        show_progress: bool,
        fresh: bool = False,
        scan: Scan | None = None,
        on_ready: "Callable[[Index], None] | None" = None,
    ) -> "Index":
        """Embed ``chunks`` through the embedding store, build FAISS and BM25, and publish ``output`` atomically.

        The store is ``output/embeddings/<namespace>/`` unless ``encoder`` is itself a
        :class:`CachedEncoder` (a store the caller shares, say across revisions); the index's own
        store is written in place as slices are embedded and carried into the new directory. The
        chunks ``scan`` took from the previous index keep their ``corpus.jsonl`` lines and BM25 terms.
        """
        if fresh and not isinstance(encoder, CachedEncoder):
            shutil.rmtree(output / EMBEDDINGS_DIR / store_namespace(encoder), ignore_errors=True)
        store = encoder if isinstance(encoder, CachedEncoder) else \
            CachedEncoder(encoder, output / EMBEDDINGS_DIR, config.encoder.batch_size * SLICE_BATCHES)
        owned = store is not encoder
        old_vectors = scan.previous.vectors() if scan is not None and scan.previous is not None \
            and _same_vectors(scan.previous.encoder, store.namespace) else None
        rows = assemble_rows(scan, config.corpus.summaries) if old_vectors is not None and scan is not None else None  # an update, by row
        if rows is not None:
            chunks, doc_ids, unit_count = rows.chunks, rows.doc_ids, rows.unit_count
            new_rows = rows.new_rows.tolist()
            texts = [embedding_text(chunks[row]) for row in new_rows]  # only the chunks that are new
        else:
            chunks = with_summary_chunks(chunks) if config.corpus.summaries else list(chunks)
            doc_ids, unit_count = [chunk.doc_id for chunk in chunks], len({chunk.unit for chunk in chunks})
            texts = [embedding_text(chunk) for chunk in chunks]
        state.stage = "embedding"
        report(state)

        def embedded(done: int, total: int) -> None:
            state.units_embedded, state.units_to_embed = done, total
            report(state)

        started = time.perf_counter()
        keys = store.keys(texts, "document")
        vectors = store.encode(texts, "document", show_progress, progress=embedded, keys=keys)  # (texts, dim)
        log.info("embedded %d of %d chunks in %.1fs (the rest from %s)", state.units_embedded, len(chunks),
                 time.perf_counter() - started, "the previous index" if rows is not None else store.store.directory)
        if rows is not None:
            if len(store.store) > 2 * len(chunks):  # compaction ahead: the store needs every live key
                keys = store.keys([embedding_text(chunk) for chunk in chunks], "document")
            else:
                keys = None  # every shard is carried
        state.stage = "indexing"
        report(state)

        def dense_index() -> Any:
            full = gather_vectors(rows, old_vectors, vectors) if rows is not None else vectors  # (chunks, dim)
            return build_dense_index(full, config.dense)

        # FAISS and NumPy copies release the GIL: the dense index is built beside BM25 (0.15 s of 0.7 s of an update).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="codehunt-dense") as pool:
            building = pool.submit(dense_index)
            n_code = rows.n_code if rows is not None else sum(1 for chunk in chunks if not is_summary(chunk))
            terms = bm25_doc_terms(chunks[:n_code] if rows is None else scan.chunks, scan)  # type: ignore[union-attr]
            bm25 = bm25_from_doc_terms(terms, config.bm25)  # what BM25Index.build makes, reused chunks not re-tokenized
            dense = building.result()
        manifest = IndexManifest(  # the checksums are added once the files are written
            encoder=replace(_encoder_info(encoder, config.encoder), model_files=model_files_signature(config.encoder.model)),
            index_type=dense_index_type(dense),  # what auto chose
            document_count=len(chunks),
            unit_count=unit_count,
            chunker_version=CHUNKER_VERSION,
            source=source_info,
            config=_jsonable(asdict(config)),
            fast_hash=FAST_HASH,
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            build={key: value for key, value in asdict(state).items() if key != "stage"},
        )
        index = cls(output, manifest, chunks, dense, bm25, encoder)
        index._doc_ids = doc_ids
        index.build_state = BuildState(records, list(skipped), terms)
        if on_ready is not None:
            on_ready(index)
        state.stage = "writing"
        report(state)
        with staging_directory(output) as staging:
            write_corpus(staging / "corpus.jsonl", chunks)
            write_jsonl_atomic(staging / "skipped.jsonl", (skip.to_json() for skip in skipped))
            write_json_atomic(staging / "ids.json", doc_ids, indent=None)  # 85k ids: the C encoder, 10x faster
            if records is not None:
                write_jsonl_atomic(staging / FILES_NAME, (record.to_json() for record in records))
            save_dense_index(dense, staging / DENSE_NAME)
            bm25.save(staging / "bm25")
            save_doc_terms(staging / TERMS_DIR, terms)
            files, fast_files = checksum_trees(staging)  # the store is a cache: not summed
            if owned:
                store.store.carry(staging / EMBEDDINGS_DIR / store.namespace, keys)
            manifest = replace(manifest, files=files, fast_files=fast_files)
            write_json_atomic(staging / MANIFEST_NAME, manifest.to_json())
        index.manifest = manifest
        return index

    @classmethod
    def update(
        cls, path: Path, rev: str | None = None, encoder: Encoder | None = None, progress: ProgressCallback | None = None
    ) -> "Index":
        """Bring ``path`` up to date with the source its manifest records (:func:`~codehunt.index.incremental.update_index`)."""
        return update_index(path, rev, encoder, progress=progress)

    @classmethod
    def build_from_vectors(
        cls, chunks: list[Chunk], vectors: Any, output: Path, config: IndexConfig, encoder_info: EncoderInfo,
        skipped: Sequence[Skip] = (), source_info: dict[str, Any] | None = None, records: list[FileRecord] | None = None,
        build: dict[str, Any] | None = None,
    ) -> "Index":
        """Index chunks embedded elsewhere (merged shards, a Ray build: :mod:`~codehunt.index.shards`).

        ``chunks`` are final (split, summaries last) and ``vectors`` (n, dim) their embeddings; FAISS, BM25,
        the files and the manifest are written as by :meth:`build` and published atomically under the lock.
        """
        output = Path(output)
        records = with_chunk_counts(records, chunks) if records is not None else None
        with build_lock(output):
            dense = build_dense_index(vectors, config.dense)
            terms = bm25_doc_terms([chunk for chunk in chunks if not is_summary(chunk)], None)
            bm25 = bm25_from_doc_terms(terms, config.bm25)  # as _publish: BM25 and bm25_terms/ from the same terms
            with staging_directory(output) as staging:
                write_jsonl_atomic(staging / "corpus.jsonl", (chunk.to_json() for chunk in chunks))
                write_jsonl_atomic(staging / "skipped.jsonl", (skip.to_json() for skip in skipped))
                write_json_atomic(staging / "ids.json", [chunk.doc_id for chunk in chunks], indent=None)
                if records is not None:
                    write_jsonl_atomic(staging / FILES_NAME, (record.to_json() for record in records))
                save_dense_index(dense, staging / DENSE_NAME)
                bm25.save(staging / "bm25")
                save_doc_terms(staging / TERMS_DIR, terms)
                sums = checksum_trees(staging)
                manifest = IndexManifest(  # the model files as seen where the index is written (shards, Ray workers: elsewhere)
                    encoder=replace(encoder_info, model_files=model_files_signature(config.encoder.model)),
                    index_type=dense_index_type(dense), document_count=len(chunks),
                    unit_count=len({chunk.unit for chunk in chunks}), chunker_version=CHUNKER_VERSION,
                    source=source_info or {}, config=_jsonable(asdict(config)), files=sums[0],
                    fast_hash=FAST_HASH, fast_files=sums[1],
                    created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), build=build or {},
                )
                write_json_atomic(staging / MANIFEST_NAME, manifest.to_json())
        index = cls(output, manifest, chunks, dense, bm25)
        index.build_state = BuildState(records, list(skipped), terms)
        return index

    # ------------------------------------------------------------------- load
    @classmethod
    def load(cls, path: Path, encoder: Encoder | None = None, verify: bool = True, load_dense: bool = True) -> "Index":
        """Open an index directory; the encoder is loaded lazily from the manifest when needed.

        Passing ``encoder`` checks it against the manifest (name, dimension, fingerprint). ``verify``
        checks every file's size and CRC-32 against the manifest first (``manifest.check_fast_checksums``)
        and refuses a corrupted index with the file's name; ``verify=False`` skips that read.
        ``load_dense=False`` defers reading (and checking) ``dense.faiss`` to the first dense query: what a
        one-shot BM25 search wants. A long-lived process should keep the default, so that an index republished
        in the same place while it runs cannot be half read (the deferred read refuses a file that differs
        from the manifest read at open).
        """
        path = Path(path)
        manifest = IndexManifest.read(path)
        if verify:
            check_fast_checksums(path, manifest, skip=() if load_dense else (DENSE_NAME,))
        if encoder is not None:
            check_encoder(manifest, encoder, path)
        chunks = ChunkFile(path / "corpus.jsonl")  # parsed line by line as search reads them
        if len(chunks) != manifest.document_count:
            raise CorruptIndexError(
                f"{path}: corpus.jsonl has {len(chunks)} chunks, the manifest {manifest.document_count}; rebuild the index"
            )
        bm25 = BM25Index.load(path / "bm25")
        index = cls(path, manifest, chunks, None, bm25, encoder)
        index._ids_path = path / "ids.json"  # read when first needed (a summary hit, an update): 30 ms of a cold search
        index._verify_dense = verify
        if load_dense:
            index.dense  # noqa: B018  # read now
        return index

    @property
    def dense(self) -> Any:
        """The FAISS index (read from ``dense.faiss`` on first use when the index was opened with ``load_dense=False``)."""
        if self._dense is None:
            path = self.path / DENSE_NAME
            if self._verify_dense:
                check_fast_checksums(self.path, self.manifest, only=(DENSE_NAME,))
            dense = load_dense_index(path, DenseConfig(**self.manifest.config.get("dense", {})))
            if dense.d != self.manifest.encoder.dimension or dense.ntotal != len(self.chunks):
                raise CorruptIndexError(
                    f"{path} holds {dense.ntotal} vectors of dimension {dense.d}; the manifest says "
                    f"{len(self.chunks)} of {self.manifest.encoder.dimension}: rebuild the index"
                )
            self._dense = dense
        return self._dense

    @cached_property
    def units(self) -> UnitTable:
        """The unit table, built on first use: each unit's first chunk, the units of each file, units by name."""
        return UnitTable(self.chunks)

    def hit_texts(self, hits: Sequence[Hit]) -> list[str]:
        """The text a reranker should read for each hit: path, qualname and the unit's first part."""
        return [embedding_text(self.units.chunk(hit.doc_id)) for hit in hits]

    def verify(self) -> list[str]:
        """Files whose sha256 differs from the manifest (empty when the index is intact)."""
        return verify_checksums(self.path, self.manifest)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            info = self.manifest.encoder
            self._encoder = SentenceTransformerEncoder(
                EncoderConfig(model=info.name, max_length=info.max_length, precision=info.precision)
            )
            check_encoder(self.manifest, self._encoder, self.path)
        return self._encoder

    # ----------------------------------------------------------------- search
    def search(self, query: str, k: int = 10, mode: SearchMode = "hybrid") -> list[Hit]:
        """The ``k`` best units for ``query`` (one hit per function, long functions' parts collapsed)."""
        return self.search_many([query], k, mode)[0]

    def search_many(
        self, queries: Sequence[str], k: int = 10, mode: SearchMode = "hybrid", show_progress: bool = False,
        search_config: SearchConfig | None = None,
    ) -> list[list[Hit]]:
        """Search a batch of queries; queries are embedded together, which is much faster than one by one.

        ``search_config`` replaces ``self.search_config`` for this call (the index stays as it is, so a
        served index can answer with several settings at once).
        """
        if mode not in SEARCH_MODES:
            raise BadInputError(f"unknown search mode {mode!r}: choose dense, bm25 or hybrid")
        if k <= 0 or not queries:
            return [[] for _ in queries]
        config = search_config or self.search_config
        depth = max(config.depth, k)
        rankings = self.candidate_rankings(queries, depth, mode, show_progress, search_config=config)
        return [self._rank(query_rankings, k) for query_rankings in rankings]

    def search_files(self, query: str, k: int = 10, mode: SearchMode = "hybrid", how: str | None = None) -> list[FileHit]:
        """The ``k`` best files for ``query``, ranked from their units (:func:`~codehunt.index.file_ranking.rank_files`).

        Units are gathered to the search depth, so a file is found when one of its units is among those; the
        files come from the same unit ranking ``search`` returns (as ``codehunt search --level file`` ranks them).
        """
        if k <= 0:
            return []
        hits = self.search_many([query], max(self.search_config.depth, k), mode)[0]
        return rank_files(hits, how or self.search_config.file_aggregation, k)

    def candidate_rankings(
        self,
        queries: Sequence[str | Sequence[str]],
        depth: int,
        mode: SearchMode,
        show_progress: bool = False,
        *,
        keep: Callable[[Chunk], bool] | None = None,
        fetch: int | None = None,
        pooling: PassagePooling = "max",
        search_config: SearchConfig | None = None,
    ) -> list[list[tuple[int, float]]]:
        """Per query, (chunk position, score) best first, one entry per unit.

        A query is a text or, for a long one such as an issue, a list of passages: every passage is searched
        and a unit keeps its best passage score (MaxP, Dai & Callan 2019) on each side, ties by unit id
        (:func:`~codehunt.index.units.best_per_unit`); ``pooling="mean"`` searches the dense side with the
        passages' mean embedding instead. ``keep(chunk)`` filters candidates before they take a rank (say,
        ``lambda chunk: not is_test_path(chunk.path)``). ``fetch``: chunks each retriever returns per passage
        before parts collapse and ``keep`` drops some (default ``3 * depth``: split parts and docstring summaries are
        chunks of their unit; raise it when ``keep`` drops many).
        ``search_config`` replaces ``self.search_config`` for the hybrid ranking of this call.
        """
        dense_lists: list[list[tuple[int, float]]] | None = None
        bm25_lists: list[list[tuple[int, float]]] | None = None
        fetch = depth * 3 if fetch is None else fetch  # parts and summaries: extra chunks so `depth` units survive
        if mode in ("dense", "hybrid"):
            dense_lists = self._dense_lists(queries, depth, fetch, keep, pooling, show_progress)
        if mode in ("bm25", "hybrid"):
            bm25_lists = []
            for query in queries:
                texts = [query] if isinstance(query, str) else query
                rows = [self.bm25.top_k(tokenize_code(text), fetch) for text in texts]
                pairs = [list(zip(ids_.tolist(), scores_.tolist())) for ids_, scores_ in rows]
                bm25_lists.append(self._pool(query, pairs, depth, keep))
        if mode == "dense":
            assert dense_lists is not None
            return dense_lists
        if mode == "bm25":
            assert bm25_lists is not None
            return bm25_lists
        assert dense_lists is not None and bm25_lists is not None
        config = search_config or self.search_config
        return [
            rank_hybrid(dense_list, bm25_list, self.chunks, query if isinstance(query, str) else "\n".join(query), config)[:depth]
            for query, dense_list, bm25_list in zip(queries, dense_lists, bm25_lists)
        ]

    def _dense_lists(
        self, queries: Sequence[str | Sequence[str]], depth: int, fetch: int, keep: Callable[[Chunk], bool] | None,
        pooling: PassagePooling, show_progress: bool,
    ) -> list[list[tuple[int, float]]]:
        """The dense side of :meth:`candidate_rankings`: every query's passages embedded and searched in one batch."""
        import numpy as np

        if pooling not in ("max", "mean"):
            raise BadInputError(f"unknown passage pooling {pooling!r}: choose max or mean")
        passages = [[query] if isinstance(query, str) else list(query) for query in queries]
        texts = [text for group in passages for text in group]
        if not texts:
            return [[] for _ in queries]
        vectors = self.encoder.encode(texts, "query", show_progress)  # (passages, dim)
        groups, start = [], 0
        for query, group in zip(queries, passages):
            rows = vectors[start : start + len(group)]  # (passages of this query, dim)
            start += len(group)
            if pooling == "mean" and not isinstance(query, str) and len(group):
                mean = rows.mean(axis=0, keepdims=True)  # (1, dim)
                rows = mean / max(float(np.linalg.norm(mean)), 1e-12)
            groups.append(rows)
        scores, ids = self._search_dense(np.concatenate(groups), fetch)
        lists, start = [], 0
        for query, rows in zip(queries, groups):
            pairs = [list(zip(ids[i].tolist(), scores[i].tolist())) for i in range(start, start + len(rows))]
            start += len(rows)
            lists.append(self._pool(query, pairs, depth, keep))
        return lists

    def _search_dense(self, vectors: Any, fetch: int) -> tuple[Any, Any]:
        """FAISS's top ``fetch`` for each vector; a few queries over a flat index scan its fp16 copy
        (:mod:`codehunt.index.half_scan`, exact, half the bytes read), built on first use."""
        dense = self.dense
        if len(vectors) <= FEW_QUERIES:
            if self._half_scan is None or self._half_scan[0] is not dense:
                from codehunt.index.half_scan import HalfPrecisionScan, flat_vectors

                stored = flat_vectors(dense)
                self._half_scan = (dense, HalfPrecisionScan(stored) if stored is not None else None)
            if self._half_scan[1] is not None:
                with one_thread_for(len(vectors)):
                    return self._half_scan[1].search(vectors, fetch)
        return search_dense_index(dense, vectors, fetch)

    def _pool(
        self, query: str | Sequence[str], pairs: list[list[tuple[int, float]]], depth: int,
        keep: Callable[[Chunk], bool] | None,
    ) -> list[tuple[int, float]]:
        """A query's ranked (position, score) lists, one per passage -> its units (a text: first hit per unit; MaxP)."""
        if isinstance(query, str):
            return self._collapse(pairs[0], depth, keep)
        return best_per_unit(self.chunks, (pair for ranked in pairs for pair in ranked), depth, keep)

    def _collapse(self, pairs: Any, depth: int, keep: Callable[[Chunk], bool] | None = None) -> list[tuple[int, float]]:
        seen: set[str] = set()
        result: list[tuple[int, float]] = []
        chunks = self.chunks
        for position, score in pairs:
            if position < 0:
                continue
            chunk = chunks[position]
            if keep is not None and not keep(chunk):
                continue
            unit = chunk.unit_id or chunk.doc_id  # Chunk.unit, inlined: a hybrid query collapses ~600 candidates
            if unit in seen:
                continue
            seen.add(unit)
            result.append((position, float(score)))
            if len(result) == depth:
                break
        return result

    def _rank(self, ranking: list[tuple[int, float]], k: int) -> list[Hit]:
        hits = []
        for rank, (position, score) in enumerate(ranking[:k], start=1):
            chunk = self.chunks[position]
            hits.append(hit_from_chunk(self._unit_chunk(chunk.unit) if is_summary(chunk) else chunk, rank, score))
        return hits

    def _unit_chunk(self, unit: str) -> Chunk:
        """The first chunk of ``unit`` (its doc id is the unit id), found through ``ids.json`` when the index was
        loaded, so a hit on a docstring summary does not parse every chunk to build the unit table."""
        position = self._doc_positions.get(unit)
        return self.chunks[position] if position is not None else self.units.chunk(unit)

    @property
    def doc_ids(self) -> Sequence[str]:
        """Every chunk's doc id, in order (``ids.json`` of a loaded index, read on first use; else from the chunks)."""
        if self._doc_ids is None and self._ids_path is not None:
            ids = _read_json(self._ids_path)
            if not isinstance(ids, list) or len(ids) != len(self.chunks):
                raise CorruptIndexError(f"{self._ids_path} does not list the {len(self.chunks)} chunks of corpus.jsonl; rebuild the index")
            self._doc_ids = ids
        if self._doc_ids is None:
            self._doc_ids = [chunk.doc_id for chunk in self.chunks]
        return self._doc_ids

    @cached_property
    def _doc_positions(self) -> dict[str, int]:
        return {doc_id: position for position, doc_id in enumerate(self.doc_ids)}


def hit_from_chunk(chunk: Chunk, rank: int, score: float) -> Hit:
    start, end = chunk.extra.get("unit_lines", [chunk.start_line, chunk.end_line])
    first_lines = [line for line in chunk.text.split("\n") if line.strip()][:2]
    return Hit(
        rank=rank,
        score=float(score),
        doc_id=chunk.unit,
        path=chunk.path,
        start_line=int(start),
        end_line=int(end),
        qualname=chunk.qualname,
        language=chunk.language,
        snippet="\n".join(line.rstrip()[:160] for line in first_lines),
    )


def check_encoder(manifest: IndexManifest, encoder: Encoder, path: Path) -> None:
    """Raise IncompatibleIndexError unless ``encoder`` is the one that built the index."""
    info = manifest.encoder
    if encoder.dimension != info.dimension or encoder.fingerprint() != info.fingerprint:
        raise IncompatibleIndexError(
            f"{path} was built with model {info.name} (dim {info.dimension}, fingerprint {info.fingerprint}); "
            f"you passed {encoder.name} (dim {encoder.dimension}, fingerprint {encoder.fingerprint()}): "
            "search without --model, or rebuild the index with this model"
        )


def verify_checksums(path: Path, manifest: IndexManifest) -> list[str]:
    problems = []
    for name, expected in sorted(manifest.files.items()):
        file = path / name
        if not file.is_file():
            problems.append(f"{file}: missing")
        elif sha256_file(file) != expected:
            problems.append(f"{file}: checksum mismatch")
    return problems


def _base_encoder(encoder: Encoder) -> Encoder:
    """The model under wrappers such as an embedding cache (each keeps what it wraps in ``.encoder``)."""
    while hasattr(encoder, "encoder"):
        encoder = encoder.encoder
    return encoder


def _holds_generation(output: Path, index: "Index | None") -> bool:
    """Whether the directory ``output`` holds the generation ``index`` is (the same files in its manifest)."""
    try:
        return index is not None and bool(index.manifest.files) and IndexManifest.read(output).files == index.manifest.files
    except CorruptIndexError:
        return False


def _same_vectors(built_with: EncoderInfo | None, namespace: str) -> bool:
    """Whether an index built with ``built_with`` holds the vectors the store ``namespace`` would give (same weights,
    window and precision: ``embedding_cache.store_namespace``), so an update may take them by row."""
    if built_with is None:
        return False
    suffix = "-bf16" if built_with.precision == "bf16" else ""
    return f"{built_with.fingerprint}-L{built_with.max_length}{suffix}" == namespace


def _lazy_encoder(encoder: Encoder | None, config: EncoderConfig, built_with: EncoderInfo | None = None) -> Callable[[], Encoder]:
    """``encoder``, or the model of ``config`` loaded on first call: a build that fails reading its source loads none.

    ``built_with``: the model an existing index records; when it is this config's local model directory and its
    files are the ones recorded (``model_files_signature``), its fingerprint is taken instead of hashing the weights.
    """
    loaded: list[Encoder] = [encoder] if encoder is not None else []

    def get() -> Encoder:
        if not loaded:
            known = None
            if built_with is not None and built_with.name == config.model and built_with.model_files \
                    and model_files_signature(config.model) == built_with.model_files:
                known = built_with.fingerprint
            loaded.append(SentenceTransformerEncoder(config, fingerprint=known))
        return loaded[0]

    return get


def _splitter(model: Callable[[], Encoder], config: IndexConfig) -> Callable[[list[Chunk]], list[Chunk]]:
    """Split units longer than the encoder window (``split_long_chunks``), when the config asks and the model says."""

    def split(chunks: list[Chunk]) -> list[Chunk]:
        if not chunks or not config.corpus.split_long:
            return chunks
        base = _base_encoder(model())
        if not isinstance(base, SentenceTransformerEncoder):
            return chunks
        return split_long_chunks(chunks, _token_counter(base), base.max_length - 2)

    return split


def _encoder_info(encoder: Encoder, config: EncoderConfig) -> EncoderInfo:
    encoder = _base_encoder(encoder)
    if isinstance(encoder, SentenceTransformerEncoder):
        pooling = ",".join(type(module).__name__ for module in list(encoder.model)[1:])
        precision = "bf16" if encoder.use_bf16() else "fp32"
        max_length = encoder.max_length
    else:
        pooling, precision, max_length = "unknown", "fp32", 0
    return EncoderInfo(encoder.name, encoder.fingerprint(), encoder.dimension, max_length, pooling, precision)


def _token_counter(encoder: SentenceTransformerEncoder):  # noqa: ANN202
    tokenizer = encoder.tokenizer

    def count(texts: list[str]) -> list[int]:
        if not texts:
            return []
        encoded = tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    return count


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise CorruptIndexError(f"{path} is missing: rebuild the index")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorruptIndexError(f"{path} is corrupted ({exc}); rebuild the index") from exc


def _dataclass_from_json(cls: type, payload: Any) -> Any:
    """A frozen config dataclass from its ``asdict`` JSON: nested configs rebuilt, lists back to tuples, unknown keys dropped."""
    import dataclasses
    import typing

    if not isinstance(payload, dict):
        return cls()
    hints = typing.get_type_hints(cls)
    values = {}
    for item in dataclasses.fields(cls):
        if item.name in payload:
            value, hint = payload[item.name], hints.get(item.name)
            if dataclasses.is_dataclass(hint) and isinstance(value, dict):
                value = _dataclass_from_json(hint, value)
            elif isinstance(value, list):
                value = tuple(value)
            values[item.name] = value
    return cls(**values)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value
