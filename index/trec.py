"""TREC run files and qrels: the plain-text formats trec_eval, pyserini and BEIR exchange.

A run line is ``qid Q0 docid rank score tag``; ranks are 1-based in trec_eval order (score
descending, ties by doc id descending), so the rank column agrees with how trec_eval reads
the file (it re-sorts by score and ignores the rank column). Scores are written with
``repr`` so they read back as the same float64 and ties stay ties.

Qrels come as BEIR ``qrels/<split>.tsv`` (``query-id<TAB>corpus-id<TAB>score`` with a header)
or TREC's four columns (``qid iter docid rel``).
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from codehunt.index.errors import BadInputError
from codehunt.index.metrics import rank_documents
from codehunt.index.storage import write_text_atomic


def _check_token(value: str, what: str) -> str:
    if not value or any(ch.isspace() for ch in value):
        raise BadInputError(f"{what} {value!r} is empty or holds whitespace; TREC files split on whitespace")
    return value


def write_trec_run(
    path: str | os.PathLike[str],
    run: Mapping[str, Mapping[str, float]],
    tag: str,
    max_rank: int | None = None,
) -> Path:
    """Write ``run`` (query -> doc -> score) as a TREC run file, atomically (temp + rename).

    Queries are written in sorted order; ``max_rank`` keeps only each query's top ranks.
    """
    path = Path(path)
    _check_token(tag, "run tag")
    if max_rank is not None and max_rank < 1:
        raise BadInputError(f"max_rank must be >= 1, got {max_rank}")
    lines: list[str] = []
    for qid in sorted(run):
        _check_token(qid, "query id")
        scores = run[qid]
        for doc in scores:
            _check_token(doc, f"doc id (query {qid})")
            if not math.isfinite(float(scores[doc])):
                raise BadInputError(f"score of doc {doc!r} for query {qid!r} is {scores[doc]}; scores must be finite")
        for rank, doc in enumerate(rank_documents(scores)[:max_rank], start=1):
            lines.append(f"{qid} Q0 {doc} {rank} {float(scores[doc])!r} {tag}\n")
    write_text_atomic(path, "".join(lines), fsync=True)
    return path


def _read_lines(path: Path, what: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BadInputError(f"{what} file {path} does not exist") from None
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise BadInputError(f"{what} file {path} is not a UTF-8 text file: {exc}") from None


def read_trec_run(path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
    """Read a TREC run file into query -> doc -> score (the rank column is checked, not used)."""
    path = Path(path)
    run: dict[str, dict[str, float]] = {}
    for lineno, line in enumerate(_read_lines(path, "run"), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{lineno}"
        if len(fields) != 6:
            raise BadInputError(f"{where}: expected 6 fields 'qid Q0 docid rank score tag', got {len(fields)}: {line!r}")
        qid, _, doc, rank, score, _ = fields
        try:
            int(rank)
            value = float(score)
        except ValueError:
            raise BadInputError(f"{where}: rank {rank!r} must be an int and score {score!r} a number") from None
        if not math.isfinite(value):
            raise BadInputError(f"{where}: score {score!r} is not finite")
        docs = run.setdefault(qid, {})
        if doc in docs:
            raise BadInputError(f"{where}: doc {doc!r} appears twice for query {qid!r}")
        docs[doc] = value
    return run


def read_qrels_tsv(path: str | os.PathLike[str]) -> dict[str, dict[str, int]]:
    """Read qrels into query -> doc -> grade, from BEIR TSV (header optional) or TREC 4-column lines."""
    path = Path(path)
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in enumerate(_read_lines(path, "qrels"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        fields = line.split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields]
        if len(fields) == 3:
            qid, doc, grade = fields
        elif len(fields) == 4:
            qid, _, doc, grade = fields
        else:
            raise BadInputError(
                f"{where}: expected 'query-id<TAB>corpus-id<TAB>score' or 'qid iter docid rel', got {line!r}"
            )
        if lineno == 1 and fields == ["query-id", "corpus-id", "score"]:
            continue
        try:
            value = int(grade)
        except ValueError:
            raise BadInputError(f"{where}: relevance grade {grade!r} is not an integer") from None
        if not qid or not doc:
            raise BadInputError(f"{where}: empty query or doc id in {line!r}")
        judged = qrels.setdefault(qid, {})
        if doc in judged and judged[doc] != value:
            raise BadInputError(f"{where}: doc {doc!r} judged twice for query {qid!r} ({judged[doc]} and {value})")
        judged[doc] = value
    if not qrels:
        raise BadInputError(f"qrels file {path} holds no judgments")
    return qrels
