"""Ranking an issue's candidate units and files: dense and BM25 sides, RRF, evidence boosts, reranking, files.

The steps are described in :mod:`codehunt.localize`; each is switchable in :class:`LocalizeConfig`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from codehunt.index.fusion import reciprocal_rank_fusion
from codehunt.index.tokenize import tokenize_code
from codehunt.issue_text import IssueEvidence, extract_evidence, split_issue
from codehunt.localize.boosts import evidence_boosts
from codehunt.localize.config import LocalizeConfig, candidate_filter
from codehunt.localize.structure import constructor_votes, module_votes, structure_votes
from codehunt.localize.units import UnitTable

if TYPE_CHECKING:
    from codehunt.index.index import PassagePooling, SearchMode


@dataclass(frozen=True)
class IssueRanking:
    """Every candidate unit and file for one issue, best first (scores as the last step left them)."""

    units: list[tuple[str, float]]
    files: list[tuple[str, float]]
    evidence: IssueEvidence


def _fetch(config: LocalizeConfig) -> int:
    """Chunks read from each retriever per passage: parts and (unless wanted) test units are dropped after."""
    return config.depth * 3 if config.include_tests else config.depth * 6


def _unit_ranking(
    table: UnitTable, passages: list[str], config: LocalizeConfig, mode: "SearchMode", pooling: "PassagePooling" = "max"
) -> list[str]:
    """Units for a query given as passages, best first (MaxP, ties by unit id), filtered by the config."""
    if not passages:
        return []
    (ranking,) = table.index.candidate_rankings(
        [passages], config.depth, mode, keep=candidate_filter(config), fetch=_fetch(config), pooling=pooling
    )
    return [table.index.chunks[position].unit for position, _ in ranking]


def dense_ranking(table: UnitTable, issue: str, config: LocalizeConfig) -> list[str]:
    """Units by dense similarity to the issue, handled as a long query (see :mod:`codehunt.localize`)."""
    if config.dense_query == "truncate":
        passages = [issue]
    else:
        passages = split_issue(issue, config.passage_chars, config.max_passages)
    return _unit_ranking(table, passages, config, "dense", "mean" if config.dense_query == "mean" else "max")


def bm25_query(issue: str, evidence: IssueEvidence, how: str) -> str:
    """The BM25 query of an issue: all its text (``full``), each word once (``unique``), or its code identifiers,
    paths and title (``code``); the index tokenizes it with :func:`codehunt.index.tokenize.tokenize_code`."""
    if how == "full":
        return issue
    if how == "unique":
        return " ".join(dict.fromkeys(tokenize_code(issue)))
    title = issue.strip().split("\n", 1)[0]
    names = sorted(evidence.identifiers | evidence.code_words)
    return title + " " + " ".join(names) + " " + " ".join(evidence.paths)


def bm25_ranking(table: UnitTable, issue: str, evidence: IssueEvidence, config: LocalizeConfig) -> list[str]:
    """Units by BM25 against the issue's words."""
    return _unit_ranking(table, [bm25_query(issue, evidence, config.bm25_query)], config, "bm25")


def rank_files(units: Sequence[tuple[str, float]], table: UnitTable, how: str, rrf_k: int) -> list[tuple[str, float]]:
    """Files from a unit ranking: ``max`` keeps each file's best unit score (de-duplication by file), ``rrf`` sums 1/(rrf_k + rank)."""
    scores: dict[str, float] = {}
    order: dict[str, int] = {}
    for rank, (unit, score) in enumerate(units, start=1):
        path = table.chunk(unit).path
        order.setdefault(path, rank)
        if how == "max":
            scores.setdefault(path, score)
        else:
            scores[path] = scores.get(path, 0.0) + 1.0 / (rrf_k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))


def _ranked(scores: Mapping[str, float]) -> list[str]:
    """Units best first, ties by unit id (the order every vote step reads)."""
    return [unit for unit, _ in sorted(scores.items(), key=lambda item: (-item[1], item[0]))]


