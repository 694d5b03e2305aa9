"""``codehunt mcp -i IDX``: the index as Model Context Protocol tools for coding agents (stdio, the official SDK).

Tools (every answer is one line of compact JSON: an agent pays for every token):

- ``search_code(query, max_results, level, mode, path)``: ranked functions ``{path, line, end, name, score,
  snippet}`` (snippet: the unit's first two lines), or with ``level="file"`` ranked files; ``path`` keeps
  results under one file or folder of the indexed tree.
- ``localize_issue(issue, max_results, level)``: the functions and files a fix for an issue text will touch.
- ``read_code(path, start_line, end_line)``: lines of one indexed file, at most ``MAX_READ_LINES``.
- ``index_status()``: what is indexed, from where, when, and whether an update is running.
- ``reindex()``: re-index the source tree and swap the new index in (queries keep being answered meanwhile).

Security: every path a tool reads or returns stays inside the indexed root (the directory the index was
built from). A request naming a path outside it, by ``../``, an absolute path or a symlink that leads out of
the tree, is refused with an error that says so; a result whose file resolves outside the root (a symlink
planted after indexing) is withheld and counted in ``withheld``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from codehunt.index.errors import BadInputError, CodehuntError

if TYPE_CHECKING:
    from codehunt.index.types import Hit
    from codehunt.serve.service import IndexService, ServedIndex

log = logging.getLogger(__name__)

MAX_RESULTS = 50
"""The most results one call returns (``max_results`` is capped here)."""
MAX_READ_LINES = 400
"""The most lines ``read_code`` returns in one call."""
SNIPPET_CHARS = 160
"""Characters kept of each of a snippet's lines."""
RESTRICTED_DEPTH = 500
"""Units searched when ``path`` restricts the results (they are filtered after ranking)."""


class PathOutsideRootError(CodehuntError):
    """A tool was asked for a path outside the indexed root."""


def indexed_root(served: "ServedIndex") -> Path | None:
    """The directory the index was built from, resolved, or None (a corpus file, or a directory since removed)."""
    source = served.index.manifest.source.get("path")
    if not source:
        return None
    root = Path(source)
    return root.resolve() if root.is_dir() else None


def resolve_inside(root: Path | None, requested: str) -> str:
    """``requested`` (relative to the root, or absolute inside it) as a POSIX path relative to the root.

    Symlinks are followed before the check, so a link inside the tree that points out of it is refused
    like ``../``. Without a root (an index of a corpus file) only plain relative paths are accepted.
    """
    text = (requested or "").strip()
    if not text or "\0" in text:
        raise BadInputError("path is empty: pass a file or folder relative to the indexed root, e.g. 'src/app.py'")
    if root is None:
        parts = Path(text).parts
        if Path(text).is_absolute() or ".." in parts:
            raise PathOutsideRootError(f"path {requested!r} is outside the indexed corpus: pass a path as search results give it")
        return Path(text).as_posix()
    candidate = Path(text) if Path(text).is_absolute() else root / text
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise PathOutsideRootError(
            f"path {requested!r} is outside the indexed root {root} (it resolves to {resolved}): "
            "pass a path inside the indexed tree, relative to it"
        )
    return "." if resolved == root else resolved.relative_to(root).as_posix()


def _inside(root: Path | None, path: str) -> bool:
    try:
        resolve_inside(root, path)
    except CodehuntError:
        return False
    return True


def _under(path: str, prefix: str) -> bool:
    return prefix == "." or path == prefix or path.startswith(prefix.rstrip("/") + "/")


def compact_hit(hit: "Hit") -> dict[str, Any]:
    """The few fields an agent needs of a hit, snippet lines cut to ``SNIPPET_CHARS``."""
    snippet = "\n".join(line.strip()[:SNIPPET_CHARS] for line in hit.snippet.split("\n"))
    return {"path": hit.path, "line": hit.start_line, "end": hit.end_line, "name": hit.qualname,
            "score": round(hit.score, 4), "snippet": snippet}


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


