"""Distributed embedding on Ray Data: ``codehunt index build SRC --engine ray [--address ADDR] [--workers N]``.

A build runs in two Ray Data stages, then merges on the driver:

1. the driver lists the source (a directory or a git revision's blobs, read as ``Index.build``
   reads them) and ships each file's bytes; stateless tasks chunk them (``chunk_files``), one row
   per file, and the driver puts the chunks in listing order: the chunk list a single-process build makes;
2. ``map_batches`` over those chunks with a pool of ``workers`` actors, each holding one copy of the
   model on ``cpus_per_worker`` CPU threads (or ``gpus_per_worker`` of a GPU), splits long units,
   adds docstring summaries and embeds: every output row carries its place in the final order;
3. the driver collects the embedded blocks (the shards of this engine), sorts them back into
   single-build order, checks that every unit came back exactly once
   (:func:`~codehunt.index.shards.assemble`) and publishes a normal index through
   :meth:`~codehunt.index.index.Index.build_from_vectors`: same ids, same BM25, vectors equal to
   float tolerance, same manifest fields.

Fault tolerance is Ray's: Ray Data restarts an actor whose process dies (``max_restarts=-1``) and
re-runs its batch (``max_task_retries=-1``); chunking tasks are retried like any Ray task. Rows are
keyed by position, so a batch that ran twice cannot add a unit twice.

The same engine embeds plain text lists for the miners: :func:`embed_texts` and
:class:`RayEncoder`, an :class:`~codehunt.index.encoder.Encoder` that runs every ``encode`` on the cluster.

Ray is an optional extra (``pip install 'codehunt[ray]'``); nothing here imports it before a call.
On a multi-node cluster every node needs codehunt and the model installed; the source is read by
the driver, so it need not be on a shared file system. Limit: the driver holds every chunk and
vector before building FAISS (which needs them all anyway).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from codehunt.index.errors import BadInputError, CodehuntError, ConfigError

if TYPE_CHECKING:
    from codehunt.index.encoder import Encoder, EncoderConfig, TextKind
    from codehunt.index.index import Index, IndexConfig

log = logging.getLogger(__name__)

EncoderFactory = Callable[[], "Encoder"]
"""Builds the encoder inside each actor (default: the ``SentenceTransformerEncoder`` of the config); must pickle."""


class RayUnavailableError(CodehuntError):
    """Ray is not installed, or no cluster answers at the address."""


@dataclass(frozen=True)
class RayConfig:
    """Where and how wide a Ray build or embedding runs."""

    address: str | None = field(default=None, metadata={"help": "Ray cluster address (auto, ray://host:10001); None: the running or a new local one"})
    workers: int = field(default=0, metadata={"help": "model actors (0: cluster CPUs / cpus_per_worker, or GPUs / gpus_per_worker)"})
    cpus_per_worker: int = field(default=1, metadata={"help": "CPU threads (and Ray CPUs) per actor"})
    gpus_per_worker: float = field(default=0.0, metadata={"help": "GPUs per actor (0: CPU actors)"})
    batch_size: int = field(default=256, metadata={"help": "units per actor call (the encoder batches within it)"})
    files_per_task: int = field(default=64, metadata={"help": "source files per chunking task"})

    def __post_init__(self) -> None:
        for name in ("cpus_per_worker", "batch_size", "files_per_task"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.workers < 0 or self.gpus_per_worker < 0:
            raise ConfigError(f"--workers and --gpus-per-worker must be >= 0, got {self.workers} and {self.gpus_per_worker}")


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is the [data] extra
    except ImportError as exc:
        raise RayUnavailableError("--engine ray needs Ray Data: pip install 'codehunt[ray]' (or 'ray[data]')") from exc
    return ray


def connect(config: RayConfig) -> bool:
    """Join the cluster at ``config.address`` (or start a local one); True when this call started Ray."""
    ray = _ray()
    if ray.is_initialized():
        return False
    try:
        ray.init(address=config.address, logging_level=logging.WARNING, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailableError(f"cannot reach a Ray cluster at {config.address!r} ({str(exc).splitlines()[0][:160]}): "
                                  "start one with `ray start --head`, or leave out --address for a local one") from exc
    return True


def pool_size(config: RayConfig) -> int:
    """``config.workers``, or as many actors as the cluster's CPUs (or GPUs) hold."""
    if config.workers:
        return config.workers
    resources = _ray().cluster_resources()
    if config.gpus_per_worker:
        return max(1, int(resources.get("GPU", 0) // config.gpus_per_worker))
    return max(1, int(resources.get("CPU", 1) // config.cpus_per_worker))


def _actor_options(config: RayConfig) -> dict[str, Any]:
    """``map_batches`` arguments: a fixed pool of actors, each reserving its CPUs (or GPU share)."""
    compute = _ray().data.ActorPoolStrategy(size=pool_size(config))
    options: dict[str, Any] = {"compute": compute, "num_cpus": config.cpus_per_worker, "batch_size": config.batch_size}
    if config.gpus_per_worker:
        options["num_gpus"] = config.gpus_per_worker
    return options


def _quiet_data_context(show_progress: bool) -> None:
    """Ray Data's progress bars only when asked; its per-dataset INFO lines never (library code does not draw)."""
    logging.getLogger("ray.data").setLevel(logging.INFO if show_progress else logging.WARNING)
    context = _ray().data.DataContext.get_current()
    for name, value in (("enable_progress_bars", show_progress), ("print_on_execution_start", False), ("verbose_progress", False)):
        if hasattr(context, name):  # the names moved between Ray releases
            setattr(context, name, value)


# --------------------------------------------------------------------------- actors (run inside Ray workers)
class _ChunkEmbedder:
    """One model copy: splits long units, adds summaries and embeds a batch of chunks with their order keys."""

    def __init__(self, config: dict[str, Any], factory: EncoderFactory | None, threads: int):
        import torch

        from codehunt.index.index import IndexConfig, _encoder_info, _splitter

        torch.set_num_threads(threads)
        self.config = IndexConfig.from_json(config)
        self.encoder = factory() if factory is not None else _default_encoder(self.config.encoder)
        self.split = _splitter(lambda: self.encoder, self.config)
        self.info = json.dumps(asdict(_encoder_info(self.encoder, self.config.encoder)), sort_keys=True)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from codehunt.index.corpus import embedding_text
        from codehunt.index.shards import rows_for_units
        from codehunt.index.types import Chunk

        chunks = [Chunk.from_json(json.loads(text)) for text in batch["chunk"]]
        rows, order = rows_for_units(chunks, batch["ordinal"].tolist(), self.split, self.config.corpus.summaries)
        vectors = self.encoder.encode([embedding_text(chunk) for chunk in rows], "document")  # (rows, dim)
        return {
            "chunk": np.array([json.dumps(chunk.to_json(), ensure_ascii=False) for chunk in rows], dtype=object),
            "order": order,  # (rows, 3)
            "vector": np.ascontiguousarray(vectors, dtype=np.float32),  # (rows, dim)
            "encoder": np.array([self.info] * len(rows), dtype=object),
        }


class _TextEmbedder:
    """One model copy embedding plain texts (the miners' queries and documents)."""

    def __init__(self, encoder_config: dict[str, Any], kind: str, factory: EncoderFactory | None, threads: int):
        import torch

        from codehunt.index.encoder import EncoderConfig

        torch.set_num_threads(threads)
        self.kind = kind
        self.encoder = factory() if factory is not None else _default_encoder(EncoderConfig(**encoder_config))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"row": batch["row"], "vector": self.embed([str(text) for text in batch["text"]], self.kind)}

    def embed(self, texts: list[str], kind: str) -> np.ndarray:
        return np.ascontiguousarray(self.encoder.encode(texts, kind), dtype=np.float32)  # type: ignore[arg-type]  # (n, dim)

    def facts(self) -> dict[str, Any]:
        """What an embedding cache keys vectors by: dimension, fingerprint, window, precision, prompts."""
        encoder = self.encoder
        use_bf16 = getattr(encoder, "use_bf16", None)
        prompt = getattr(encoder, "prompt", None)
        return {
            "dimension": int(encoder.dimension), "fingerprint": encoder.fingerprint(),
            "max_length": int(getattr(encoder, "max_length", 0)), "bf16": bool(use_bf16()) if callable(use_bf16) else False,
            "prompts": {kind: prompt(kind) if callable(prompt) else "" for kind in ("query", "document")},
        }


def _default_encoder(config: "EncoderConfig") -> "Encoder":
    from codehunt.index.encoder import SentenceTransformerEncoder

    return SentenceTransformerEncoder(config)


def _chunk_files(batch: dict[str, np.ndarray], config: dict[str, Any]) -> dict[str, np.ndarray]:
    """A Ray task: chunk each file of the batch as ``scan_source`` does (``chunk_files`` of one file); ``config``
    is the IndexConfig as JSON."""
    from codehunt.index.corpus import chunk_files
    from codehunt.index.index import IndexConfig
    from codehunt.index.sources import SourceFile

    corpus_config = IndexConfig.from_json(config).corpus
    chunks, skips = [], []
    for path, data, size in zip(batch["path"], batch["data"], batch["size"]):
        blob = None if data is None else bytes(data)  # None: too large or not source, never read
        corpus = chunk_files([SourceFile(str(path), blob, int(size))], corpus_config)
        chunks.append(json.dumps([chunk.to_json() for chunk in corpus.chunks], ensure_ascii=False))
        skips.append(json.dumps([skip.to_json() for skip in corpus.skipped], ensure_ascii=False))
    return {"file": batch["file"], "chunks": np.array(chunks, dtype=object), "skips": np.array(skips, dtype=object)}


# --------------------------------------------------------------------------- driver
def build_index_ray(
    source: Path,
    output: Path,
    config: "IndexConfig | None" = None,
    ray_config: RayConfig = RayConfig(),
    rev: str | None = None,
    encoder_factory: EncoderFactory | None = None,
    show_progress: bool = False,
) -> "Index":
    """Build the index ``Index.build(source, output, config, rev)`` makes, with chunking and embedding on Ray."""
    from codehunt.index.index import Index, IndexConfig, _jsonable
    from codehunt.index.manifest import EncoderInfo
    from codehunt.index.shards import assemble
    from codehunt.index.storage import build_lock
    from codehunt.index.types import Chunk

    config = config if config is not None else IndexConfig()
    source, output = Path(source), Path(output)
    if not source.exists():
        raise BadInputError(f"{source} does not exist: pass a directory, a git repository or a corpus.jsonl")
    started = connect(ray_config)
    try:
        ray = _ray()
        _quiet_data_context(show_progress)
        with build_lock(output):
            begun = time.perf_counter()
            chunks, skipped, records, info = _read_and_chunk(source, rev, config, ray_config)
            log.info("ray: %d chunks from %s in %.1fs", len(chunks), source, time.perf_counter() - begun)
            import pyarrow as pa

            table = pa.table({
                "ordinal": np.arange(len(chunks), dtype=np.int64),
                "chunk": [json.dumps(chunk.to_json(), ensure_ascii=False) for chunk in chunks],
            })
            step = ray_config.batch_size
            dataset = ray.data.from_arrow([table.slice(start, step) for start in range(0, len(chunks), step)])
            embedded = dataset.map_batches(
                _ChunkEmbedder,
                fn_constructor_kwargs={"config": _jsonable(asdict(config)), "factory": encoder_factory,
                                       "threads": ray_config.cpus_per_worker},
                batch_format="numpy", **_actor_options(ray_config),
            )
            pieces, orders, vectors, encoders = [], [], [], set()
            for batch in embedded.iter_batches(batch_format="numpy", batch_size=None):
                pieces.append([Chunk.from_json(json.loads(text)) for text in batch["chunk"]])
                orders.append(np.asarray(batch["order"], dtype=np.int64).reshape(-1, 3))
                vectors.append(np.asarray(batch["vector"], dtype=np.float32))
                encoders.update(str(text) for text in batch["encoder"])
            log.info("ray: embedded %d rows in %.1fs", sum(len(p) for p in pieces), time.perf_counter() - begun)
            if len(encoders) != 1:
                raise BadInputError(f"the workers embedded with {len(encoders)} different models or precisions ({sorted(encoders)[:2]}): "
                                    "install the same model and codehunt on every node")
            final_chunks, final_vectors = assemble(pieces, orders, vectors, len(chunks))
        build = {"files_read": len(records or []), "files_reused": 0, "units_chunked": len(chunks),
                 "units_embedded": len(final_chunks), "units_to_embed": len(final_chunks)}
        return Index.build_from_vectors(final_chunks, final_vectors, output, config, EncoderInfo(**json.loads(encoders.pop())),
                                        skipped, info, records, build)
    finally:
        if started:
            _ray().shutdown()


def _read_and_chunk(source: Path, rev: str | None, config: "IndexConfig", ray_config: RayConfig) -> tuple[list, list, Any, dict]:
    """The source's chunks (unsplit, in listing order), skips, file records and source record; chunking on Ray."""
    from codehunt.index.corpus import read_beir_corpus
    from codehunt.index.incremental import source_record
    from codehunt.index.index import _jsonable
    from codehunt.index.sources import resolve_revision
    from codehunt.index.types import Chunk, Skip

    commit = resolve_revision(source, rev) if rev else None
    info = source_record(source, rev, commit)
    if commit is None and source.is_file() and source.suffix == ".jsonl":
        return read_beir_corpus(source).chunks, [], None, info
    files, records = _list_files(source, commit, config)
    ray = _ray()
    import pyarrow as pa

    table = pa.table({
        "file": np.arange(len(files), dtype=np.int64),
        "path": [file.path for file in files],
        "data": pa.array([file.data for file in files], type=pa.binary()),
        "size": np.array([file.size for file in files], dtype=np.int64),
    })
    step = ray_config.files_per_task
    dataset = ray.data.from_arrow([table.slice(start, step) for start in range(0, len(files), step)] or [table])
    chunked = dataset.map_batches(_chunk_files, fn_kwargs={"config": _jsonable(asdict(config))}, batch_format="numpy",
                                  batch_size=step)
    per_file: dict[int, tuple[str, str]] = {}
    for batch in chunked.iter_batches(batch_format="numpy", batch_size=None):
        for number, chunk_text, skip_text in zip(batch["file"].tolist(), batch["chunks"], batch["skips"]):
            per_file[int(number)] = (str(chunk_text), str(skip_text))
    if len(per_file) != len(files):
        raise BadInputError(f"{len(files) - len(per_file)} of {len(files)} files came back unchunked from the cluster: rerun the build")
    chunks: list[Chunk] = []
    skipped: list[Skip] = []
    for number in range(len(files)):
        chunk_text, skip_text = per_file[number]
        chunks.extend(Chunk.from_json(record) for record in json.loads(chunk_text))
        skipped.extend(Skip(**record) for record in json.loads(skip_text))
    if not chunks:
        reasons = sorted({skip.reason for skip in skipped})
        detail = f" ({len(skipped)} files skipped: {', '.join(reasons)})" if reasons else ""
        raise BadInputError(f"{source} holds no indexable source code{detail}: point codehunt at a codebase")
    return chunks, skipped, records, info


def _list_files(source: Path, commit: str | None, config: "IndexConfig") -> tuple[list, list]:
    """Every source file as ``scan_source`` lists it for a fresh build (bytes read only where wanted), and its records."""
    from codehunt.index.corpus import path_skip_reason
    from codehunt.index.incremental import RACY_NS, FileRecord, _blob_ids, blob_id
    from codehunt.index.sources import iter_directory, iter_git_revision

    started_ns = time.time_ns()
    stats: dict[str, tuple[int, int]] = {}
    blobs: dict[str, str] = {}

    def wanted(path: str) -> bool:
        if path_skip_reason(path, config.corpus) is not None:
            return False
        if commit is None:
            stat = (source / path).stat()
            stats[path] = (stat.st_size, stat.st_mtime_ns)
        return True

    if commit is not None:
        blobs = _blob_ids(source, commit)
        iterator = iter_git_revision(source, commit, config.corpus.source, wanted)
    else:
        iterator = iter_directory(source, config.corpus.source, wanted)
    files, records = [], []
    for file in iterator:
        files.append(file)
        if file.data is not None:
            size, mtime_ns = stats.get(file.path, (file.size, 0))
            records.append(FileRecord(file.path, size, blobs.get(file.path) or blob_id(file.data), mtime_ns,
                                      commit is None and mtime_ns >= started_ns - RACY_NS))
    return files, records


def embed_texts(
    texts: Sequence[str],
    kind: "TextKind",
    encoder_config: "EncoderConfig | None" = None,
    ray_config: RayConfig = RayConfig(),
    encoder_factory: EncoderFactory | None = None,
    show_progress: bool = False,
) -> np.ndarray:
    """Embed ``texts`` on the Ray cluster: (len(texts), dim) float32 in input order (``mine filter``, ``mine negatives``)."""
    from codehunt.index.encoder import EncoderConfig

    encoder_config = encoder_config if encoder_config is not None else EncoderConfig()
    if len(texts) == 0:
        raise BadInputError("embed_texts needs at least one text")
    started = connect(ray_config)
    try:
        ray = _ray()
        _quiet_data_context(show_progress)
        import pyarrow as pa

        table = pa.table({"row": np.arange(len(texts), dtype=np.int64), "text": list(texts)})
        step = ray_config.batch_size
        dataset = ray.data.from_arrow([table.slice(start, step) for start in range(0, len(texts), step)])
        embedded = dataset.map_batches(
            _TextEmbedder,
            fn_constructor_kwargs={"encoder_config": asdict(encoder_config), "kind": kind, "factory": encoder_factory,
                                   "threads": ray_config.cpus_per_worker},
            batch_format="numpy", **_actor_options(ray_config),
        )
        out: np.ndarray | None = None
        filled = np.zeros(len(texts), dtype=bool)
        for batch in embedded.iter_batches(batch_format="numpy", batch_size=None):
            vectors = np.asarray(batch["vector"], dtype=np.float32)  # (batch, dim)
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)  # (n, dim)
            out[batch["row"]] = vectors
            filled[batch["row"]] = True
        if out is None or not filled.all():
            raise BadInputError(f"{int((~filled).sum())} of {len(texts)} texts came back unembedded from the cluster: rerun")
        return out
    finally:
        if started:
            _ray().shutdown()


class RayEncoder:
    """An :class:`~codehunt.index.encoder.Encoder` whose ``encode`` runs on a pool of Ray actors.

    Unlike :func:`embed_texts` (one Ray Data job per call), the actors live as long as the encoder,
    so a miner that calls ``encode`` once per block of queries loads each model copy once. Every
    call is cut into ``batch_size`` texts, spread over the actors and put back in order; an actor
    whose process dies is restarted and its batch re-run (``max_restarts=-1``, ``max_task_retries=-1``).
    Name, dimension, window, precision and fingerprint are the model's (read from an actor), so an
    embedding cache (``CachedEncoder``) keys its vectors as for the local model. A miner uses it by
    passing ``encoder=RayEncoder(EncoderConfig(model=...), RayConfig(workers=8))`` to
    ``filter_consistent_pairs`` / ``mine_negatives`` (or ``mining.embed.load_scorer``).
    """

    def __init__(self, encoder_config: "EncoderConfig | None" = None, ray_config: RayConfig = RayConfig(),
                 encoder_factory: EncoderFactory | None = None):
        from codehunt.index.encoder import EncoderConfig

        self.encoder_config = encoder_config if encoder_config is not None else EncoderConfig()
        self.ray_config = ray_config
        self.name = self.encoder_config.model
        self._started = connect(ray_config)
        ray = _ray()
        options: dict[str, Any] = {"num_cpus": ray_config.cpus_per_worker, "max_restarts": -1, "max_task_retries": -1}
        if ray_config.gpus_per_worker:
            options["num_gpus"] = ray_config.gpus_per_worker
        actor = ray.remote(**options)(_TextEmbedder)
        self._actors = [actor.remote(asdict(self.encoder_config), "document", encoder_factory, ray_config.cpus_per_worker)
                        for _ in range(pool_size(ray_config))]
        facts = ray.get(self._actors[0].facts.remote())
        self.dimension: int = facts["dimension"]
        self.max_length: int = facts["max_length"]
        self._fingerprint: str = facts["fingerprint"]
        self._bf16: bool = facts["bf16"]
        self._prompts: dict[str, str] = facts["prompts"]

    def fingerprint(self) -> str:
        return self._fingerprint

    def use_bf16(self) -> bool:
        return self._bf16

    def prompt(self, kind: "TextKind") -> str:
        return self._prompts.get(kind, "")

    def encode(self, texts: Sequence[str], kind: "TextKind", show_progress: bool = False) -> np.ndarray:
        """(len(texts), dimension) float32, in input order."""
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        from ray.util import ActorPool

        step = self.ray_config.batch_size
        batches = [list(texts[start : start + step]) for start in range(0, len(texts), step)]
        pool = ActorPool(self._actors)
        parts = list(pool.map(lambda actor, batch: actor.embed.remote(batch, kind), batches))  # in submission order
        return np.concatenate(parts).astype(np.float32, copy=False)  # (n, dim)

    def close(self) -> None:
        """Stop the actors (and the local Ray this encoder started)."""
        ray = _ray()
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        if self._started:
            ray.shutdown()

    def __enter__(self) -> "RayEncoder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
