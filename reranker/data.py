"""Training groups for the cross-encoder: 1 positive + n negatives per query, read through ``datasets``.

Input is the mining output, ``triples.jsonl``: columns ``anchor, positive, negative_1..n``
(the sentence-transformers convention; any other names are read by position: query, positive,
then negatives), optionally ``negative_<i>_score`` / ``positive_score`` (the bi-encoder's
cosines, used for distillation) and ``positive_id`` / ``negative_<i>_id``.

Each group mixes the row's mined (hard) negatives with random ones drawn from other rows'
positives, in the ratio ``random_negative_ratio``: hard negatives alone teach a reranker
that everything near the query is wrong and make it brittle to the easy candidates a first
stage also returns (Gao et al., 2021, LCE; CoRNStack, Suresh et al., 2024). A negative is
never the positive nor a copy of it after whitespace normalisation, nor a text carrying the
positive's id; duplicates within a group are dropped. A group that runs out of candidates is
shorter, and the loss masks the missing slots.

Group ``(epoch, row)`` is a pure function of (seed, epoch, row) and the order of rows comes
from ``training.sampler.BatchOrder``, so a resumed run needs only the micro-batch index.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from codehunt.index.errors import BadInputError

NEGATIVE_COLUMN = re.compile(r"^negative_(\d+)$")
META_SUFFIXES = ("_score", "_id")


class TripleDataError(BadInputError):
    """The triples file is missing, empty, or lacks a query, a positive and a negative column."""


def normalize_whitespace(text: str) -> str:
    """``text`` with every run of whitespace made one space and the ends stripped: the duplicate key."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Candidate:
    """A mined negative with its optional bi-encoder score and document id."""

    text: str
    score: float | None = None
    doc_id: str | None = None


@dataclass(frozen=True)
class Group:
    """One training group: ``texts[0]`` is the positive, the rest negatives; ``teacher`` aligns with texts."""

    query: str
    texts: tuple[str, ...]
    teacher: tuple[float | None, ...]
    n_hard: int  # texts[1 : 1 + n_hard] are mined negatives, the rest random ones

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class TripleColumns:
    """Which dataset column plays which role."""

    anchor: str
    positive: str
    negatives: tuple[str, ...]
    positive_score: str | None = None
    negative_scores: tuple[str | None, ...] = ()
    positive_id: str | None = None
    negative_ids: tuple[str | None, ...] = ()

    @classmethod
    def detect(cls, names: Sequence[str], source: str) -> "TripleColumns":
        """Named ``anchor, positive, negative_<i>`` columns, else by position (meta columns skipped)."""
        present = set(names)
        if {"anchor", "positive"} <= present:
            anchor, positive = "anchor", "positive"
            numbered = [(int(match.group(1)), name) for name in names if (match := NEGATIVE_COLUMN.match(name))]
            negatives = [name for _, name in sorted(numbered)]
        else:
            texts = [name for name in names if not name.endswith(META_SUFFIXES)]
            if len(texts) < 2:
                raise TripleDataError(
                    f"{source}: columns {list(names)} hold no query and positive; expected anchor, positive, "
                    "negative_1..n (the output of `codehunt mine`)"
                )
            anchor, positive, negatives = texts[0], texts[1], texts[2:]

        def meta(column: str, suffix: str) -> str | None:
            return f"{column}{suffix}" if f"{column}{suffix}" in present else None

        return cls(
            anchor=anchor, positive=positive, negatives=tuple(negatives),
            positive_score=meta(positive, "_score"), negative_scores=tuple(meta(n, "_score") for n in negatives),
            positive_id=meta(positive, "_id"), negative_ids=tuple(meta(n, "_id") for n in negatives),
        )


def _as_score(value: Any) -> float | None:
    if value is None:
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return score if score == score and abs(score) != float("inf") else None


