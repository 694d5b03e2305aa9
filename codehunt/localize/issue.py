"""One issue end to end: read it, localize it in a repository revision or an index, print the result."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codehunt.index.errors import BadInputError
from codehunt.localize.config import LocalizeConfig
from codehunt.localize.history import history_votes
from codehunt.localize.ranking import rank_issue
from codehunt.localize.revisions import revision_index
from codehunt.localize.units import UnitTable

if TYPE_CHECKING:
    from codehunt.index.encoder import Encoder
    from codehunt.index.index import Index
    from codehunt.index.types import Hit

log = logging.getLogger(__name__)


def read_issue(source: str | Path) -> str:
    """The issue text from a file, or from stdin when ``source`` is ``-``."""
    if str(source) == "-":
        import sys

        return sys.stdin.read()
    path = Path(source)
    if not path.exists():
        raise BadInputError(f"issue file {path} does not exist: pass a file with the issue text (title on the first line), or - for stdin")
    if not path.is_file():
        raise BadInputError(f"issue file {path} is not a file: pass a file with the issue text (title on the first line), or - for stdin")
    return path.read_text(encoding="utf-8", errors="replace")


@dataclass(frozen=True)
class Localization:
    """Ranked functions (as hits) and ranked files ``(path, score)`` for one issue."""

    functions: list["Hit"] = field(metadata={"help": "best units first; empty when level is 'file'"})
    files: list[tuple[str, float]] = field(metadata={"help": "best files first; empty when level is 'function'"})
    index_path: str = field(default="", metadata={"help": "the index that was searched"})
    evidence: dict[str, Any] = field(default_factory=dict, metadata={"help": "paths, frames and identifiers read from the issue"})

    def to_json(self) -> dict[str, Any]:
        return {
            "functions": [hit.to_json() for hit in self.functions],
            "files": [{"rank": rank, "path": path, "score": score} for rank, (path, score) in enumerate(self.files, start=1)],
            "index": self.index_path,
            "evidence": self.evidence,
        }


def format_localization(localization: Localization, as_json: bool = False) -> list[str]:
    """Output lines: ``path:line: qualname  (score)`` per function, then ``path  (score)`` per file.

    With ``as_json``, one JSON object per line: ``{"level": "function", ...hit}`` and
    ``{"level": "file", "rank", "path", "score"}``, for tools.
    """
    lines: list[str] = []
    if as_json:
        lines += [json.dumps({"level": "function", **hit.to_json()}, ensure_ascii=False) for hit in localization.functions]
        lines += [
            json.dumps({"level": "file", "rank": rank, "path": path, "score": score}, ensure_ascii=False)
            for rank, (path, score) in enumerate(localization.files, start=1)
        ]
        return lines
    if localization.functions:
        lines.append("# functions")
        lines += [f"{hit.path}:{hit.start_line}: {hit.qualname}  ({hit.score:.4f})" for hit in localization.functions]
    if localization.files:
        lines.append("# files")
        lines += [f"{path}  ({score:.4f})" for path, score in localization.files]
    return lines


def localize_with_index(
    index: "Index", issue: str, config: LocalizeConfig, rescorer: Any | None = None, table: UnitTable | None = None
) -> Localization:
    """Localize ``issue`` in an open index (the step ``localize_issue`` runs after indexing).

    ``table``: the index's :class:`UnitTable`, when the caller keeps one across issues (a warm service does).
    """
    from codehunt.index.index import hit_from_chunk

    if not issue.strip():
        raise BadInputError("the issue text is empty: pass a file with the issue's title and description, or - for stdin")
    if table is None or table.index is not index:
        table = UnitTable(index)
    history = None
    source = index.manifest.source or {}
    if config.history_weight > 0:
        try:
            history = history_votes(Path(source["path"]), str(source["rev"]), issue, config, set(table.paths))
        except (KeyError, BadInputError) as exc:
            log.warning("no history signal: the index at %s was not built from a git revision (%s)", index.path, exc)
    ranking = rank_issue(table, issue, config, rescorer, history=history)
    functions = [] if config.level == "file" else [
        hit_from_chunk(table.chunk(unit), rank, score) for rank, (unit, score) in enumerate(ranking.units[: config.k], start=1)
    ]
    files = [] if config.level == "function" else ranking.files[: config.k]
    return Localization(functions, files, str(index.path), ranking.evidence.to_json())


def localize_issue(
    issue_text: str, config: LocalizeConfig, show_progress: bool = False, *, encoder: "Encoder | None" = None
) -> Localization:
    """Rank the functions and files of ``config.repo`` at ``config.rev`` (or of ``config.index``) for an issue.

    ``encoder`` (optional) is a loaded embedding model to reuse; by default it is loaded from
    the config (or, for ``config.index``, from the index's manifest).
    """
    from codehunt.index.index import Index

    if config.index is not None and config.repo is None:
        index = Index.load(config.index, encoder)
    elif config.repo is not None and config.index is None:
        index = revision_index(config.repo, config.rev, config, encoder, show_progress)
    else:
        raise BadInputError("pass either --repo PATH (with an optional --rev) or --index DIR, not both and not neither")
    from codehunt.reranker.model import load_rescorer

    return localize_with_index(index, issue_text, config, load_rescorer(config.rerank, first_stage_weight=config.rerank_fusion, mode=config.mode))
