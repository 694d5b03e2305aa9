"""One search query through ONNX Runtime: the fp32 model's vector to ~1e-7, in about half the time of torch.

Why: a query is ~10 tokens, so MiniLM's forward is a chain of small matrix products whose cost in eager PyTorch
is mostly per-operator dispatch and Hugging Face's Python around them. ONNX Runtime runs the same graph with its
operators fused (attention, GELU, skip + LayerNorm) and no Python between them. Measured over 200 CoSQA dev
queries on one thread of this 2-core CPU (``benchmarks/serve_latency.py``, components, two runs):
``FastQueryEncoder.encode_query`` took 8.6 / 13.1 ms p50 in torch and 4.5 / 5.2 ms through ONNX Runtime, whose
vectors differed from eager fp32 by at most 1.6e-7 per component (a check by hand on the same queries).

How:

- The whole sentence-transformers pipeline is exported (transformer, pooling, normalisation), with
  ``torch.onnx.export``'s TorchScript-based exporter, opset 17, dynamic batch and sequence axes, so a query
  runs no torch operator at all: pooling in torch after an exported transformer cost ~1 ms more per query.
- The export is made once per model and kept in ``$CODEHUNT_CACHE/onnx/`` (default ``~/.cache/codehunt``),
  keyed by the weights' fingerprint, the module list and the torch version; it is written to a temporary file and renamed,
  so two processes exporting at once, or one that dies half-way, never leave a partial file in use.
- It is used only after it reproduces the eager fp32 pipeline on ``query_trace.PROBES`` (1 to ~256 tokens) to
  within ``TOLERANCE`` per component of the unit vector; anything else (no ``onnxruntime``, a model that does
  not export, a file that does not load or differs) keeps the torch path, with the reason logged.
- For one text at a time only. A single query has no padding, so its attention mask is all ones, and the
  exporter records the branches transformers takes for that mask (its all-ones shortcut), which every later
  query takes as well. A padded batch would not, so batches stay on torch.
- One intra-op thread, as ``encoder._threads_for`` runs a query in torch: on a loaded 2-core machine more
  threads wait on each other, and a fixed thread count keeps the vector the same from run to run.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from codehunt.index.paths import cache_root
from codehunt.index.query_trace import PROBES, TRACED_INPUTS

if TYPE_CHECKING:
    import numpy as np
    import torch

log = logging.getLogger(__name__)

TOLERANCE = 1e-5
"""Largest difference allowed per component of the unit query vector against the eager fp32 model (1.6e-7 seen)."""

OPSET = 17


def onnx_cache_dir() -> Path:
    """Where exports are kept: ``$CODEHUNT_CACHE/onnx``, default ``~/.cache/codehunt/onnx``."""
    return cache_root() / "onnx"


def onnx_runtime_available() -> bool:
    """Whether ``onnxruntime`` can be imported (``pip install codehunt[fast]``)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def export_path(model: Any, fingerprint: str, input_names: list[str], cache_dir: Path | None = None) -> Path:
    """The cache file for a model's export: one per weights fingerprint, module list (pooling and normalisation
    have no weights, so ``str(model)`` names them), torch version, opset and input set."""
    import torch

    described = f"{fingerprint}|{model}|torch {torch.__version__}|opset {OPSET}|{','.join(input_names)}"
    return (cache_dir or onnx_cache_dir()) / f"query-{hashlib.sha256(described.encode()).hexdigest()[:20]}.onnx"


def export_pipeline(model: Any, example: dict[str, Any], names: list[str], path: Path) -> None:
    """Export the whole sentence-transformers pipeline (transformer, pooling, normalisation) to ``path``
    atomically: a temporary file in the same directory, then a rename."""
    import torch

    class SentenceEmbedding(torch.nn.Module):
        """``model``'s modules in order over the named inputs, returning ``sentence_embedding`` (what is traced)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: "torch.Tensor") -> "torch.Tensor":
            state = dict(zip(names, inputs))
            for module in self.model:
                state = module(state)
            return state["sentence_embedding"]

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.stem + ".", suffix=".partial", dir=path.parent)
    os.close(handle)
    try:
        axes = {name: {0: "batch", 1: "tokens"} for name in names}
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(SentenceEmbedding().eval(), tuple(example[name] for name in names), temporary,
                              input_names=names, output_names=["sentence_embedding"],
                              dynamic_axes={**axes, "sentence_embedding": {0: "batch"}}, opset_version=OPSET, dynamo=False)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _session(path: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: its graph-fusion notices are not the user's business
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _load_or_export(model: Any, example: dict[str, Any], names: list[str], path: Path) -> Any:
    """A session over the cached export, exporting first when there is none or the cached file does not load."""
    if path.is_file():
        try:
            return _session(path)
        except Exception as exc:  # noqa: BLE001 - a damaged cache file is made again, not trusted
            log.info("the cached ONNX query model %s does not load (%s): exporting it again", path, exc)
    log.info("exporting the query model to ONNX (once per model): %s", path)
    export_pipeline(model, example, names, path)
    return _session(path)


def onnx_query_embedding(model: Any, fingerprint: str, prompt: str | None = None,
                         cache_dir: Path | None = None) -> "Callable[[dict[str, torch.Tensor]], np.ndarray] | None":
    """A function from ``model.preprocess([query], prompt=prompt)`` features to the (1, dim) unit query vector
    (float32), or None.

    ``model`` is a ``SentenceTransformer`` on the CPU whose first module is its ``Transformer`` over a Hugging
    Face model (text only) and ``fingerprint`` its weights' digest (part of the cache key). None when
    ``onnxruntime`` is missing, for any other model, when the export or the session fails, or when the result
    differs from ``model(features)["sentence_embedding"]`` (fp32, eager) by more than ``TOLERANCE`` per
    component of the unit vector on any of ``PROBES`` (with ``prompt``, as queries will have it).
    """
    if not onnx_runtime_available():
        log.info("onnxruntime is not installed (pip install 'codehunt[fast]'): queries run in torch")
        return None
    import numpy as np
    import torch

    try:
        first = model[0]
        if model.device.type != "cpu" or set(first.modality_config) != {"text"} \
                or first.modality_config["text"].get("method") != "forward":
            return None
        example = model.preprocess([PROBES[1]], prompt=prompt)
        names = [name for name in TRACED_INPUTS if name in example]
        if set(example) - set(names) - {"modality"}:
            return None  # inputs (a prompt length to leave out of the pooling) the export would not pass on
        session = _load_or_export(model, example, names, export_path(model, fingerprint, names, cache_dir))
    except Exception as exc:  # noqa: BLE001 - any model, exporter or runtime version that fails keeps torch
        log.info("ONNX query model unavailable (%s: %s): queries run in torch", type(exc).__name__, exc)
        return None

    def embed(features: dict[str, Any]) -> "np.ndarray":
        vector = session.run(None, {name: features[name].numpy() for name in names})[0]  # (1, dim)
        return vector / np.maximum(np.linalg.norm(vector, axis=1, keepdims=True), 1e-12)  # as torch's normalize

    from codehunt.index.encoder import _threads_for

    with torch.inference_mode(), _threads_for(1):
        for probe in PROBES:
            features = model.preprocess([probe], prompt=prompt)
            want = torch.nn.functional.normalize(model(dict(features))["sentence_embedding"].float(), p=2, dim=1)
            difference = float(np.abs(embed(features) - want.numpy()).max())
            if difference > TOLERANCE:
                log.info("the ONNX query model differs from torch by %.2g on %r: queries run in torch", difference, probe[:40])
                return None
    return embed