def build_group(
    query: str,
    positive: str,
    hard: Sequence[Candidate],
    pool: Sequence[str],
    group_size: int,
    random_negative_ratio: float,
    rng: random.Random,
    positive_score: float | None = None,
    positive_id: str | None = None,
) -> Group:
    """A group of ``positive`` + up to ``group_size - 1`` negatives: hard ones from ``hard``, random ones from ``pool``.

    ``round((group_size - 1) * random_negative_ratio)`` slots go to random negatives, the rest
    to a random subset of the usable hard ones; either kind fills the other's shortfall.
    Random negatives have no teacher score (None).
    """
    n_negatives = group_size - 1
    positive_key = normalize_whitespace(positive)
    usable: list[Candidate] = []
    seen = {positive_key}
    for candidate in hard:
        key = normalize_whitespace(candidate.text or "")
        if not key or key in seen or (positive_id is not None and candidate.doc_id == positive_id):
            continue
        seen.add(key)
        usable.append(candidate)
    n_hard = min(len(usable), n_negatives - round(n_negatives * random_negative_ratio))
    picked = sorted(rng.sample(range(len(usable)), n_hard))
    chosen = [usable[i] for i in picked]
    blocked = {positive_key, *(normalize_whitespace(c.text) for c in chosen)}
    randoms = _sample_pool(pool, n_negatives - n_hard, blocked, rng)
    if n_hard + len(randoms) < n_negatives:  # the pool ran dry: top up with the unused hard negatives
        spare = [usable[i] for i in range(len(usable)) if i not in set(picked)]
        spare = [c for c in spare if normalize_whitespace(c.text) not in blocked]
        chosen.extend(spare[: n_negatives - n_hard - len(randoms)])
    texts = (positive, *(c.text for c in chosen), *randoms)
    teacher = (positive_score, *(c.score for c in chosen), *(None for _ in randoms))
    return Group(query=query, texts=texts, teacher=teacher, n_hard=len(chosen))


def _sample_pool(pool: Sequence[str], n: int, blocked: set[str], rng: random.Random) -> list[str]:
    """Up to ``n`` distinct texts of ``pool`` whose normalised form is not in ``blocked`` (which grows)."""
    picked: list[str] = []
    if n <= 0 or not pool:
        return picked
    for _ in range(8 * n):  # rejection sampling: the pool is large and few texts are blocked
        text = pool[rng.randrange(len(pool))]
        key = normalize_whitespace(text)
        if key and key not in blocked:
            blocked.add(key)
            picked.append(text)
            if len(picked) == n:
                return picked
    for index in rng.sample(range(len(pool)), len(pool)):  # small or crowded pool: scan it all once
        key = normalize_whitespace(pool[index])
        if key and key not in blocked:
            blocked.add(key)
            picked.append(pool[index])
            if len(picked) == n:
                break
    return picked


class TripleData:
    """Rows of a ``datasets.Dataset`` of triples, turned into :class:`Group` on demand."""

    def __init__(self, dataset: Any, columns: TripleColumns, source: str):
        self.dataset, self.columns, self.source = dataset, columns, source
        seen: dict[str, str] = {}
        for text in dataset[columns.positive]:
            if text is not None and (key := normalize_whitespace(str(text))):
                seen.setdefault(key, str(text))
        self.pool: list[str] = list(seen.values())
        """Every distinct positive: random negatives are drawn from here."""

    def __len__(self) -> int:
        return len(self.dataset)

    def group(self, row: int, group_size: int, random_negative_ratio: float, seed: int, epoch: int) -> Group:
        """The group of ``row`` in ``epoch``: the same in every process and every run."""
        record = self.dataset[int(row)]
        c = self.columns
        hard = [
            Candidate(str(record[name]) if record[name] is not None else "",
                      _as_score(record[score]) if score else None,
                      str(record[doc]) if doc and record[doc] is not None else None)
            for name, score, doc in zip(c.negatives, c.negative_scores, c.negative_ids)
        ]
        rng = random.Random(f"reranker-group/{seed}/{epoch}/{int(row)}")
        return build_group(
            query=str(record[c.anchor]), positive=str(record[c.positive]), hard=hard, pool=self.pool,
            group_size=group_size, random_negative_ratio=random_negative_ratio, rng=rng,
            positive_score=_as_score(record[c.positive_score]) if c.positive_score else None,
            positive_id=str(record[c.positive_id]) if c.positive_id and record[c.positive_id] is not None else None,
        )


def load_triples(path: str | Path, cache_dir: str | None = None) -> TripleData:
    """Open ``triples.jsonl`` through Hugging Face ``datasets`` as :class:`TripleData`."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise TripleDataError(f"triples file {path} does not exist or is empty: create it with `codehunt mine`")
    import datasets

    try:
        dataset = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=cache_dir)
    except Exception as exc:  # noqa: BLE001 - pyarrow/datasets raise many types on bad JSON
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TripleDataError(f"{path} is not valid JSONL triples ({first}): one JSON object per line") from exc
    if len(dataset) == 0:
        raise TripleDataError(f"triples file {path} has no rows: create it with `codehunt mine`")
    return TripleData(dataset, TripleColumns.detect(dataset.column_names, str(path)), str(path))
