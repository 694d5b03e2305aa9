"""Existing pair data: a JSONL pair file or a BEIR folder, read through Hugging Face ``datasets``.

JSONL files name their columns differently (CoNaLa ``query``/``code``, CodeSearchNet
``docstring``/``code``, sentence-transformers ``anchor``/``positive``); the query and code
columns are taken from the config or the first of the usual names that is present. A BEIR
folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``) yields one pair per
relevant (query, document) judgement.
"""
from __future__ import annotations

import csv
import logging
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from codehunt.index.errors import BadInputError
from codehunt.mining.pairs import Pair, PairsConfig

log = logging.getLogger(__name__)

QUERY_FIELDS = ("query", "anchor", "question", "intent", "nl", "docstring", "text")
POSITIVE_FIELDS = ("positive", "code", "snippet", "function", "document", "text")
ID_FIELDS = ("positive_id", "corpus_id", "doc_id", "code_id", "id", "_id")


def _load_json(path: Path) -> Any:
    """One JSON/JSONL file as a ``datasets.Dataset`` (memory-mapped Arrow, so big files are fine)."""
    import datasets

    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset("json", data_files=str(path), split="train")
    except Exception as exc:  # noqa: BLE001 - datasets wraps parse errors in several types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(f"{path} is not a readable JSON Lines file ({first})") from exc


def _pick(columns: list[str], wanted: str, fallbacks: tuple[str, ...], path: Path, role: str, avoid: str = "") -> str:
    if wanted:
        if wanted not in columns:
            raise BadInputError(f"{path} has no column {wanted!r} (columns: {', '.join(columns)})")
        return wanted
    for name in fallbacks:
        if name in columns and name != avoid:
            return name
    raise BadInputError(
        f"{path}: no {role} column among {', '.join(columns)}; name it with --{role}-field"
    )


def load_jsonl_pairs(path: Path, config: PairsConfig, dropped: Counter[str]) -> Iterator[Pair]:
    """Pairs from a JSONL file with a query column and a code column."""
    table = _load_json(path)
    columns = list(table.column_names)
    # The default "query" falls back to the usual names; any other name must exist.
    wanted_query = "" if config.query_field == "query" and "query" not in columns else config.query_field
    query_field = _pick(columns, wanted_query, QUERY_FIELDS, path, "query")
    positive_field = _pick(columns, config.positive_field, POSITIVE_FIELDS, path, "positive", avoid=query_field)
    id_field = next((name for name in ID_FIELDS if name in columns), None)
    name = path.stem
    for row, record in enumerate(table):
        query, positive = record.get(query_field), record.get(positive_field)
        if not isinstance(query, str) or not isinstance(positive, str) or not query.strip() or not positive.strip():
            dropped["empty-field"] += 1
            continue
        positive_id = str(record[id_field]) if id_field and record.get(id_field) is not None else f"{name}:{row}"
        yield Pair(
            query=query.strip(),
            positive=positive,
            positive_id=positive_id,
            source=str(record.get("source") or "file"),
            repo=str(record.get("repo") or name),
            rev=str(record.get("rev") or ""),
            path=str(record.get("path") or ""),
            qualname=str(record.get("qualname") or record.get("func_name") or ""),
        )


def _qrels_file(folder: Path, split: str) -> Path:
    qrels = folder / "qrels"
    if split:
        path = qrels / f"{split}.tsv"
        if not path.is_file():
            raise BadInputError(f"{path} does not exist: choose a --split among the files in {qrels}")
        return path
    if (qrels / "test.tsv").is_file():
        return qrels / "test.tsv"
    found = sorted(qrels.glob("*.tsv"))
    if len(found) != 1:
        raise BadInputError(f"{qrels} holds {len(found)} qrels files: choose one with --split")
    return found[0]


def load_beir_pairs(folder: Path, config: PairsConfig, dropped: Counter[str]) -> Iterator[Pair]:
    """One pair per (query, document) judged relevant (score > 0) in a BEIR folder's qrels."""
    qrels_path = _qrels_file(folder, config.split)
    corpus = _load_json(folder / "corpus.jsonl")
    queries = _load_json(folder / "queries.jsonl")
    id_column = "_id" if "_id" in corpus.column_names else "id"
    documents = {str(doc_id): i for i, doc_id in enumerate(corpus[id_column])}
    query_id_column = "_id" if "_id" in queries.column_names else "id"
    query_text = {str(qid): text for qid, text in zip(queries[query_id_column], queries["text"])}
    name = folder.resolve().name
    with qrels_path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        for number, row in enumerate(reader, start=1):
            if number == 1 and row and row[0] == "query-id":
                continue
            if len(row) < 3:
                raise BadInputError(f"{qrels_path}:{number}: expected query-id, corpus-id, score")
            query_id, doc_id, score = row[0], row[1], row[2]
            if float(score) <= 0:
                continue
            if query_id not in query_text or doc_id not in documents:
                dropped["unknown-id"] += 1
                continue
            document = corpus[documents[doc_id]]
            yield Pair(
                query=query_text[query_id],
                positive=document["text"],
                positive_id=doc_id,
                source="file",
                repo=name,
                rev="",
                path=str(document.get("path") or ""),
                qualname=str(document.get("title") or ""),
            )


def load_pair_file(source: Path, config: PairsConfig, dropped: Counter[str]) -> Iterator[Pair]:
    """Pairs from a BEIR folder or a JSONL pair file."""
    if source.is_dir():
        if not (source / "corpus.jsonl").is_file() or not (source / "queries.jsonl").is_file():
            raise BadInputError(f"{source} is not a BEIR folder (corpus.jsonl, queries.jsonl, qrels/): pass one or a JSONL file")
        return load_beir_pairs(source, config, dropped)
    return load_jsonl_pairs(source, config, dropped)