def _add_votes(scores: dict[str, float], votes: Mapping[str, float], weight: float, rrf_k: int) -> None:
    """Add ``weight`` x vote to each voted unit's score, in units of one RRF list's top rank (``1 / (rrf_k + 1)``)."""
    bonus = weight / (rrf_k + 1)
    for unit, vote in votes.items():
        scores[unit] = scores.get(unit, 0.0) + bonus * vote


def rank_issue(
    table: UnitTable,
    issue: str,
    config: LocalizeConfig,
    rescorer: Any | None = None,
    lists: dict[str, list[str]] | None = None,
    history: Mapping[str, float] | None = None,
) -> IssueRanking:
    """Rank every candidate unit and file of ``table``'s index for ``issue``.

    ``lists`` may hold precomputed ``dense`` / ``bm25`` rankings (the benchmark computes them
    once and tries several fusions and boosts on them). ``history``: per file, the vote of
    earlier similar commits (:func:`codehunt.localize.history.file_votes`), used when
    ``config.history_weight`` > 0.
    """
    evidence = extract_evidence(issue)
    lists = dict(lists or {})
    if config.mode in ("dense", "hybrid") and "dense" not in lists:
        lists["dense"] = dense_ranking(table, issue, config)
    if config.mode in ("bm25", "hybrid") and "bm25" not in lists:
        lists["bm25"] = bm25_ranking(table, issue, evidence, config)
    used = [lists["dense"]] if config.mode == "dense" else [lists["bm25"]] if config.mode == "bm25" else [lists["dense"], lists["bm25"]]
    scores = dict(reciprocal_rank_fusion(used, config.rrf_k))
    if config.boosts:
        boosts = evidence_boosts(table, evidence, config)
        for unit in boosts.injected():
            scores.setdefault(unit, 0.0)
        unit_of_rank = 1.0 / (config.rrf_k + 1)
        scores = {unit: score + unit_of_rank * boosts.total(unit, config) for unit, score in scores.items()}
    if history and config.history_weight > 0:
        bonus = config.history_weight / (config.rrf_k + 1)
        scores = {unit: score + bonus * history.get(table.chunk(unit).path, 0.0) for unit, score in scores.items()}
    if config.structure_weight > 0 and scores:
        votes = structure_votes(table.call_graph, _ranked(scores), config.structure_top, candidate_filter(config))
        _add_votes(scores, votes, config.structure_weight, config.rrf_k)
    if config.constructor_weight > 0 and scores:
        votes = constructor_votes(
            table, _ranked(scores), config.structure_top, candidate_filter(config), include_class=config.constructor_class
        )
        _add_votes(scores, votes, config.constructor_weight, config.rrf_k)
    if config.module_weight > 0 and scores:
        votes = module_votes(table, _ranked(scores), config.structure_top, candidate_filter(config))
        _add_votes(scores, votes, config.module_weight, config.rrf_k)
    units = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    if rescorer is not None and config.rerank_depth > 0 and units:
        query = issue if config.rerank_query == "issue" else bm25_query(issue, evidence, "code")
        units = rerank_units(table, query, units, rescorer, config.rerank_depth)
    files = rank_files(units, table, config.file_aggregation, config.file_rrf_k)
    return IssueRanking(units, files, evidence)


def rerank_units(
    table: UnitTable, issue: str, units: list[tuple[str, float]], rescorer: Any, depth: int
) -> list[tuple[str, float]]:
    """The top ``depth`` units in the rescorer's order (its logits as scores), the rest after them, scored below
    the head (:func:`codehunt.reranker.model.rerank_head`), so the file ranking reads one falling score."""
    from codehunt.index.index import hit_from_chunk
    from codehunt.reranker.model import rerank_head

    hits = [hit_from_chunk(table.chunk(unit), rank, score) for rank, (unit, score) in enumerate(units, start=1)]
    reranked = rerank_head(rescorer, issue, hits, depth, table.index.hit_texts, tail_below_head=True)
    return [(hit.doc_id, float(hit.score)) for hit in reranked]
