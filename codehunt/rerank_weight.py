"""Fit how a reranker is combined with its first stage, on dev data, and store it in the reranker's directory.

A cross-encoder trained on little data knows things its first stage does not, and the reverse; how much to trust
each is an empirical question. For every candidate combination — the reranker alone, RRF of the two orders at
several first-stage weights, and a score interpolation ``(1 - w) minmax(logit) + w minmax(first-stage score)``
at ``w`` in 0, 0.1, ..., 1 — this scores nDCG@10 on every dev set given, over the same first-stage candidates
(cross-encoder logits computed once per query and candidate), and keeps the combination with the best
objective over the sets: ``worst`` (the default) the largest gain over the first stage on the set where it gains
least (maximin), ``mean`` the best mean nDCG@10. The mean lets one set's large gain pay for another's loss (a
reranker trained on docstring queries gains on csn_ruby and costs cosqa); the maximin keeps the promise a user
switching ``--rerank`` on relies on, no loss on any set. ``w = 1`` is the first stage alone, so on the sets it
was fit on the stored combination never loses to the first stage; on other data it can, which is why the fit
also reports a leave-one-set-out check:
each set scored with the combination fit on the others. Several first stages (``--mode dense --mode bm25``) are fit
one by one and stored per mode, so ``--rerank DIR`` behind ``--mode bm25`` gets the bm25 fit.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from codehunt.beir import load_beir
from codehunt.evaluate import open_or_build_index
from codehunt.index.metrics import evaluate_run, paired_bootstrap
from codehunt.index.storage import write_json_atomic

if TYPE_CHECKING:
    from codehunt.index.beir import BeirSplit
    from codehunt.index.index import Index
    from codehunt.reranker.model import CrossEncoderRescorer

log = logging.getLogger(__name__)

RRF_WEIGHTS = (0.5, 1.0, 2.0, 4.0)
INTERPOLATION_WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
OBJECTIVES = ("worst", "mean")


@dataclass(frozen=True)
class Combination:
    """One way to combine a reranker with its first stage (the fields of ``RerankConfig`` it sets)."""

    combination: str
    first_stage_weight: float

    @property
    def label(self) -> str:
        if self.combination == "rrf" and self.first_stage_weight == 0:
            return "reranker alone"
        return f"{self.combination} w={self.first_stage_weight:g}"


def candidate_combinations() -> list[Combination]:
    return ([Combination("rrf", 0.0)] + [Combination("rrf", w) for w in RRF_WEIGHTS]
            + [Combination("interpolate", w) for w in INTERPOLATION_WEIGHTS])


def choose_combination(
    combinations: Sequence[Combination], scores: dict[str, dict[str, float]], first_stage: dict[str, float], objective: str,
    sets: Sequence[str] | None = None,
) -> Combination:
    """The combination with the best ``objective`` over ``sets`` (default: all of ``scores``); ties go to the one
    nearest the first stage (``w`` nearest 1).

    ``scores[set][label]`` is nDCG@10 and ``first_stage[set]`` the first stage's. ``worst``: the largest gain on the
    set where it gains least; ``mean``: the best mean nDCG@10.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    names = list(sets) if sets is not None else list(scores)

    def value(combination: Combination) -> float:
        if objective == "worst":
            return min(scores[n][combination.label] - first_stage[n] for n in names)
        return float(np.mean([scores[n][combination.label] for n in names]))

    return max(combinations, key=lambda c: (round(value(c), 12), -abs(c.first_stage_weight - 1.0)))


def combined_order(combination: Combination, logits: np.ndarray, first_scores: Sequence[float]) -> list[int]:
    """Head positions in the combined order (ties keep the first-stage order)."""
    from codehunt.reranker.model import fuse_with_first_stage, interpolate_with_first_stage

    if combination.combination == "interpolate":
        scores = interpolate_with_first_stage(logits, first_scores, combination.first_stage_weight)
    elif combination.first_stage_weight > 0:
        scores = fuse_with_first_stage(logits, combination.first_stage_weight)
    else:
        scores = logits
    return sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))


def fit_rerank_weight(
    reranker: Path, dev_folders: Sequence[Path], mode: str | Sequence[str] = "hybrid", depth: int = 30, split: str = "dev",
    write: bool = True, objective: str = "worst",
) -> dict:
    """Score every combination on every dev set, store the best (by ``objective``, see :func:`choose_combination`)
    in ``reranker``; the report.

    ``mode`` may name several first stages: each gets its own fit (``per_mode``), the first is
    also the top-level combination (what a caller that does not say its mode gets). The
    cross-encoder scores each (query, document) once, whichever stages rank it.
    """
    from codehunt.reranker.model import COMBINATION_FILE, load_rescorer

    modes = [mode] if isinstance(mode, str) else list(dict.fromkeys(mode))
    rescorer = load_rescorer(reranker, first_stage_weight=0.0)
    logits_of: dict[tuple[str, str, str], float] = {}
    datasets = []
    for folder in dev_folders:  # each set's index (and its encoder) opened once, whatever the number of modes
        data = load_beir(folder, split)
        datasets.append((folder, data, open_or_build_index(data.corpus_path, None, None)))
    fits = {m: _fit_mode(rescorer, datasets, m, depth, split, logits_of, objective) for m in modes}
    report = {"format_version": 2, **fits[modes[0]], "per_mode": fits}
    if write:
        write_json_atomic(Path(reranker) / COMBINATION_FILE, report)
    return report


