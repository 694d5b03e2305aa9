"""The warm state behind ``codehunt serve`` and ``codehunt mcp``: loaded indexes, one model, an optional reranker.

One :class:`IndexService` holds every index it was given (``Index.load`` with the load-time checksum check),
shares one embedding model between indexes built with the same encoder, and answers ``search``,
``localize``, ``status`` and ``update``. An incremental update builds the new index from the object served
(``Index.build(base=...)``) while queries keep reading the old one, swaps it in as soon as it is complete in
memory, and then publishes its directory atomically; a full rebuild is published, loaded and checked before the
swap. Either way there is no gap in answering and no half-built state to see. A swap from disk also picks up an
index rebuilt by another process (:meth:`IndexService.refresh`).

Thread safety: a request takes ``served.index`` once and uses that object to the end, so a swap in the middle
never mixes two generations. Query-time settings (fusion, dense weight) go on a shallow copy of the index,
never on the shared one. The model runs under :class:`~codehunt.index.encoder.FastQueryEncoder`'s lock.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from codehunt.index.errors import BadInputError, CodehuntError, CorruptIndexError
from codehunt.index.manifest import MANIFEST_NAME
from codehunt.serve.discovery import reranker_key

if TYPE_CHECKING:
    from codehunt.index.encoder import Encoder
    from codehunt.index.index import Index
    from codehunt.index.types import Hit
    from codehunt.localize.units import UnitTable

log = logging.getLogger(__name__)


class UnknownIndexError(CodehuntError):
    """A request named an index this service does not hold (HTTP 404)."""


class UpdateInProgressError(CodehuntError):
    """An update of this index is already running (HTTP 409); the service keeps answering from the current one."""


class StaleIndexError(CodehuntError):
    """The caller read a newer (or older) manifest than the one served (HTTP 409): it should search in-process."""


def manifest_digest(index_path: Path) -> str:
    """sha256 of ``manifest.json``'s bytes: names one published generation of an index (it lists every file's sha256)."""
    try:
        return hashlib.sha256((Path(index_path) / MANIFEST_NAME).read_bytes()).hexdigest()
    except FileNotFoundError as exc:
        raise CorruptIndexError(f"{Path(index_path) / MANIFEST_NAME} is missing: build the index first") from exc


def _manifest_stamp(index_path: Path) -> tuple[int, int, int] | None:
    try:
        stat = (index_path / MANIFEST_NAME).stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


@dataclass
class ServedIndex:
    """One index as served: the live object and what is known about its generation (mutable; swapped whole)."""

    name: str
    path: Path
    index: "Index"
    digest: str
    stamp: tuple[int, int, int] | None
    loaded_at: float
    generation: int = 1
    searches: int = 0
    updating: bool = False
    last_update: dict[str, Any] = field(default_factory=dict)
    last_error: str = ""
    update_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _localize_table: Any = field(default=None, repr=False)

    def localize_table(self) -> "UnitTable":
        """The localization unit table of the index now served, kept across requests: its call graph (the
        structure signal) takes a pass over every chunk, which a warm service should pay once per generation."""
        from codehunt.localize.units import UnitTable

        table = self._localize_table
        if table is None or table.index is not self.index:
            table = self._localize_table = UnitTable(self.index)
        return table

    def status(self) -> dict[str, Any]:
        manifest = self.index.manifest
        on_disk = (self.path / MANIFEST_NAME).is_file()
        return {
            "name": self.name,
            "path": str(self.path),
            "manifest": self.digest,
            "generation": self.generation,
            "searches": self.searches,
            "units": manifest.unit_count,
            "documents": manifest.document_count,
            "created_at": manifest.created_at,
            "encoder": manifest.encoder.name,
            "source": manifest.source,
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.loaded_at)),
            "on_disk": on_disk,
            "on_disk_changed": on_disk and _manifest_stamp(self.path) != self.stamp,
            "updating": self.updating,
            "last_update": self.last_update,
            "last_error": self.last_error,
        }


class IndexService:
    """Indexes, the model and the reranker, loaded once and shared by every request.

    ``paths``: index directories (the first is the default for requests that name none). ``rerank``: a
    cross-encoder directory (or name) loaded once for requests that ask for reranking, with a request's
    ``rerank_fusion`` (None: the combination the directory stores, as ``codehunt search --rerank DIR``).
    ``verify``: the load-time checksum check (on for every load, also after an update). ``encoder``: a
    loaded model to use instead of the one each manifest names (checked against it; updates share it).
    ``updater``: what an update runs (default :func:`rebuild_index`).
    """

    def __init__(
        self,
        paths: "list[Path]",
        rerank: Path | None = None,
        verify: bool = True,
        fast_queries: bool = True,
        updater: Callable[[ServedIndex, "Encoder", Callable[["Index"], None]], None] | None = None,
        encoder: "Encoder | None" = None,
    ):
        if not paths:
            raise BadInputError("no index given: pass at least one -i INDEX_DIR")
        self.verify = verify
        self.fast_queries = fast_queries
        self.rerank_path = reranker_key(rerank) if rerank is not None else None
        self._encoders: dict[tuple[str, str], "Encoder"] = {}
        self._update_encoders: dict[tuple[str, str], "Encoder"] = {}
        self._given_encoder = encoder
        self.model_lock = threading.RLock()
        """Held for every model call (query encoding, reranking): one tokenizer, one process-wide thread count."""
        self._rescorer: Any = None
        self._weighted: dict[tuple, Any] = {}
        self._updater = updater or rebuild_index
        self.indexes: dict[str, ServedIndex] = {}
        for path in paths:
            served = self._load(Path(path))
            if served.name in self.indexes:
                raise BadInputError(
                    f"two indexes are named {served.name!r} ({self.indexes[served.name].path} and {served.path}): "
                    "serve directories with different names"
                )
            self.indexes[served.name] = served
        self.default = next(iter(self.indexes))

    # ------------------------------------------------------------------ loading
    def _load(self, path: Path, name: str | None = None, attempts: int = 3) -> ServedIndex:
        """Load and check ``path``; if it is republished while being read, read the new one (up to ``attempts``)."""
        from codehunt.index.index import Index
        from codehunt.index.manifest import IndexManifest

        path = path.resolve()
        stamp = _manifest_stamp(path)
        digest = manifest_digest(path)
        manifest = IndexManifest.read(path)
        encoder = self._encoder_for(manifest, path)
        index = Index.load(path, encoder=encoder, verify=self.verify)
        if manifest_digest(path) != digest:  # replaced while we read it: what we read may mix two generations
            if attempts <= 1:
                raise CorruptIndexError(f"{path} kept changing while it was loaded; retry when its builds have finished")
            return self._load(path, name, attempts - 1)
        index.units  # noqa: B018 - build the unit table once, not in the first request (or in every shallow copy)
        _prepare_updates(index)
        return ServedIndex(name or path.name, path, index, digest, stamp, time.time())

    def _encoder_for(self, manifest: Any, path: Path) -> "Encoder":
        """One model per (name, fingerprint): every index built with it shares it; a first load is checked."""
        from codehunt.index.encoder import EncoderConfig, FastQueryEncoder, SentenceTransformerEncoder
        from codehunt.index.index import check_encoder

        info = manifest.encoder
        key = (info.name, info.fingerprint)
        if key not in self._encoders:
            encoder: Encoder = self._given_encoder or SentenceTransformerEncoder(
                EncoderConfig(model=info.name, max_length=info.max_length, precision=info.precision)
            )
            check_encoder(manifest, encoder, path)
            if isinstance(encoder, SentenceTransformerEncoder) and self.fast_queries:
                encoder = FastQueryEncoder(encoder, self.model_lock)
            self._encoders[key] = encoder
        return self._encoders[key]

    def _encoder_for_update(self, manifest: Any) -> "Encoder":
        """The model an update embeds documents with: its own copy, so a re-index never holds the query path's
        lock (queries keep their latency while it runs); an encoder given to the service is shared instead."""
        from codehunt.index.encoder import EncoderConfig, FastQueryEncoder, SentenceTransformerEncoder

        info = manifest.encoder
        key = (info.name, info.fingerprint)
        if key not in self._update_encoders:
            given = self._given_encoder
            if given is not None:
                encoder = given.encoder if isinstance(given, FastQueryEncoder) else given
            else:
                encoder = SentenceTransformerEncoder(EncoderConfig(model=info.name, max_length=info.max_length, precision=info.precision))
            self._update_encoders[key] = encoder
        return self._update_encoders[key]

    @property
    def rescorer(self) -> Any:
        if self.rerank_path is None:
            return None
        if self._rescorer is None:
            from codehunt.reranker.model import load_rescorer

            self._rescorer = load_rescorer(self.rerank_path)  # the directory's stored combination, as --rerank DIR alone
        return self._rescorer

    def _rescorer_for(self, mode: str, weight: float | None) -> Any:
        """The warm cross-encoder as ``load_rescorer(path, first_stage_weight=weight, mode=mode)`` gives it: RRF with
        ``weight`` (``--rerank-fusion``) or, when None, the combination the directory stores for ``mode``; cached per setting."""
        from codehunt.index.encoder import resolve_model_path
        from codehunt.reranker.config import RerankConfig
        from codehunt.reranker.model import CrossEncoderRescorer, read_combination, read_reranker_info

        key = ("fusion", weight) if weight is not None else ("stored", mode)
        cached = self._weighted.get(key)
        if cached is None:  # the stored combination is read once per mode, not per request
            base = self.rescorer
            if weight is not None:
                settings: dict[str, Any] = {"first_stage_weight": weight}
            else:
                path = resolve_model_path(str(self.rerank_path))
                settings = read_combination(path, mode) if Path(path).is_dir() else {}
            info = read_reranker_info(base.name) if Path(base.name).is_dir() else {}
            cached = CrossEncoderRescorer(base.model, RerankConfig(**settings), name=base.name,
                                          trained_query_length=(info.get("config") or {}).get("max_query_length"))
            self._weighted[key] = cached
        return cached

    def warm_up(self) -> None:
        """Run one query per index and mode, so the first real request finds every lazy part built."""
        for served in self.indexes.values():
            for mode in ("dense", "bm25", "hybrid"):
                served.index.search("warm up", 1, mode)  # type: ignore[arg-type]
        if self.rescorer is not None:
            served = self.indexes[self.default]
            self.search_hits(served.index, "warm up", 1, "hybrid", rerank=True, rerank_depth=2)

    def get(self, name: str | None = None) -> ServedIndex:
        """The index a request names, by directory name or path (None: the default, the first given)."""
        if name is None or name == "":
            return self.indexes[self.default]
        if name in self.indexes:
            return self.indexes[name]
        resolved = str(Path(name).expanduser().resolve())
        for served in self.indexes.values():
            if str(served.path) == resolved:
                return served
        raise UnknownIndexError(f"this service holds no index {name!r}: it serves {', '.join(self.indexes)}")

    def check_manifest(self, served: ServedIndex, expected: str | None) -> None:
        if expected and expected != served.digest:
            raise StaleIndexError(
                f"{served.path} on disk (manifest {expected[:12]}) is not the generation served (manifest {served.digest[:12]}); "
                "search in-process, or wait for the service to load it"
            )

    # ------------------------------------------------------------------ queries
    def search_hits(
        self, index: "Index", query: str, k: int, mode: str, *, rerank: bool = False, rerank_depth: int = 50,
        rerank_fusion: float | None = None, fusion: str | None = None, dense_weight: float | None = None,
    ) -> list["Hit"]:
        """What ``codehunt search`` computes in-process (``pipeline.search_loaded``), on the warm objects."""
        from codehunt.pipeline import search_loaded

        if fusion is not None or dense_weight is not None:
            index = copy.copy(index)  # per-request settings never touch the shared object
            index.search_config = index.search_config.with_fusion(fusion, dense_weight)
        rescorer = None
        if rerank:
            if self.rescorer is None:
                raise BadInputError("this service was started without --rerank: restart it with --rerank MODEL_DIR")
            rescorer = self._rescorer_for(mode, rerank_fusion)
        if rescorer is None:
            return search_loaded(index, query, k, mode, None, rerank_depth)
        with self.model_lock:  # the cross-encoder runs at the process's thread count, as in-process
            return search_loaded(index, query, k, mode, rescorer, rerank_depth)

    def localize(self, served: ServedIndex, issue: str, config_fields: dict[str, Any], rerank: bool = False) -> dict[str, Any]:
        """``codehunt localize --index`` on the warm index: functions and files for an issue text."""
        from codehunt.localize import LocalizeConfig, localize_with_index

        config = LocalizeConfig(index=served.path, **config_fields)
        rescorer = self.rescorer if rerank else None
        if rerank and rescorer is None:
            raise BadInputError("this service was started without --rerank: restart it with --rerank MODEL_DIR")
        table = served.localize_table()
        if rescorer is None:
            return localize_with_index(served.index, issue, config, None, table).to_json()
        with self.model_lock:
            return localize_with_index(served.index, issue, config, rescorer, table).to_json()

    def status(self) -> dict[str, Any]:
        return {
            "default": self.default,
            "indexes": [served.status() for served in self.indexes.values()],
            "rerank": self.rerank_path,
        }

    # ------------------------------------------------------------------ updates
    def update(self, name: str | None = None, reason: str = "request") -> dict[str, Any]:
        """Re-index ``name`` from its source and swap it in; raises :class:`UpdateInProgressError` if one runs.

        An incremental update builds the new index from the served object in memory and swaps it in as soon as
        it is complete, before it is written (``Index.build``'s ``on_ready``): until then every query is
        answered from the old one, and after it from the new one while its directory is published. A full
        rebuild is loaded (and its checksums checked) from disk before the swap. If any step fails before
        the swap, the old index stays; if writing fails after it, the new one is served from memory, the
        directory keeps the previous generation, and the error is kept in ``status``.
        """
        served = self.get(name)
        if not served.update_lock.acquire(blocking=False):
            raise UpdateInProgressError(
                f"an update of {served.path} is already running; the service keeps answering from generation "
                f"{served.generation}: retry when `status` shows updating=false"
            )
        started = time.perf_counter()
        served.updating = True
        answered: list["Index"] = []

        def on_ready(index: "Index") -> None:  # complete in memory, not yet written: answer from it now
            self._swap_in(served, index, reason, started)
            answered.append(index)
            index.units  # noqa: B018 - the unit table (file level, reranking) is built now, before writing, off the query path

        try:
            self._updater(served, self._encoder_for_update(served.index.manifest), on_ready)
            if answered and served.index is answered[0]:
                result = self._published(served, started)
            else:  # nothing new in memory (up to date, or a full rebuild): load what was published
                result = self._swap(served, reason, started)
        except CodehuntError as exc:
            served.last_error = f"update ({reason}) failed: {exc}"
            log.warning("%s", served.last_error)
            self._unpublished(served, answered)
            raise
        except Exception as exc:  # noqa: BLE001 - the service must outlive any update failure
            served.last_error = f"update ({reason}) failed: {type(exc).__name__}: {exc}"
            log.exception("update of %s failed", served.path)
            self._unpublished(served, answered)
            raise CodehuntError(served.last_error) from exc
        finally:
            served.updating = False
            served.update_lock.release()
        return result

    def refresh(self, name: str) -> bool:
        """Load ``name`` again if its directory was republished by another process; True when it was swapped.

        A deleted directory keeps being served from memory (``status`` says ``on_disk: false``); a new
        directory that fails its checks is refused, the old one kept and the error kept in ``status``.
        """
        served = self.indexes[name]
        stamp = _manifest_stamp(served.path)
        if stamp is None or stamp == served.stamp:
            return False
        if not served.update_lock.acquire(blocking=False):
            return False  # our own update is publishing it; it will swap
        try:
            if manifest_digest(served.path) == served.digest:
                served.stamp = stamp
                return False
            self._swap(served, "changed on disk", time.perf_counter())
            return True
        except CodehuntError as exc:
            served.stamp = stamp  # do not retry a broken publish every poll; a new publish changes the stamp
            served.last_error = f"reload after a change on disk failed, still serving generation {served.generation}: {exc}"
            log.warning("%s", served.last_error)
            return False
        finally:
            served.update_lock.release()

    def _swap_in(self, served: ServedIndex, index: "Index", reason: str, started: float) -> None:
        """Serve ``index`` (built in memory) from now on; its directory is being written."""
        served.index = index
        served.generation += 1
        served.last_update = {
            "reason": reason,
            "seconds": round(time.perf_counter() - started, 3),
            "units": index.manifest.unit_count,
            "generation": served.generation,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        log.info("serving %s generation %d from memory (%s); writing it", served.path, served.generation, reason)

    @staticmethod
    def _unpublished(served: ServedIndex, answered: list["Index"]) -> None:
        """Writing failed after the swap: the generation served is on no disk, so no client's manifest names it (a
        `codehunt search` then searches in-process, on what the directory holds)."""
        if answered and served.index is answered[0]:
            served.digest = f"memory-only generation {served.generation}"

    def _published(self, served: ServedIndex, started: float) -> dict[str, Any]:
        """The generation swapped in by :meth:`_swap_in` is now on disk: record its manifest, so the monitor does
        not load it again, and how long writing took."""
        served.digest, served.stamp, served.loaded_at = manifest_digest(served.path), _manifest_stamp(served.path), time.time()
        served.last_error = ""
        served.last_update["published_seconds"] = round(time.perf_counter() - started, 3)
        return {"index": served.name, "path": str(served.path), "manifest": served.digest, **served.last_update}

    def _swap(self, served: ServedIndex, reason: str, started: float) -> dict[str, Any]:
        fresh = self._load(served.path, served.name)
        served.index, served.digest, served.stamp, served.loaded_at = fresh.index, fresh.digest, fresh.stamp, fresh.loaded_at
        served.generation += 1
        served.last_error = ""
        served.last_update = {
            "reason": reason,
            "seconds": round(time.perf_counter() - started, 3),
            "units": fresh.index.manifest.unit_count,
            "generation": served.generation,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        log.info("serving %s generation %d (%s)", served.path, served.generation, reason)
        return {"index": served.name, "path": str(served.path), "manifest": served.digest, **served.last_update}


def _prepare_updates(index: "Index") -> None:
    """Read what an update of ``index`` starts from (file records, BM25 terms, doc ids) at load, not in the first update."""
    incremental = _incremental_update()
    if incremental is None or index.manifest.source.get("kind") not in ("directory", "git"):
        return
    from codehunt.index.incremental import read_build_state

    index.build_state = read_build_state(index)
    index.doc_ids  # noqa: B018 - ids.json, read lazily otherwise


def rebuild_index(served: ServedIndex, encoder: "Encoder", on_ready: "Callable[[Index], None] | None" = None) -> None:
    """Re-index ``served`` from the source its manifest records, publishing atomically into the same directory.

    Uses ``codehunt.index.incremental.update_index`` (re-reads and re-embeds only changed files) where it
    exists and the directory is still there; otherwise (no such module, or the directory was deleted while
    served) a full ``Index.build`` with the config the served manifest recorded, reusing the loaded model. Either way the live directory is
    replaced in one rename, so readers see the old index or the new one. The incremental update starts from the
    served object (``base``) and hands the new one to ``on_ready`` before writing it.
    """
    manifest = served.index.manifest
    source = manifest.source.get("path")
    if not source or not Path(source).exists():
        raise BadInputError(
            f"{served.path} was built from {source or 'an unrecorded source'}, which no longer exists: rebuild it with "
            "`codehunt index build SOURCE -o INDEX`"
        )
    incremental = _incremental_update()
    if incremental is not None and (served.path / MANIFEST_NAME).is_file():  # it reads the index on disk
        incremental(served.path, encoder=encoder, base=served.index, on_ready=on_ready)
        return
    from codehunt.index.index import Index

    Index.build(Path(source), served.path, index_config_from_manifest(manifest.config), rev=manifest.source.get("rev"), encoder=encoder)


def _incremental_update() -> Callable[..., Any] | None:
    """``codehunt.index.incremental.update_index`` when that module exists (another part of the project builds it)."""
    try:
        from codehunt.index import incremental  # type: ignore[attr-defined]
    except ImportError:
        return None
    return getattr(incremental, "update_index", None)


def index_config_from_manifest(recorded: dict[str, Any]) -> Any:
    """The :class:`~codehunt.index.index.IndexConfig` a manifest recorded (unknown fields dropped, lists as tuples)."""
    from codehunt.index.index import IndexConfig

    return _dataclass_from_json(IndexConfig, recorded)


def _dataclass_from_json(cls: type, payload: Any) -> Any:
    import typing

    if not isinstance(payload, dict):
        return cls()
    hints = typing.get_type_hints(cls)
    values = {}
    for item in dataclasses.fields(cls):
        if item.name not in payload:
            continue
        value, hint = payload[item.name], hints.get(item.name)
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = _dataclass_from_json(hint, value)
        elif isinstance(value, list):
            value = tuple(value)
        values[item.name] = value
    return cls(**values)

