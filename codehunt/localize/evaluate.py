"""Localization scored on SWE-bench-style instances: each repository read at its ``base_commit``, ranked, scored."""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from codehunt.index.errors import BadInputError
from codehunt.localize.config import LocalizeConfig
from codehunt.localize.gold import read_gold, resolve_gold
from codehunt.localize.history import history_votes
from codehunt.localize.metrics import aggregate_metrics, localization_metrics
from codehunt.localize.ranking import IssueRanking, rank_issue
from codehunt.localize.revisions import files_at, make_encoder, revision_index
from codehunt.localize.units import UnitTable
from codehunt.mining.issue_pairs import read_instances as read_swebench_instances

if TYPE_CHECKING:
    from codehunt.index.encoder import Encoder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstanceResult:
    """One instance's metrics and what was ranked, for tracing."""

    instance_id: str
    repo: str
    metrics: dict[str, float]
    gold_files: list[str]
    gold_units: list[str]
    top_files: list[str]
    top_units: list[str]
    dropped: list[str]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LocalizationReport:
    """Metrics averaged over the instances that have gold at each level, and every instance's result."""

    aggregate: dict[str, float]
    per_instance: list[InstanceResult]
    skipped: list[tuple[str, str]]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "aggregate": self.aggregate,
            "per_instance": [result.to_json() for result in self.per_instance],
            "skipped": [{"instance_id": i, "reason": r} for i, r in self.skipped],
            "seconds": self.seconds,
        }


def read_instances(path: Path) -> list[dict[str, Any]]:
    """SWE-bench instances (``repo``, ``instance_id``, ``base_commit``, ``problem_statement``) from JSONL."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path} does not exist: pass a SWE-bench-style instances JSONL")
    return list(read_swebench_instances(path, ("repo", "instance_id", "base_commit", "problem_statement")))


def repo_directory(repos: Path, repo: str) -> Path:
    """``owner/name`` -> ``repos/owner__name`` (or ``owner__name.git``)."""
    base = Path(repos) / repo.replace("/", "__")
    if not base.exists() and base.with_name(base.name + ".git").exists():
        return base.with_name(base.name + ".git")
    return base


def score_instance(
    instance: dict[str, Any], table: UnitTable, ranking: IssueRanking, rows: Sequence[dict[str, Any]],
    files_at_base: set[str] | None, include_tests: bool, seconds: float = 0.0,
) -> InstanceResult:
    """Resolve ``rows`` (the instance's gold) against the index and score ``ranking``."""
    gold = resolve_gold(rows, table, files_at_base, include_tests)
    ranked_units = [unit for unit, _ in ranking.units]
    ranked_files = [path for path, _ in ranking.files]
    metrics = localization_metrics(ranked_files, ranked_units, gold)
    dropped = [f"{p} ({r})" for p, r in gold.dropped_files] + [f"{p} ({r})" for p, r in gold.dropped_items]
    dropped += [f"{i.path}::{i.qualname} (unmatched)" for i in gold.items if not i.units]
    return InstanceResult(
        instance_id=str(instance["instance_id"]),
        repo=str(instance["repo"]),
        metrics=metrics,
        gold_files=list(gold.files),
        gold_units=[f"{i.path}::{i.qualname}" for i in gold.items],
        top_files=ranked_files[:10],
        top_units=ranked_units[:10],
        dropped=dropped,
        seconds=round(seconds, 3),
    )


def evaluate_localization(
    instances_path: Path, gold_path: Path, repos_dir: Path, config: LocalizeConfig, show_progress: bool = False,
    *, encoder: "Encoder | None" = None,
) -> LocalizationReport:
    """Localize every instance whose repository is in ``repos_dir`` and score it against the gold.

    Each instance's repository is read at its ``base_commit`` (``repos_dir/owner__name``, bare
    or not, nothing checked out); its index is built once per commit and cached, and the
    embedding cache makes each further revision of a repository cost only its changed units.
    Instances whose repository is absent or that have no gold are skipped, with the reason.
    """
    started = time.perf_counter()
    instances = read_instances(instances_path)
    gold = read_gold(gold_path)
    from codehunt.reranker.model import load_rescorer

    rescorer = load_rescorer(config.rerank, first_stage_weight=config.rerank_fusion, mode=config.mode)
    results: list[InstanceResult] = []
    skipped: list[tuple[str, str]] = []
    for number, instance in enumerate(instances, start=1):
        instance_id = instance["instance_id"]
        repo = repo_directory(repos_dir, instance["repo"])
        if instance_id not in gold:
            skipped.append((instance_id, "no gold rows"))
            continue
        if not repo.exists():
            skipped.append((instance_id, f"repository {repo} not found"))
            continue
        if encoder is None:
            encoder = make_encoder(config)
        began = time.perf_counter()
        index = revision_index(repo, instance["base_commit"], config, encoder, show_progress)
        table = UnitTable(index)
        history = history_votes(repo, instance["base_commit"], instance["problem_statement"], config, set(table.paths))
        ranking = rank_issue(table, instance["problem_statement"], config, rescorer, history=history)
        result = score_instance(
            instance, table, ranking, gold[instance_id], files_at(repo, instance["base_commit"]), config.include_tests,
            time.perf_counter() - began,
        )
        if not result.metrics:
            skipped.append((instance_id, "no gold file at base_commit: " + "; ".join(result.dropped)))
            continue
        results.append(result)
        log.info("[%d/%d] %s file_mrr=%.3f function_mrr=%.3f", number, len(instances), instance_id,
                 result.metrics.get("file_mrr", 0.0), result.metrics.get("function_mrr", 0.0))
    return LocalizationReport(aggregate_metrics(results), results, skipped, time.perf_counter() - started)


def write_per_instance(path: Path, report: LocalizationReport) -> int:
    """Write one JSON line per evaluated instance (metrics, gold, top files and units, dropped gold), atomically."""
    from codehunt.index.storage import write_jsonl_atomic

    return write_jsonl_atomic(Path(path), [result.to_json() for result in report.per_instance])