class CodeTools:
    """The tools' logic over an :class:`~codehunt.serve.service.IndexService`, free of MCP (tested directly too)."""

    def __init__(self, service: "IndexService"):
        self.service = service

    def served(self) -> "ServedIndex":
        return self.service.get(None)

    def search_code(self, query: str, max_results: int = 10, level: str = "function", mode: str = "hybrid",
                    path: str | None = None) -> dict[str, Any]:
        if not query.strip():
            raise BadInputError("query is empty: say what code you are looking for, e.g. 'parse an ISO date'")
        if level not in ("function", "file"):
            raise BadInputError(f"level must be 'function' or 'file', got {level!r}")
        if mode not in ("dense", "bm25", "hybrid"):
            raise BadInputError(f"mode must be 'dense', 'bm25' or 'hybrid', got {mode!r}")
        k = max(1, min(int(max_results), MAX_RESULTS))
        served = self.served()
        root = indexed_root(served)
        prefix = resolve_inside(root, path) if path is not None else None
        index = served.index
        depth = k if level == "function" and prefix is None else max(k, index.search_config.depth, RESTRICTED_DEPTH if prefix else 100)
        hits = self.service.search_hits(index, query, depth, mode)
        if prefix is not None:
            hits = [hit for hit in hits if _under(hit.path, prefix)]
        kept = [hit for hit in hits if _inside(root, hit.path)]
        withheld = len(hits) - len(kept)
        if level == "file":
            from codehunt.index.file_ranking import rank_files

            files = rank_files(kept, index.search_config.file_aggregation, k)
            payload: dict[str, Any] = {"files": [{"path": f.path, "score": round(f.score, 4), "best": f.best.qualname,
                                                  "line": f.best.start_line} for f in files]}
        else:
            payload = {"results": [compact_hit(hit) for hit in kept[:k]]}
        if withheld:
            payload["withheld"] = withheld
        return payload

    def localize_issue(self, issue: str, max_results: int = 10, level: str = "both") -> dict[str, Any]:
        if level not in ("function", "file", "both"):
            raise BadInputError(f"level must be 'function', 'file' or 'both', got {level!r}")
        k = max(1, min(int(max_results), MAX_RESULTS))
        served = self.served()
        root = indexed_root(served)
        result = self.service.localize(served, issue, {"k": k, "level": level})
        functions = [f for f in result["functions"] if _inside(root, f["path"])]
        files = [f for f in result["files"] if _inside(root, f["path"])]
        withheld = len(result["functions"]) + len(result["files"]) - len(functions) - len(files)
        from codehunt.index.types import Hit

        payload: dict[str, Any] = {
            "functions": [compact_hit(Hit(**f)) for f in functions],
            "files": [{"path": f["path"], "score": round(f["score"], 4)} for f in files],
        }
        if withheld:
            payload["withheld"] = withheld
        return payload

    def read_code(self, path: str, start_line: int = 1, end_line: int | None = None) -> dict[str, Any]:
        served = self.served()
        root = indexed_root(served)
        if root is None:
            raise BadInputError(
                f"{served.path} was not built from a directory on this machine "
                f"({served.index.manifest.source.get('path')}): read_code has no files to read"
            )
        relative = resolve_inside(root, path)
        start = max(1, int(start_line))
        end = start + MAX_READ_LINES - 1 if end_line is None else int(end_line)
        if end < start:
            raise BadInputError(f"end_line {end} is before start_line {start}")
        end = min(end, start + MAX_READ_LINES - 1)
        rev = served.index.manifest.source.get("rev")
        if rev:
            from codehunt.index.git import git

            data = git(["show", f"{rev}:{relative}"], root)
        else:
            file = root / relative
            if not file.is_file():
                raise BadInputError(f"{relative} is not a file under the indexed root {root}")
            data = file.read_bytes()
        if b"\0" in data[:8192]:
            raise BadInputError(f"{relative} is a binary file")
        lines = data.decode("utf-8", errors="replace").split("\n")
        shown = lines[start - 1 : end]
        payload: dict[str, Any] = {"path": relative, "start": start, "end": start + len(shown) - 1,
                                   "lines": len(lines), "text": "\n".join(shown)}
        if rev:
            payload["rev"] = rev
        return payload

    def index_status(self) -> dict[str, Any]:
        served = self.served()
        status = served.status()
        manifest = served.index.manifest
        payload = {
            "root": str(indexed_root(served) or manifest.source.get("path") or ""),
            "rev": manifest.source.get("rev"),
            "units": status["units"],
            "files": len(served.index.units.paths),
            "built": status["created_at"],
            "generation": status["generation"],
            "on_disk": status["on_disk"],
            "updating": status["updating"],
        }
        if status["last_error"]:
            payload["last_error"] = status["last_error"]
        return payload

    def reindex(self) -> dict[str, Any]:
        result = self.service.update(None, reason="mcp reindex")
        return {"generation": result["generation"], "units": result["units"], "seconds": result["seconds"]}


def build_server(service: "IndexService") -> Any:
    """The ``MCPServer`` with the five tools over ``service``; errors reach the agent as tool errors."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError
    except ImportError as exc:
        raise BadInputError(f"`codehunt mcp` needs the MCP SDK ({exc.name} is missing): pip install 'codehunt[mcp]'") from exc

    tools = CodeTools(service)
    server = MCPServer(
        "codehunt",
        instructions="Search this codebase in plain language: search_code for functions or files, localize_issue for "
                     "a bug report, read_code to read lines of a result. Paths are relative to the indexed root.",
        log_level="WARNING",
    )

    def answer(call: Any, *args: Any) -> str:
        try:
            return _dumps(call(*args))
        except CodehuntError as exc:
            raise ToolError(" ".join(str(exc).split())) from None

    def search_code(query: str, max_results: int = 10, level: Literal["function", "file"] = "function",
                    mode: Literal["hybrid", "dense", "bm25"] = "hybrid", path: str | None = None) -> str:
        """Find code by what it does ('parse an ISO date', 'where are routes registered'). Returns ranked
        functions as {path, line, end, name, score, snippet}, or with level='file' ranked files. `path` keeps
        results under one file or folder (relative to the indexed root)."""
        return answer(tools.search_code, query, max_results, level, mode, path)

    def localize_issue(issue: str, max_results: int = 10, level: Literal["both", "function", "file"] = "both") -> str:
        """Rank the functions and files a fix for this issue (title + description, tracebacks welcome) will touch."""
        return answer(tools.localize_issue, issue, max_results, level)

    def read_code(path: str, start_line: int = 1, end_line: int | None = None) -> str:
        """Read lines start_line..end_line (1-based, inclusive; at most 400) of a file inside the indexed root."""
        return answer(tools.read_code, path, start_line, end_line)

    def index_status() -> str:
        """What is indexed: root, revision, units, files, build time, and whether an update is running."""
        return answer(tools.index_status)

    def reindex() -> str:
        """Re-index the source tree now (after edits); searches keep answering from the old index until it is done."""
        return answer(tools.reindex)

    for tool in (search_code, localize_issue, read_code, index_status, reindex):
        server.add_tool(tool, structured_output=False)
    return server
