"""The ``Rescorer`` seam and its cross-encoder implementation.

A cross-encoder reads the query and one candidate's code as a single sequence
(``[CLS] query [SEP] code [SEP]``) and emits one relevance logit (monoBERT, Nogueira & Cho,
2019). It is far slower than a bi-encoder, so it only rescores the top candidates of a search.

Speed at query time, each choice a :class:`RerankConfig` field so it can be measured
(``benchmarks/rerank_latency.py``):

* the query is cut to ``max_query_length`` tokens and the code is cut *from the end* to fill
  ``max_length``, so the signature and the first lines (name, parameters, docstring) stay;
  before tokenising, very long code is cut to its first lines so the tokenizer never reads a
  10,000-line file to keep 200 tokens of it;
* every pair is tokenised once, then pairs are sorted by token length and batched, so a batch
  carries little padding (``sort_by_length``);
* on CPUs with fast bf16 (AMX / AVX512-BF16) the forward pass runs under bf16 autocast
  (``precision="auto"``).

Scores are raw logits: order-preserving like the sigmoid, without its float saturation.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence, overload, runtime_checkable

import numpy as np

from codehunt.index.encoder import resolve_model_path
from codehunt.index.errors import ModelLoadError
from codehunt.index.precision import wants_bf16
from codehunt.index.types import Hit
from codehunt.reranker.config import RerankConfig

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

log = logging.getLogger(__name__)

TRAINING_INFO = "codehunt_training.json"
"""Written beside the model files by ``train_reranker`` (same name as the retriever's): config and figures."""

DEFAULT_MAX_QUERY_LENGTH = 64
MAX_POSITIONS = 512
"""Token window assumed when the model config does not state ``max_position_embeddings``."""
CHARS_PER_TOKEN_BUDGET = 12
"""Pre-truncation keeps this many non-space characters per token of ``max_length`` (generous:
code averages 2-4 characters per WordPiece token), so the exact cut is always the tokenizer's."""


@runtime_checkable
class Rescorer(Protocol):
    """Anything that re-orders a query's hits by a better (slower) relevance score.

    ``texts[i]``, when given, is the full text to judge ``hits[i]`` by (``Index.hit_texts(hits)``);
    without it a rescorer reads what the hit itself carries (its snippet). The result holds the
    same hits, re-ordered, with new scores and ``rank`` renumbered from 1.
    """

    def rescore(self, query: str, hits: list[Hit], texts: Sequence[str] | None = None) -> list[Hit]: ...


def rerank_head(
    rescorer: Rescorer, query: str, hits: Sequence[Hit], depth: int,
    hit_texts: Callable[[Sequence[Hit]], Sequence[str]] | None = None, tail_below_head: bool = False,
) -> list[Hit]:
    """All of ``hits``: the first ``depth`` in ``rescorer``'s order, then the rest in their incoming order.

    A cross-encoder is too slow for every candidate, so only the head is rescored ("rerank the
    head, keep the tail"). ``hit_texts`` gives the texts the rescorer reads for the head
    (``index.hit_texts``; None: the snippets). Ranks run from 1 over the whole list. Tail hits
    keep their first-stage scores, or with ``tail_below_head`` get ``floor - 1 - i`` for the i-th
    tail hit (``floor``: the lowest head score, 0 for an empty head), so that scores fall with
    rank across the seam (what a consumer that sorts or aggregates by score needs).
    """
    head, tail = list(hits[:depth]), list(hits[depth:])
    reranked = rescorer.rescore(query, head, texts=hit_texts(head) if hit_texts is not None and head else None)
    floor = min((hit.score for hit in reranked), default=0.0)
    return reranked + [
        dataclasses.replace(hit, rank=len(reranked) + i, score=floor - 1.0 - i if tail_below_head else hit.score)
        for i, hit in enumerate(tail, start=1)
    ]


def head_lines(text: str, max_chars: int) -> str:
    """The first lines of ``text`` holding at most about ``max_chars`` non-space characters.

    Whitespace (indentation) is free for a WordPiece tokenizer, so only non-space characters
    count toward the budget; the line that crosses it is kept whole.
    """
    if len(text) <= max_chars:
        return text
    lines = text.split("\n")
    kept = 0
    for position, line in enumerate(lines):
        kept += len(line) - line.count(" ") - line.count("\t")
        if kept >= max_chars:
            return "\n".join(lines[: position + 1])
    return text


def cut_queries(tokenizer, queries: Sequence[str], max_query_length: int) -> list[str]:  # noqa: ANN001
    """Each query cut after its first ``max_query_length`` tokens, at the character where that token ends.

    Cutting the text rather than the ids keeps the pair tokenisation one call, and the
    query is then never truncated by the pair truncation (``only_second``).
    """
    encoded = tokenizer(
        list(queries), add_special_tokens=False, truncation=True, max_length=max_query_length,
        return_offsets_mapping=True,
    )
    cut = []
    for query, ids, offsets in zip(queries, encoded["input_ids"], encoded["offset_mapping"]):
        cut.append(query[: offsets[-1][1]] if len(ids) >= max_query_length and offsets else query)
    return cut


def tokenize_pairs(
    tokenizer, queries: Sequence[str], texts: Sequence[str], max_length: int, max_query_length: int  # noqa: ANN001
) -> dict[str, list[list[int]]]:
    """Unpadded ids of ``[CLS] query [SEP] code [SEP]`` pairs, code cut from the end (the shared train/test path)."""
    max_query_length = min(max_query_length, max_length - 4)
    unique = list(dict.fromkeys(queries))
    cut = dict(zip(unique, cut_queries(tokenizer, unique, max_query_length)))
    heads = [head_lines(text, max_length * CHARS_PER_TOKEN_BUDGET) for text in texts]
    encoded = tokenizer(
        [cut[q] for q in queries], heads, truncation="only_second", max_length=max_length, padding=False
    )
    return {key: list(values) for key, values in encoded.items()}


def pad_batch(tokenizer, encoded: dict[str, list[list[int]]], rows: Sequence[int]) -> dict:  # noqa: ANN001
    """Rows of :func:`tokenize_pairs` output padded into (batch, longest) int64 tensors.

    Done here rather than by ``tokenizer.pad`` (which warns on fast tokenizers): pad ids for
    ``input_ids``, 0 for the attention mask and token types, on the tokenizer's padding side.
    """
    import torch

    rows = list(rows)
    width = max(len(encoded["input_ids"][r]) for r in rows)
    fill = {"input_ids": tokenizer.pad_token_id or 0, "token_type_ids": getattr(tokenizer, "pad_token_type_id", 0)}
    left = getattr(tokenizer, "padding_side", "right") == "left"
    batch = {}
    for key, values in encoded.items():
        tensor = torch.full((len(rows), width), int(fill.get(key, 0)), dtype=torch.long)  # (batch, width)
        for i, r in enumerate(rows):
            row = torch.tensor(values[r], dtype=torch.long)
            if left:
                tensor[i, width - len(row):] = row
            else:
                tensor[i, : len(row)] = row
        batch[key] = tensor
    return batch


class CrossEncoderRescorer(Rescorer):
    """A :class:`Rescorer` over a sentence-transformers ``CrossEncoder`` with one output logit."""

    def __init__(self, model: "CrossEncoder", config: RerankConfig = RerankConfig(), name: str = "",
                 trained_query_length: int | None = None):
        self.model = model
        self.config = config
        self.name = name
        positions = int(getattr(model.config, "max_position_embeddings", None) or MAX_POSITIONS)
        self.max_length = int(min(config.max_length or model.max_seq_length or positions, positions))
        query_length = config.max_query_length or trained_query_length or DEFAULT_MAX_QUERY_LENGTH
        self.max_query_length = int(min(query_length, self.max_length - 4))

    @property
    def tokenizer(self):  # noqa: ANN201 - a transformers tokenizer
        return self.model.tokenizer

    def use_bf16(self) -> bool:
        """Whether scoring runs under bf16 autocast (``index.precision.wants_bf16``)."""
        return wants_bf16(self.config.precision, self.model.device)

    def score_pairs(self, queries: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        """Relevance logits of (query, text) pairs, (n,) float32, in input order."""
        if len(queries) != len(texts):
            raise ValueError(f"score_pairs needs one query per text, got {len(queries)} and {len(texts)}")
        if len(texts) == 0:
            return np.zeros(0, dtype=np.float32)
        import torch

        encoded = tokenize_pairs(self.tokenizer, queries, texts, self.max_length, self.max_query_length)
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        order = np.argsort(-lengths, kind="stable") if self.config.sort_by_length else np.arange(len(texts))
        scores = np.empty(len(texts), dtype=np.float32)
        device = self.model.device
        self.model.eval()
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.use_bf16()):
            for start in range(0, len(order), self.config.batch_size):
                rows = order[start : start + self.config.batch_size]
                features = {k: v.to(device) for k, v in pad_batch(self.tokenizer, encoded, rows).items()}
                logits = self.model(features)["scores"]  # (batch, 1)
                scores[rows] = logits.float().reshape(len(rows)).cpu().numpy()
        return scores

    def rescore_texts(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """Logits of ``query`` against each of ``texts``, (len(texts),) float32."""
        return self.score_pairs([query] * len(texts), texts)

    def rescore(self, query: str, hits: list[Hit], texts: Sequence[str] | None = None) -> list[Hit]:
        """``hits`` re-ordered by cross-encoder logit, ``rank`` renumbered from 1.

        ``texts[i]`` is the full code of ``hits[i]`` (``Index.hit_texts(hits)`` gives them); without
        it the hit's snippet (its first two lines) is all the model reads, which keeps the
        signature but loses the body. Ties keep the incoming order.
        """
        if texts is not None and len(texts) != len(hits):
            raise ValueError(f"rescore got {len(hits)} hits but {len(texts)} texts")
        if not hits:
            return []
        candidates = list(texts) if texts is not None else [hit.snippet for hit in hits]
        scores = self.rescore_texts(query, candidates)
        if self.config.combination == "interpolate":
            scores = interpolate_with_first_stage(scores, [hit.score for hit in hits], self.config.first_stage_weight)
        elif self.config.first_stage_weight > 0:
            scores = fuse_with_first_stage(scores, self.config.first_stage_weight)
        order = sorted(range(len(hits)), key=lambda i: (-float(scores[i]), i))
        return [dataclasses.replace(hits[i], score=float(scores[i]), rank=rank) for rank, i in enumerate(order, start=1)]


FUSION_RRF_K = 60
"""Reciprocal-rank constant of the first-stage fusion (Cormack et al., 2009), as in ``index.fusion``."""


def fuse_with_first_stage(reranker_scores: np.ndarray, first_stage_weight: float) -> np.ndarray:
    """RRF of the reranker's order and the incoming (first-stage) order, the latter weighted.

    A small cross-encoder trained on little data knows things the first stage does not, and
    the reverse; fusing ranks (not raw scores) needs no calibration between a logit and a
    cosine or a BM25 score. ``reranker_scores[i]`` belongs to the candidate at first-stage
    rank ``i + 1``; reranker ties keep the first-stage order.
    """
    ranks = np.empty(len(reranker_scores), dtype=np.float64)
    order = sorted(range(len(reranker_scores)), key=lambda i: (-float(reranker_scores[i]), i))
    for position, i in enumerate(order, start=1):
        ranks[i] = position
    first_stage_ranks = np.arange(1, len(reranker_scores) + 1, dtype=np.float64)
    return 1.0 / (FUSION_RRF_K + ranks) + first_stage_weight / (FUSION_RRF_K + first_stage_ranks)


def interpolate_with_first_stage(reranker_scores: np.ndarray, first_stage_scores: Sequence[float], weight: float) -> np.ndarray:
    """(1 - w) * minmax(logits) + w * minmax(first-stage scores), each normalised over the query's head.

    A score-level combination keeps how sure each side is, which a rank fusion throws away (the same argument
    as for hybrid search's fusion, :mod:`codehunt.index.fusion`); ``w`` is fit on dev data and stored beside
    the model (:data:`COMBINATION_FILE`). ``w = 1`` is the first stage's order, ``w = 0`` the reranker's.
    """
    def minmax(values: np.ndarray) -> np.ndarray:
        low, high = float(values.min()), float(values.max())
        return np.ones_like(values) if high == low else (values - low) / (high - low)

    if len(reranker_scores) == 0:
        return np.asarray(reranker_scores, dtype=np.float64)
    logits = minmax(np.asarray(reranker_scores, dtype=np.float64))
    first = minmax(np.asarray(first_stage_scores, dtype=np.float64))
    return (1.0 - weight) * logits + weight * first


COMBINATION_FILE = "codehunt_combination.json"
"""Written into a reranker directory by ``codehunt train rerank-weight``: how ``--rerank DIR`` combines the
reranker with the first stage when no ``--rerank-fusion`` is given (``combination``, ``first_stage_weight``,
and the dev figures it was fit on)."""


def read_combination(path: str | Path, mode: str | None = None) -> dict:
    """The stored combination of a reranker directory, or {} when it has none.

    A fit over several first stages stores one combination per ``mode`` (``per_mode``): the
    entry of ``mode`` when there is one, else the top-level combination (the first mode fit).
    """
    file = Path(path) / COMBINATION_FILE
    if not file.is_file():
        return {}
    try:
        payload = json.loads(file.read_text(encoding="utf-8"))
        chosen = (payload.get("per_mode") or {}).get(mode, payload) if mode is not None else payload
        return {"combination": str(chosen["combination"]), "first_stage_weight": float(chosen["first_stage_weight"])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{file} is unreadable ({_first_line(exc)}): run `codehunt train rerank-weight` again or delete it") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_cross_encoder(name: str, max_length: int | None = None, device: str | None = None,
                       seed: int = 0) -> "CrossEncoder":
    """A one-logit ``CrossEncoder`` from a cross-encoder dir, a bi-encoder dir (new head), a hub name or 'default'.

    A bi-encoder checkpoint (such as the packaged all-MiniLM-L6-v2) gets a new, randomly
    initialised classification head; ``seed`` makes that head the same on every load
    without touching the caller's random state. Every failure is a one-line ``ModelLoadError``.
    """
    path = resolve_model_path(name)
    looks_local = os.sep in path or path.startswith(".") or Path(path).exists()
    if looks_local and not Path(path).is_dir():
        raise ModelLoadError(
            f"reranker model {path} does not exist: pass a directory written by `codehunt train reranker`, "
            "a CrossEncoder directory, a hub name, or 'default'"
        )
    import torch
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Transformer

    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if _is_cross_encoder(path):
                model = CrossEncoder(path, device=device, max_length=max_length, local_files_only=looks_local)
            else:
                transformer = Transformer(
                    path, transformer_task="sequence-classification", config_kwargs={"num_labels": 1},
                    max_seq_length=max_length,
                )
                model = CrossEncoder(modules=[transformer], device=device)
                log.warning("%s is not a cross-encoder: its classification head is new and untrained", name)
    except Exception as exc:  # noqa: BLE001 - many libraries, many exception types
        raise ModelLoadError(f"cannot load reranker model {name!r}: {_first_line(exc)}") from exc
    if model.num_labels != 1:
        raise ModelLoadError(
            f"reranker model {name!r} has {model.num_labels} output labels; a reranker needs exactly 1 (a relevance logit)"
        )
    return model


def _is_cross_encoder(path: str) -> bool:
    """True for a saved CrossEncoder (or a hub name, which we let sentence-transformers resolve)."""
    folder = Path(path)
    if not folder.is_dir():
        return True
    st_config = folder / "config_sentence_transformers.json"
    if st_config.is_file():
        try:
            return json.loads(st_config.read_text(encoding="utf-8")).get("model_type") == "CrossEncoder"
        except (OSError, ValueError):
            return False
    if (folder / "modules.json").is_file():
        return False  # a SentenceTransformer folder without model_type (sentence-transformers < 5)
    hf_config = folder / "config.json"
    try:
        architectures = json.loads(hf_config.read_text(encoding="utf-8")).get("architectures") or []
    except (OSError, ValueError):
        return True  # let CrossEncoder produce the error message
    return any(arch.endswith("ForSequenceClassification") for arch in architectures)


def read_reranker_info(path: str | Path) -> dict:
    """The ``codehunt_training.json`` of a model we trained, or {} for any other model."""
    info = Path(path) / TRAINING_INFO
    if not info.is_file():
        return {}
    try:
        return json.loads(info.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{info} is unreadable ({_first_line(exc)}): retrain or delete the file") from exc


@overload
def load_rescorer(path: None, config: RerankConfig | None = None, *,
                  first_stage_weight: float | None = None, mode: str | None = None) -> None: ...


@overload
def load_rescorer(path: str | Path, config: RerankConfig | None = None, *,
                  first_stage_weight: float | None = None, mode: str | None = None) -> CrossEncoderRescorer: ...


def load_rescorer(path: str | Path | None, config: RerankConfig | None = None, *,
                  first_stage_weight: float | None = None, mode: str | None = None) -> CrossEncoderRescorer | None:
    """Load a reranker directory (or hub name, or 'default' with an untrained head) as a rescorer.

    ``path`` None (no ``--rerank`` given) gives None, so an optional CLI option passes straight
    through. ``first_stage_weight``, when given, replaces ``config.first_stage_weight`` (the RRF
    weight of the first stage's order, ``--rerank-fusion``). With neither ``config`` nor
    ``first_stage_weight``, a directory's stored combination (:data:`COMBINATION_FILE`, fit on dev
    data) applies, so ``--rerank DIR`` needs no flags; ``mode`` (the first stage: dense, bm25, hybrid)
    picks that stage's entry when the fit stored one per mode.
    """
    if path is None:
        return None
    name = str(path)
    stored = read_combination(resolve_model_path(name), mode) if config is None and first_stage_weight is None and Path(resolve_model_path(name)).is_dir() else {}
    config = config or RerankConfig(**stored)
    if first_stage_weight is not None:
        config = dataclasses.replace(config, first_stage_weight=first_stage_weight)
    info = read_reranker_info(resolve_model_path(name)) if Path(resolve_model_path(name)).is_dir() else {}
    trained_query_length = (info.get("config") or {}).get("max_query_length")
    model = load_cross_encoder(name, max_length=config.max_length, device=config.device)
    return CrossEncoderRescorer(model, config, name=name, trained_query_length=trained_query_length)