def _fit_mode(
    rescorer: "CrossEncoderRescorer", datasets: list[tuple[Path, "BeirSplit", "Index"]], mode: str, depth: int, split: str,
    logits_of: dict[tuple[str, str, str], float], objective: str = "worst",
) -> dict:
    """The best combination behind first stage ``mode`` and the figures it was chosen by.

    ``logits_of`` caches the cross-encoder's logit per (set, query id, document id) across modes.
    """
    combinations = candidate_combinations()
    per_set: dict[str, dict[str, float]] = {}
    first_stage: dict[str, float] = {}
    intervals: dict[str, dict[str, dict]] = {}
    for folder, data, index in datasets:
        started = time.perf_counter()
        qids = list(data.queries)
        hits_per_query = index.search_many([data.queries[q] for q in qids], 100, mode)  # type: ignore[arg-type]
        runs: dict[str, dict[str, dict[str, float]]] = {c.label: {} for c in combinations}
        plain: dict[str, dict[str, float]] = {}
        for qid, hits in zip(qids, hits_per_query):
            head, tail = hits[:depth], hits[depth:]
            keys = [(folder.name, qid, hit.doc_id) for hit in head]
            missing = [i for i, key in enumerate(keys) if key not in logits_of]
            if missing:
                texts = index.hit_texts([head[i] for i in missing])
                for i, value in zip(missing, rescorer.rescore_texts(data.queries[qid], texts)):
                    logits_of[keys[i]] = float(value)
            logits = np.array([logits_of[key] for key in keys], dtype=np.float64)
            plain[qid] = {hit.doc_id: float(len(hits) - i) for i, hit in enumerate(hits)}
            for combination in combinations:
                order = [head[i] for i in combined_order(combination, logits, [hit.score for hit in head])] + tail
                runs[combination.label][qid] = {hit.doc_id: float(len(order) - i) for i, hit in enumerate(order)}
        name = folder.name
        plain_report = evaluate_run(data.qrels, plain)
        reports = {label: evaluate_run(data.qrels, run) for label, run in runs.items()}
        first_stage[name] = plain_report.aggregate["ndcg_at_10"]
        per_set[name] = {label: report.aggregate["ndcg_at_10"] for label, report in reports.items()}
        intervals[name] = {label: asdict(paired_bootstrap(plain_report, report)) for label, report in reports.items()}
        log.info("%s (%s): %d queries scored in %.0fs", name, mode, len(qids), time.perf_counter() - started)
    names = list(per_set)
    best = choose_combination(combinations, per_set, first_stage, objective)
    held_out = {}
    if len(names) > 1:
        for name in names:
            others = [n for n in names if n != name]
            chosen = choose_combination(combinations, per_set, first_stage, objective, others)
            held_out[name] = {"fit_on_others": chosen.label, "ndcg_at_10": per_set[name][chosen.label],
                              "first_stage": first_stage[name]}
    return {
        "combination": best.combination,
        "first_stage_weight": best.first_stage_weight,
        "label": best.label,
        "fit": {"dev_sets": names, "split": split, "first_stage_mode": mode, "depth": depth, "objective": objective,
                "first_stage_ndcg_at_10": first_stage, "ndcg_at_10": per_set, "leave_one_set_out": held_out,
                "vs_first_stage": {name: values[best.label] for name, values in intervals.items()},
                "vs_first_stage_all": intervals},
    }


def format_report(report: dict) -> str:
    """A short table for the terminal, per first stage: first stage, reranker alone and the chosen combination per set."""
    lines = []
    for mode, fit_report in (report.get("per_mode") or {report["fit"]["first_stage_mode"]: report}).items():
        fit = fit_report["fit"]
        how = "mean nDCG@10" if fit.get("objective") == "mean" else "the smallest gain over the first stage"
        lines.append(f"{mode}: chosen {fit_report['label']} (best {how} over {', '.join(fit['dev_sets'])})")
        for name in fit["dev_sets"]:
            scores = fit["ndcg_at_10"][name]
            line = (f"  {name}: first stage {fit['first_stage_ndcg_at_10'][name]:.4f}, reranker alone "
                    f"{scores['reranker alone']:.4f}, chosen {scores[fit_report['label']]:.4f}")
            interval = fit["vs_first_stage"][name]
            line += f" ({interval['delta']:+.4f} [{interval['low']:+.3f}, {interval['high']:+.3f}])"
            if name in fit["leave_one_set_out"]:
                other = fit["leave_one_set_out"][name]
                line += f", fit on the other sets ({other['fit_on_others']}) {other['ndcg_at_10']:.4f}"
            lines.append(line)
    return "\n".join(lines)


def dumps(report: dict) -> str:
    return json.dumps(report, indent=2)
