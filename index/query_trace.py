"""One query through a TorchScript trace of the transformer: the same vector as the eager model, ~3 ms sooner.

Why: a search query is ~10 tokens, so MiniLM's forward is small matrices and many Python-level module calls; on
this 2-core CPU the eager Hugging Face forward takes 10.3 ms p50 on one thread and its ``torch.jit.trace`` 7.4 ms
(``benchmarks/serve_latency.py``, components), the largest part of a warm hybrid query.

Only the transformer is traced; sentence-transformers' own modules after it (pooling, normalisation) run as
they are, on its output. The trace is used only if it reproduces the eager pipeline bit for bit on probe
queries of several lengths (``PROBES``); any model it cannot trace, or that differs, keeps the eager path. What
makes this safe for one query at a time: there is no padding, so the attention mask is all ones for every query,
and the branches the trace records (the all-ones mask shortcut) are the ones every later query takes.
"""
from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

PROBES = (
    "sort",
    "parse an ISO date",
    "python check if a variable is iterable",
    "how to read a csv file into a list of dictionaries with the header row as keys in python 3",
    "def retry(func, attempts=3, delay=0.5): call func until it succeeds or the attempts run out; "
    "sleep between attempts and re-raise the last error. " * 6,
)
"""Queries of 1 to ~256 tokens the traced pipeline must reproduce exactly before it is used."""

TRACED_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def traced_query_embedding(model: Any) -> "Callable[[dict[str, torch.Tensor]], torch.Tensor] | None":
    """A function from ``model.preprocess([query])`` features to the (1, dim) sentence embedding, or None.

    ``model`` is a ``SentenceTransformer`` whose first module is its ``Transformer`` over a Hugging Face model
    (text only); None for anything else, when tracing fails, or when the traced pipeline's embedding differs
    from ``model(features)["sentence_embedding"]`` in any bit on any of ``PROBES``.
    """
    import torch

    try:
        first = model[0]
        hf = first.auto_model
        if set(first.modality_config) != {"text"} or first.modality_config["text"].get("method") != "forward":
            return None
        rest = list(model)[1:]
        example = model.preprocess([PROBES[1]])
        names = [name for name in TRACED_INPUTS if name in example]
        if set(example) - set(names) - {"modality"}:
            return None  # inputs the trace would not pass on
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(hf, example_kwarg_inputs={name: example[name] for name in names}, strict=False,
                                     check_trace=False)
    except Exception as exc:  # noqa: BLE001 - any model or torch version that cannot trace keeps the eager path
        log.info("query trace unavailable (%s: %s): queries run the eager model", type(exc).__name__, exc)
        return None

    def embed(features: dict[str, Any]) -> "torch.Tensor":
        output = traced(**{name: features[name] for name in names})
        hidden = output["last_hidden_state"] if isinstance(output, dict) else output[0]
        state = {**features, "token_embeddings": hidden}
        for module in rest:
            state = module(state)
        return state["sentence_embedding"]

    from codehunt.index.encoder import _threads_for

    with torch.inference_mode(), _threads_for(1):  # the thread count FastQueryEncoder runs a query at
        for probe in PROBES:
            features = model.preprocess([probe])
            if not torch.equal(embed(features), model(dict(features))["sentence_embedding"]):
                log.info("the traced query model differs from the eager one on %r: queries run the eager model", probe[:40])
                return None
    return embed
