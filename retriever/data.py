"""Training data for the retriever, read through Hugging Face ``datasets``.

Three layouts are accepted:

* triples JSONL, the mining output: ``anchor, positive, negative_1..n`` (the
  sentence-transformers column convention), optionally ``positive_id``, ``negative_<k>_id``
  and score columns (ignored);
* pairs JSONL: ``query, code`` or ``query, positive`` (``codehunt mine pairs`` output), optionally ``positive_id`` / ``code_id`` / ``corpus_id``;
* a BEIR folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv`` (score > 0).

Every code text gets a document id (its id column, else a hash of its text) and every text a
hash, both int64, so that the loss can mask false negatives. The order of micro-batches comes from
``training.sampler.BatchOrder`` (shared with the reranker): resuming needs only the micro-batch index.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from codehunt.training.sampler import TrainingDataError

NEGATIVE_COLUMN = re.compile(r"^negative_(\d+)$")
CODE_ID_COLUMNS = ("positive_id", "code_id", "corpus_id")


def stable_id(text: str) -> int:
    """A signed 64-bit hash of ``text`` that is the same in every process and every run (unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


@dataclass(frozen=True)
class TrainingBatch:
    """One micro-batch: queries with their positive code, and the mined negatives of all rows, flattened."""

    queries: list[str]
    codes: list[str]
    code_doc_ids: list[int]
    negatives: list[str]
    negative_doc_ids: list[int]

    def __len__(self) -> int:
        return len(self.queries)


class TrainingData:
    """Rows of a ``datasets.Dataset`` normalised to (query, code, code id, negatives, negative ids)."""

    def __init__(self, dataset: Any, query_column: str, code_column: str, code_id_column: str | None,
                 negative_columns: Sequence[tuple[str, str | None]], hard_negatives: int, source: str):
        self.dataset, self.source = dataset, source
        self.query_column, self.code_column, self.code_id_column = query_column, code_column, code_id_column
        self.negative_columns = list(negative_columns)[:hard_negatives]

    def __len__(self) -> int:
        return len(self.dataset)

    def batch(self, rows: Sequence[int]) -> TrainingBatch:
        columns = self.dataset[list(int(r) for r in rows)]
        queries, codes = [str(q) for q in columns[self.query_column]], [str(c) for c in columns[self.code_column]]
        if self.code_id_column:
            doc_ids = [stable_id(str(i)) if i not in (None, "") else stable_id(c)
                       for i, c in zip(columns[self.code_id_column], codes)]
        else:
            doc_ids = [stable_id(c) for c in codes]
        negatives: list[str] = []
        negative_ids: list[int] = []
        for text_column, id_column in self.negative_columns:
            ids = columns[id_column] if id_column else [None] * len(codes)
            for text, doc in zip(columns[text_column], ids):
                if text is None or not str(text).strip():
                    continue
                negatives.append(str(text))
                negative_ids.append(stable_id(str(doc)) if doc not in (None, "") else stable_id(str(text)))
        return TrainingBatch(queries, codes, doc_ids, negatives, negative_ids)


def load_training_data(path: str | Path, hard_negatives: int = 7, beir_split: str = "train",
                       cache_dir: str | None = None) -> TrainingData:
    """Open ``path`` (triples/pairs JSONL or a BEIR folder) as :class:`TrainingData`."""
    import datasets

    path = Path(path)
    if path.is_dir():
        return _load_beir(path, beir_split, cache_dir)
    if not path.is_file() or path.stat().st_size == 0:
        raise TrainingDataError(f"training data {path} does not exist or is empty: pass triples.jsonl, pairs.jsonl or a BEIR folder")
    dataset = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=cache_dir)
    names = set(dataset.column_names)
    if {"anchor", "positive"} <= names:
        negatives = sorted(((int(m.group(1)), name) for name in names if (m := NEGATIVE_COLUMN.match(name))))
        pairs = [(name, f"{name}_id" if f"{name}_id" in names else None) for _, name in negatives]
        id_column = "positive_id" if "positive_id" in names else None
        return TrainingData(dataset, "anchor", "positive", id_column, pairs, hard_negatives, str(path))
    for code_column in ("code", "positive"):
        if {"query", code_column} <= names:
            id_column = next((c for c in CODE_ID_COLUMNS if c in names), None)
            return TrainingData(dataset, "query", code_column, id_column, [], 0, str(path))
    raise TrainingDataError(
        f"{path}: columns {sorted(names)} match no known layout; expected anchor, positive, negative_1..n "
        "(mining triples), query, code or query, positive (pairs, as `codehunt mine pairs` writes)"
    )


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _load_beir(folder: Path, split: str, cache_dir: str | None) -> TrainingData:
    import datasets

    qrels_path = folder / "qrels" / f"{split}.tsv"
    missing = [p for p in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path) if not p.is_file()]
    if missing:
        raise TrainingDataError(f"BEIR folder {folder} lacks {', '.join(map(str, missing))}; pick the split with --beir-split")
    corpus = {str(r.get("_id", r.get("id"))): str(r.get("text", "")) for r in _read_jsonl(folder / "corpus.jsonl")}
    queries = {str(r.get("_id", r.get("id"))): str(r.get("text", "")) for r in _read_jsonl(folder / "queries.jsonl")}
    rows: dict[str, list[str]] = {"query": [], "code": [], "corpus_id": []}
    with qrels_path.open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle, delimiter="\t"):
            query_id, doc_id = record["query-id"], record["corpus-id"]
            if float(record.get("score", 1)) > 0 and query_id in queries and doc_id in corpus:
                rows["query"].append(queries[query_id]); rows["code"].append(corpus[doc_id]); rows["corpus_id"].append(doc_id)  # noqa: E702
    if not rows["query"]:
        raise TrainingDataError(f"{qrels_path} has no positive pair whose query and document exist in {folder}")
    return TrainingData(datasets.Dataset.from_dict(rows), "query", "code", "corpus_id", [], 0, str(folder))
