"""``codehunt localize ISSUE`` and ``codehunt eval localize INSTANCES``, generated from ``LocalizeConfig``.

Imported only when a command line names them (``codehunt.cli_lazy``), so a search never pays for it.
Each is the single command of its own typer app, which ``typer.main.get_command`` turns into a plain command.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Optional

import typer

from codehunt.config_cli import config_command
from codehunt.localize import LocalizeConfig

localize_app = typer.Typer(add_completion=False)
eval_localize_app = typer.Typer(add_completion=False)


def run_localize(config: LocalizeConfig, issue: str, as_json: bool) -> None:
    from codehunt.localize import format_localization, localize_issue, read_issue

    for line in format_localization(localize_issue(read_issue(issue), config, show_progress=True), as_json):
        print(line)


def run_eval_localize(config: LocalizeConfig, instances: Path, gold: Path, repos: Path, as_json: bool,
                      per_instance: Optional[Path]) -> None:
    from codehunt.localize import evaluate_localization, write_per_instance

    report = evaluate_localization(instances, gold, repos, config, show_progress=True)
    if per_instance is not None:
        write_per_instance(per_instance, report)
    summary = {"instances": len(report.per_instance), "skipped": len(report.skipped), "seconds": round(report.seconds, 1),
               **report.aggregate}
    if as_json:
        print(json.dumps(summary))
    else:
        for name, value in summary.items():
            print(f"{name:24s} {value:.4f}" if isinstance(value, float) else f"{name:24s} {value}")


keyword = inspect.Parameter.KEYWORD_ONLY
json_flag = inspect.Parameter("as_json", keyword, annotation=bool,
                              default=typer.Option(False, "--json", help="JSON output (one object per function/file hit, or one summary)."))
config_command(
    localize_app, "localize", LocalizeConfig, run_localize, short={"index": "-i", "k": "-k"},
    help_text="Rank the functions and files a fix for an issue will touch, in a repository at a revision (or an index).",
    leading=[inspect.Parameter("issue", keyword, annotation=str,
                               default=typer.Argument(..., help="Issue text file (title + description), or - for stdin.")), json_flag],
)
config_command(
    eval_localize_app, "localize", LocalizeConfig, run_eval_localize, short={"index": "-i", "k": "-k"},
    help_text="Score localization on SWE-bench-style instances: file Acc@1/3/5, function Acc@5/10 (all gold in the top k), Recall, MRR.",
    leading=[
        inspect.Parameter("instances", keyword, annotation=Path, default=typer.Argument(..., help="Instances JSONL (repo, instance_id, base_commit, problem_statement).")),
        inspect.Parameter("gold", keyword, annotation=Path, default=typer.Option(..., "--gold", help="Gold JSONL: per instance and file, the units the fix touches.")),
        inspect.Parameter("repos", keyword, annotation=Path, default=typer.Option(..., "--repos", help="Folder with one git directory per repository, named owner__name.")),
        json_flag,
        inspect.Parameter("per_instance", keyword, annotation=Optional[Path], default=typer.Option(None, "--per-instance", help="Write per-instance results (JSONL) here.")),
    ],
)
