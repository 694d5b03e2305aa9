"""The bi-encoder (a ``SentenceTransformer``), its momentum key encoder, and the published model dir.

One shared encoder embeds queries and code, each with its prompt, exactly as
``SentenceTransformer.encode`` does at search time (``preprocess`` with the prompt, then the
module chain, which for all-MiniLM-L6-v2 ends in mean pooling and L2 normalisation).

The key encoder (MoCo, He et al., 2020) is a frozen copy updated as an exponential moving
average ``k <- m*k + (1-m)*q`` after every optimizer step; it runs in eval mode (no dropout)
so that queued keys are consistent. It is never published: only checkpoints hold it.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from codehunt.index.encoder import load_sentence_transformer
from codehunt.training.length_groups import in_input_order, length_groups

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

TRAINING_INFO = "codehunt_training.json"
"""Written beside the model files: the config it was trained with and what the run measured."""


def load_bi_encoder(base: str, max_seq_length: int, device: "str | torch.device | None" = None) -> "SentenceTransformer":
    """Load the base model (``"default"``: the packaged all-MiniLM-L6-v2) with the training token window.

    The base's own window is kept in ``model.inference_max_seq_length``: a short training
    window is a speed choice and must not shorten the window the published model searches with.
    """
    model = load_sentence_transformer(base, None if device is None else str(device))
    model.inference_max_seq_length = model.max_seq_length
    model.max_seq_length = max_seq_length
    return model


def resolve_prompts(model: "SentenceTransformer", query_prompt: str | None, document_prompt: str | None) -> dict[str, str]:
    """The prompts to train and publish with: the given ones, else the base model's ``query`` / ``document``."""
    saved = model.prompts or {}
    return {
        "query": query_prompt if query_prompt is not None else (saved.get("query") or ""),
        "document": document_prompt if document_prompt is not None else (saved.get("document") or ""),
    }


def embed(model: "SentenceTransformer", texts: Sequence[str], prompt: str,
          forward: "Callable[[dict[str, Any]], dict[str, Any]] | None" = None, sub_batch: int = 0) -> "torch.Tensor":
    """Unit vectors (len(texts), dim) for ``texts``, with gradients when grad is enabled.

    ``forward`` is the module to call (a DDP wrapper of ``model`` under data parallelism);
    tokenisation always goes through ``model``.

    ``sub_batch`` > 0 sorts the texts by length and runs them ``sub_batch`` at a time, each group
    padded only to its own longest text, then puts the vectors back in input order. Code lengths are
    skewed (in the mined stdlib pairs the median positive has 249 characters, the 90th percentile
    1,081), so one long function in a random batch pads every other text to the full window; grouping
    by length removes most of that padding. The vectors, the loss and the gradients are the same as
    one padded pass (attention and mean pooling ignore padded positions; only dropout draws differ),
    so this changes the speed of training, not what it learns (``benchmarks/training_throughput.py``).
    """
    import torch

    if len(texts) == 0:
        return torch.zeros(0, model.get_embedding_dimension(), device=model.device)
    texts = list(texts)
    groups = length_groups([len(text) for text in texts], sub_batch)
    parts = [_embed_padded(model, [texts[i] for i in group], prompt, forward) for group in groups]
    return in_input_order(parts, groups)  # (n, dim)


def _embed_padded(model: "SentenceTransformer", texts: list[str], prompt: str,
                  forward: "Callable[[dict[str, Any]], dict[str, Any]] | None") -> "torch.Tensor":
    """One forward pass over ``texts`` padded to their longest: unit vectors (len(texts), dim)."""
    import torch

    features = model.preprocess(texts, prompt=prompt or None)
    features = {k: v.to(model.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
    output = (forward or model)(features)["sentence_embedding"]  # (n, dim)
    return torch.nn.functional.normalize(output.float(), dim=-1)


def make_key_encoder(model: "SentenceTransformer") -> "SentenceTransformer":
    """A frozen deep copy of the query encoder, in eval mode."""
    key = copy.deepcopy(model)
    key.eval()
    for parameter in key.parameters():
        parameter.requires_grad_(False)
    return key


def momentum_update(key: "torch.nn.Module", query: "torch.nn.Module", momentum: float) -> None:
    """MoCo's EMA: every key parameter becomes ``m*k + (1-m)*q``; buffers are copied."""
    import torch

    with torch.no_grad():
        for k, q in zip(key.parameters(), query.parameters(), strict=True):
            k.mul_(momentum).add_(q.detach(), alpha=1.0 - momentum)
        for kb, qb in zip(key.buffers(), query.buffers(), strict=True):
            kb.copy_(qb)


def save_bi_encoder(model: "SentenceTransformer", output_dir: Path, prompts: dict[str, str], info: dict[str, Any]) -> Path:
    """Publish ``model`` through sentence-transformers, atomically (staging dir + rename).

    The directory loads with ``SentenceTransformer(path)`` in any process, with the prompts it
    was trained with; ``codehunt_training.json`` records the training config and figures.
    """
    from codehunt.index.storage import staging_directory

    output_dir = Path(output_dir)
    previous, training_window = model.prompts, model.max_seq_length
    model.prompts = dict(prompts)
    model.max_seq_length = getattr(model, "inference_max_seq_length", training_window)
    try:
        with staging_directory(output_dir) as staging:
            model.save(str(staging), create_model_card=False)
            (staging / TRAINING_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    finally:
        model.prompts, model.max_seq_length = previous, training_window
    return output_dir
