"""BEIR folders, read in one place: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

Evaluation (``codehunt eval``) and pair mining (``mine pairs`` on a BEIR folder) read BEIR
folders through this module, so they agree on the layout, the id field (``_id``, else ``id``),
what a positive is (a judgement with grade > 0) and which split is read; :func:`beir_positives`
is the (query, document) list a trainer needs.

The split rule: a caller that names a split reads ``qrels/<split>.tsv`` (``codehunt eval
--split dev``, ``train retriever --beir-split train``); one that names none gets
``qrels/test.tsv`` when the folder has it (BEIR's evaluation split), else the folder's only
qrels file, else a :class:`BadInputError` listing the splits to choose from.

Qrels lines are parsed by :func:`index.trec.read_qrels_tsv` (BEIR TSV or TREC 4-column).
The corpus is streamed, and only the documents asked for are kept, so a judged subset of a
large corpus costs memory only for its own documents.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from codehunt.index.errors import BadInputError
from codehunt.index.storage import read_jsonl_objects
from codehunt.index.trec import read_qrels_tsv

CORPUS_FILE = "corpus.jsonl"
QUERIES_FILE = "queries.jsonl"
QRELS_DIR = "qrels"
DEFAULT_SPLIT = "test"
"""The split read when the caller names none and the folder has more than one qrels file."""


@dataclass(frozen=True)
class BeirSplit:
    """One split of a BEIR folder: the corpus path, the queries judged in ``split``, and their qrels."""

    folder: Path
    split: str
    corpus_path: Path
    qrels_path: Path
    queries: dict[str, str]  # query id -> text, only the queries that have qrels in this split
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> grade


@dataclass(frozen=True)
class BeirPositive:
    """One relevant (query, document) judgement, with the document's text and metadata."""

    query_id: str
    query: str
    doc_id: str
    text: str
    title: str = ""
    path: str = ""


def is_beir_folder(folder: Path) -> bool:
    """True when ``folder`` holds ``corpus.jsonl`` and ``queries.jsonl``."""
    folder = Path(folder)
    return (folder / CORPUS_FILE).is_file() and (folder / QUERIES_FILE).is_file()


def qrels_path(folder: Path, split: str | None = None) -> Path:
    """The qrels file of ``split``, or of the default split (module docstring) when ``split`` is empty."""
    qrels = Path(folder) / QRELS_DIR
    if split:
        path = qrels / f"{split}.tsv"
        if not path.is_file():
            choices = ", ".join(sorted(p.stem for p in qrels.glob("*.tsv"))) or "none"
            raise BadInputError(f"{path} does not exist: choose a split among the files in {qrels} ({choices})")
        return path
    if (qrels / f"{DEFAULT_SPLIT}.tsv").is_file():
        return qrels / f"{DEFAULT_SPLIT}.tsv"
    found = sorted(qrels.glob("*.tsv"))
    if len(found) != 1:
        choices = f" ({', '.join(p.stem for p in found)})" if found else ""
        raise BadInputError(f"{qrels} holds {len(found)} qrels files{choices}: choose one with --split")
    return found[0]


def _read_records(path: Path, what: str, wanted: Collection[str] | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, record) for each record of a BEIR JSONL file whose id is in ``wanted`` (all when None); each needs a text."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path} is missing: a BEIR folder needs {CORPUS_FILE}, {QUERIES_FILE} and {QRELS_DIR}/SPLIT.tsv")
    for number, record in read_jsonl_objects(path, f"a BEIR {what} record (_id, text)"):
        record_id = str(record.get("_id", record.get("id")))
        if wanted is not None and record_id not in wanted:
            continue
        if not isinstance(record.get("text"), str):
            raise BadInputError(f"{path}:{number}: not a BEIR {what} record (no text); expected _id, text")
        yield record_id, record


def read_queries(path: Path, wanted: Collection[str] | None = None) -> dict[str, str]:
    """Query id -> text from a BEIR ``queries.jsonl`` (only the ids in ``wanted``, when given)."""
    return {qid: record["text"] for qid, record in _read_records(path, "query", wanted)}


def read_corpus(path: Path, wanted: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
    """Doc id -> record (``text``, optional ``title``, ``path``, ``lang``) from a BEIR ``corpus.jsonl``.

    With ``wanted``, only those documents are kept (the file is still read once, line by line).
    """
    return dict(_read_records(path, "corpus", wanted))


def load_beir(folder: Path, split: str | None = None, require_queries: bool = True) -> BeirSplit:
    """The queries and qrels of one split of a BEIR folder (the corpus is left on disk: ``corpus_path``).

    With ``require_queries`` (evaluation), qrels naming a query absent from ``queries.jsonl``
    are an error; without it (mining, training) such queries are left out of ``queries``.
    """
    folder = Path(folder)
    corpus_path = folder / CORPUS_FILE
    if not corpus_path.is_file() or not (folder / QUERIES_FILE).is_file():
        raise BadInputError(
            f"{folder} is not a BEIR folder: it needs {CORPUS_FILE}, {QUERIES_FILE} and {QRELS_DIR}/SPLIT.tsv"
        )
    path = qrels_path(folder, split)
    qrels = read_qrels_tsv(path)
    queries = read_queries(folder / QUERIES_FILE, wanted=qrels)
    missing = [qid for qid in qrels if qid not in queries]
    if missing and require_queries:
        raise BadInputError(f"{path} names {len(missing)} queries absent from {folder / QUERIES_FILE} (e.g. {missing[0]})")
    return BeirSplit(folder=folder, split=path.stem, corpus_path=corpus_path, qrels_path=path, queries=queries, qrels=qrels)


def beir_positives(folder: Path, split: str | None = None, dropped: Counter[str] | None = None) -> list[BeirPositive]:
    """Every judgement with grade > 0 of a split, in qrels order, with its query and document text.

    Judgements whose query or document is absent from the folder are skipped and counted in
    ``dropped["unknown-id"]``.
    """
    data = load_beir(folder, split, require_queries=False)
    wanted = {doc for judged in data.qrels.values() for doc, grade in judged.items() if grade > 0}
    corpus = read_corpus(data.corpus_path, wanted)
    positives: list[BeirPositive] = []
    for qid, judged in data.qrels.items():
        for doc_id, grade in judged.items():
            if grade <= 0:
                continue
            if qid not in data.queries or doc_id not in corpus:
                if dropped is not None:
                    dropped["unknown-id"] += 1
                continue
            record = corpus[doc_id]
            positives.append(BeirPositive(
                query_id=qid,
                query=data.queries[qid],
                doc_id=doc_id,
                text=record["text"],
                title=str(record.get("title") or ""),
                path=str(record.get("path") or ""),
            ))
    return positives
