"""BEIR folders: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``, and pair files turned into one."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from codehunt.index.errors import BadInputError
from codehunt.index.storage import read_jsonl_objects, write_jsonl_atomic
from codehunt.index.trec import read_qrels_tsv


@dataclass(frozen=True)
class BeirSplit:
    """A BEIR folder's corpus path, the queries that have qrels in ``split``, and those qrels."""

    folder: Path
    corpus_path: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(folder: Path, split: str = "dev") -> BeirSplit:
    folder = Path(folder)
    corpus_path = folder / "corpus.jsonl"
    queries_path = folder / "queries.jsonl"
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for path in (corpus_path, queries_path, qrels_path):
        if not path.is_file():
            raise BadInputError(f"{path} is missing: a BEIR folder needs corpus.jsonl, queries.jsonl and qrels/{split}.tsv")
    qrels = read_qrels_tsv(qrels_path)
    queries: dict[str, str] = {}
    for number, record in read_jsonl_objects(queries_path, "a BEIR query record (_id, text)"):
        qid = str(record.get("_id", record.get("id")))
        if qid in qrels:
            if not isinstance(record.get("text"), str):
                raise BadInputError(f"{queries_path}:{number}: not a BEIR query record (no text); expected _id, text")
            queries[qid] = record["text"]
    missing = sorted(set(qrels) - set(queries))
    if missing:
        raise BadInputError(f"{qrels_path} names {len(missing)} queries absent from {queries_path} (e.g. {missing[0]})")
    return BeirSplit(folder, corpus_path, queries, qrels)


def pairs_to_beir(pairs_path: Path, output: Path, query_field: str = "query", code_field: str = "code") -> Path:
    """Turn a (query, code) JSONL file into a BEIR folder (split ``dev``), de-duplicating code.

    Each distinct code snippet becomes one document; each pair one query whose only
    positive is its snippet. This is how a pairs file (e.g. CoNaLa) is evaluated.
    """
    corpus: dict[str, str] = {}
    queries = []
    qrels = []
    expected = f"fields {query_field!r} and {code_field!r}"
    for number, record in read_jsonl_objects(Path(pairs_path), expected):
        query, code = record.get(query_field), record.get(code_field)
        if not isinstance(query, str) or not isinstance(code, str):
            raise BadInputError(f"{pairs_path}:{number}: expected {expected} (strings)")
        doc_id = "doc-" + hashlib.sha256(code.encode("utf-8")).hexdigest()[:16]
        corpus.setdefault(doc_id, code)
        qid = str(record.get("id", f"q{number}"))
        queries.append({"_id": qid, "text": query})
        qrels.append((qid, doc_id))
    output.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(output / "corpus.jsonl", ({"_id": d, "title": "", "text": t} for d, t in corpus.items()))
    write_jsonl_atomic(output / "queries.jsonl", queries)
    (output / "qrels").mkdir(exist_ok=True)
    lines = ["query-id\tcorpus-id\tscore\n"] + [f"{q}\t{d}\t1\n" for q, d in qrels]
    (output / "qrels" / "dev.tsv").write_text("".join(lines), encoding="utf-8")
    return output
