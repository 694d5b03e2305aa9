"""Dev-set evaluation while a retriever trains: nDCG@10 every N steps, and the best model kept.

Why: on the recipe's data longer runs made cosqa worse while csn_ruby improved, so the last step is not the
best model, and a model chosen on one set can lose on the other. ``--dev`` names BEIR folders (e.g.
``../shared/data/cosqa``); every ``--eval-every`` steps the model being trained embeds each set's dev queries and
a fixed sample of its corpus (every judged document plus seeded random others, ``--dev-corpus-size`` in all) and
scores dense nDCG@10; the published model is the one with the best mean over the sets. The sample keeps an
evaluation to seconds on a CPU; its figures are higher than the full corpus gives (fewer distractors), which is
fine for choosing between checkpoints of one run and wrong for reporting: report with ``codehunt eval``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from codehunt.index.metrics import evaluate_run
from codehunt.retriever.model import embed
from codehunt.training.dev_sets import DevSet, load_dev_sets

__all__ = ["DevSet", "dev_ndcg", "load_dev_sets"]

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer


def dev_ndcg(model: "SentenceTransformer", sets: list[DevSet], prompts: dict[str, str], sub_batch: int,
             batch_size: int = 64) -> dict[str, float]:
    """Dense nDCG@10 of ``model`` on each set (eval mode, no gradients; the model's training mode is restored)."""
    import torch

    was_training = model.training
    model.eval()
    try:
        scores = {}
        with torch.no_grad():
            for dev in sets:
                documents = _embed_all(model, dev.doc_texts, prompts["document"], sub_batch, batch_size)  # (docs, dim)
                qids = list(dev.queries)
                queries = _embed_all(model, [dev.queries[q] for q in qids], prompts["query"], sub_batch, batch_size)
                top = torch.topk(queries @ documents.T, k=min(10, len(dev.doc_ids)), dim=1)  # (queries, 10)
                run = {qid: {dev.doc_ids[int(d)]: float(s) for d, s in zip(ids, values)}
                       for qid, ids, values in zip(qids, top.indices, top.values)}
                scores[dev.name] = evaluate_run(dev.qrels, run, ks=(10,)).aggregate["ndcg_at_10"]
        return scores
    finally:
        model.train(was_training)


def _embed_all(model: "SentenceTransformer", texts: list[str], prompt: str, sub_batch: int, batch_size: int) -> "torch.Tensor":
    """Unit vectors (len(texts), dim), ``batch_size`` texts per :func:`embed` call."""
    import torch

    return torch.cat([embed(model, texts[start:start + batch_size], prompt, sub_batch=sub_batch)
                      for start in range(0, len(texts), batch_size)])
