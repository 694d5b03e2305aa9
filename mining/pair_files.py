"""Existing pair data: a JSONL pair file (read through Hugging Face ``datasets``) or a BEIR folder.

JSONL files name their columns differently (CoNaLa ``query``/``code``, CodeSearchNet
``docstring``/``code``, sentence-transformers ``anchor``/``positive``); the query and code
columns are taken from the config or the first of the usual names that is present. A BEIR
folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``, read by
:mod:`codehunt.index.beir` with its split rule) yields one pair per relevant (query, document)
judgement.
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from codehunt.index.beir import beir_positives, is_beir_folder
from codehunt.index.errors import BadInputError
from codehunt.mining.config import PairsConfig
from codehunt.mining.records import Pair, source_name

log = logging.getLogger(__name__)

QUERY_FIELDS = ("query", "anchor", "question", "intent", "nl", "docstring", "text")
POSITIVE_FIELDS = ("positive", "code", "snippet", "function", "document", "text")
ID_FIELDS = ("positive_id", "corpus_id", "doc_id", "code_id", "id", "_id")


def _load_json(path: Path) -> Any:
    """One JSON/JSONL file as a ``datasets.Dataset`` (memory-mapped Arrow, so big files are fine)."""
    import datasets

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


def load_beir_pairs(folder: Path, config: PairsConfig, dropped: Counter[str]) -> Iterator[Pair]:
    """One pair per (query, document) judged relevant (grade > 0) in a BEIR folder's qrels (``config.split``)."""
    name = source_name(folder)
    for positive in beir_positives(folder, config.split or None, dropped):
        yield Pair(
            query=positive.query,
            positive=positive.text,
            positive_id=positive.doc_id,
            source="file",
            repo=name,
            rev="",
            path=positive.path,
            qualname=positive.title,
        )


def load_pair_file(source: Path, config: PairsConfig, dropped: Counter[str]) -> Iterator[Pair]:
    """Pairs from a BEIR folder or a JSONL pair file."""
    if source.is_dir():
        if not is_beir_folder(source):
            raise BadInputError(f"{source} is not a BEIR folder (corpus.jsonl, queries.jsonl, qrels/): pass one or a JSONL file")
        return load_beir_pairs(source, config, dropped)
    return load_jsonl_pairs(source, config, dropped)
