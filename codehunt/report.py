"""Printing metrics: a rich table for people, one JSON object for tools."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codehunt.index.storage import write_jsonl_atomic


def print_metrics(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summary.get('dataset')} / {summary.get('split')} — {summary.get('mode')}"
                  + (" + rerank" if summary.get("rerank") else "") + f" ({summary.get('queries')} queries)")
    table.add_column("metric")
    for k in (1, 3, 5, 10, 20, 100):
        table.add_column(f"@{k}", justify="right")
    for stem in ("ndcg", "mrr", "recall", "precision", "map"):
        table.add_row(stem, *[f"{summary.get(f'{stem}_at_{k}', float('nan')):.4f}" for k in (1, 3, 5, 10, 20, 100)])
    Console().print(table)
    print(f"map {summary['map']:.4f}; search time {summary['seconds']}s")


def write_per_query(path: Path, per_query: dict[str, dict[str, float]]) -> None:
    write_jsonl_atomic(path, ({"query_id": qid, **metrics} for qid, metrics in sorted(per_query.items())))
