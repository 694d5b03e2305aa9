"""Teacher scores for reranker distillation: rescore every mined triple with one or more bi-encoders.

``codehunt mine negatives`` stores the cosine of its own scorer next to each positive and
negative (``positive_score``, ``negative_<i>_score``), and the reranker's distillation terms
(``reranker.loss``: listwise KL, Margin-MSE) learn towards them. A distilled student is bounded by
its teacher, so the teacher should be better than any one model at hand: the mean cosine of
several bi-encoders (an ensemble, as in Hofstätter et al., 2020, who distil from an ensemble of
BERT rankers) usually is. ``codehunt mine teacher TRIPLES -o OUT --model default --model DIR``
writes TRIPLES again with those columns replaced by the mean over the models, every other field
untouched; the embedding cache (``--cache-dir``) makes a model the miner used cost nothing.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from codehunt.index.errors import ConfigError
from codehunt.index.storage import read_jsonl_objects, write_json_atomic, write_jsonl_atomic

NEGATIVE_COLUMN = re.compile(r"^negative_(\d+)$")


class TeacherError(ConfigError):
    """The triples cannot be rescored (missing file, bad JSON, no negative columns)."""


@dataclass(frozen=True)
class TeacherConfig:
    """``codehunt mine teacher TRIPLES -o OUT --model A --model B``: which bi-encoders score the triples."""

    input: Path = field(metadata={"help": "triples.jsonl from `codehunt mine negatives` (anchor, positive, negative_1..n)"})
    output: Path = field(metadata={"help": "triples.jsonl to write, with positive_score / negative_<i>_score replaced"})
    model: tuple[str, ...] = field(
        default=("default",),
        metadata={"help": "bi-encoder dir, hub name, or 'default' (repeatable): the teacher score is the mean cosine over them"},
    )
    report: Path | None = field(default=None, metadata={"help": "JSON report (default: OUTPUT stem + .report.json)"})
    batch_size: int = field(default=64, metadata={"help": "texts per encoder forward pass"})
    cache_dir: Path | None = field(default=None, metadata={"help": "embedding cache folder (texts already embedded cost nothing)"})
    device: str | None = field(default=None, metadata={"help": "cpu | cuda | None (cuda when present)"})

    def __post_init__(self) -> None:
        if not self.model:
            raise TeacherError("--model must be given at least once")
        if self.batch_size < 1:
            raise TeacherError(f"--batch-size must be >= 1, got {self.batch_size}")
        if Path(self.input).resolve() == Path(self.output).resolve():
            raise TeacherError(f"--output {self.output} is the input: write the rescored triples to a new file")


@dataclass(frozen=True)
class TeacherResult:
    rows: int
    output: Path
    report: Path
    agreement: dict[str, float]
    """Per model: the share of rows where that model alone ranks the positive above every negative."""


def read_triples(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of ``path`` and its negative columns in order (``negative_1``, ``negative_2``, ...)."""
    if not path.is_file():
        raise TeacherError(f"triples file {path} does not exist: create it with `codehunt mine negatives`")
    rows: list[dict[str, Any]] = []
    for number, row in read_jsonl_objects(path, "`codehunt mine negatives` output (anchor, positive, negative_1..n)"):
        if "anchor" not in row or "positive" not in row:
            raise TeacherError(f"{path}:{number} has no anchor/positive: expected `codehunt mine negatives` output")
        rows.append(row)
    if not rows:
        raise TeacherError(f"triples file {path} has no rows: create it with `codehunt mine negatives`")
    numbers = sorted({int(m.group(1)) for row in rows for key in row if (m := NEGATIVE_COLUMN.match(key))})
    if not numbers:
        raise TeacherError(f"{path} has no negative_<i> columns: expected `codehunt mine negatives` output")
    return rows, [f"negative_{n}" for n in numbers]


def member_cosines(rows: list[dict[str, Any]], columns: list[str], encoder: Any, show_progress: bool = False) -> np.ndarray:
    """(rows, 1 + negatives) cosines of each row's anchor with its positive and negatives; NaN where a member is missing.

    Each distinct text is embedded once (queries as queries, code as documents).
    """
    queries = sorted({str(row["anchor"]) for row in rows})
    documents = sorted({str(row[c]) for row in rows for c in ["positive", *columns] if row.get(c)})
    query_vectors = encoder.encode(queries, "query", show_progress)  # (queries, dim), unit length
    document_vectors = encoder.encode(documents, "document", show_progress)  # (documents, dim)
    query_at = {text: i for i, text in enumerate(queries)}
    document_at = {text: i for i, text in enumerate(documents)}
    scores = np.full((len(rows), 1 + len(columns)), np.nan, dtype=np.float64)
    for r, row in enumerate(rows):
        query = query_vectors[query_at[str(row["anchor"])]]
        for m, column in enumerate(["positive", *columns]):
            if row.get(column):
                scores[r, m] = float(document_vectors[document_at[str(row[column])]] @ query)
    return scores


def rescore_triples(config: TeacherConfig, show_progress: bool = False, encoders: Sequence[Any] | None = None) -> TeacherResult:
    """Replace the triples' teacher columns by the mean cosine of ``config.model``; write OUT and its report.

    ``encoders``, when given, are used instead of loading ``config.model`` (one per model, same order).
    """
    from codehunt.mining.embed import load_scorer, scorer_info

    rows, columns = read_triples(Path(config.input))
    if encoders is not None and len(encoders) != len(config.model):
        raise ValueError(f"{len(encoders)} encoders given for {len(config.model)} models")
    per_model: list[np.ndarray] = []
    infos, agreement = [], {}
    for number, name in enumerate(config.model, 1):
        if show_progress:
            print(f"teacher: scoring {len(rows)} triples with model {number} of {len(config.model)} ({name})", file=sys.stderr)
        loaded = encoders[number - 1] if encoders is not None else None
        encoder = load_scorer(name, config.cache_dir, config.batch_size, config.device, loaded)
        scores = member_cosines(rows, columns, encoder, show_progress)
        per_model.append(scores)
        infos.append(scorer_info(encoder))
        agreement[name] = positive_first_share(scores)
    mean = np.mean(np.stack(per_model), axis=0)  # (rows, members); NaN stays NaN
    agreement["mean"] = positive_first_share(mean)

    def rescored() -> Any:
        for row, values in zip(rows, mean):
            out = dict(row)
            for column, value in zip(["positive", *columns], values):
                if np.isfinite(value):
                    out[f"{column}_score"] = round(float(value), 6)
            yield out

    output = Path(config.output)
    written = write_jsonl_atomic(output, rescored())
    report = Path(config.report) if config.report else output.with_name(output.stem + ".report.json")
    write_json_atomic(report, {"input": str(config.input), "output": str(output), "rows": written,
                               "models": infos, "positive_ranked_first": agreement})
    return TeacherResult(rows=written, output=output, report=report, agreement=agreement)


def positive_first_share(scores: np.ndarray) -> float:
    """Share of rows whose positive (column 0) scores above every scored negative."""
    negatives = np.where(np.isnan(scores[:, 1:]), -np.inf, scores[:, 1:])
    return float(np.mean(scores[:, 0] > negatives.max(axis=1)))
