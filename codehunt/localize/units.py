"""An index's units as issue localization looks them up: the index's unit table, plus which files an issue names."""
from __future__ import annotations

from collections import defaultdict
from functools import cached_property
from typing import TYPE_CHECKING

from codehunt.issue_text import path_match_length

if TYPE_CHECKING:
    from codehunt.index.index import Index
    from codehunt.index.types import Chunk
    from codehunt.localize.structure import CallGraph


class UnitTable:
    """``index.units`` (:class:`codehunt.index.units.UnitTable`: ``first``, ``by_path``, ``by_name``,
    ``by_qualname``, ``paths``) with the path matching the evidence boosts need (:meth:`paths_named`)."""

    def __init__(self, index: "Index"):
        self.index = index
        units = index.units
        self.first = units.first
        self.by_path = units.by_path
        self.by_name = units.by_name
        self.by_qualname = units.by_qualname
        self.paths = units.paths
        self._basename: dict[str, list[str]] = defaultdict(list)
        for path in self.paths:
            self._basename[path.rsplit("/", 1)[-1]].append(path)

    def chunk(self, unit: str) -> "Chunk":
        return self.index.units.chunk(unit)

    @cached_property
    def call_graph(self) -> "CallGraph":
        """Who calls which name (:class:`codehunt.localize.structure.CallGraph`), built on first use."""
        from codehunt.localize.structure import CallGraph

        return CallGraph(self)

    def paths_named(self, mentioned: str, exact: bool = False) -> list[str]:
        """Index paths a mentioned path names.

        The mention must agree with the path on its whole length (``_pytest/python.py`` names
        ``src/_pytest/python.py``), or, when it carries another prefix (a checkout elsewhere),
        on at least two trailing components, three for ``__init__.py`` (whose directory is the
        only specific part). A bare file name names nothing: ``utils.py`` is everywhere.
        ``exact`` asks for whole-length agreement only (paths derived from dotted names).
        """
        base = mentioned.rsplit("/", 1)[-1]
        candidates = self._basename.get(base, [])
        mentioned_parts = len([p for p in mentioned.split("/") if p])
        if mentioned_parts < 2 and not any(path == mentioned for path in candidates):
            return []
        needed = 3 if base == "__init__.py" else 2
        found = []
        for path in candidates:
            n = path_match_length(mentioned, path)
            full = n == mentioned_parts or n == path.count("/") + 1
            if n and (full or (not exact and n >= needed)):
                found.append(path)
        return found

    def module_paths(self, dotted: str) -> list[tuple[str, list[str]]]:
        """(file, remaining name parts) for each prefix of ``a.b.c.D`` that is a module of the index."""
        parts = dotted.split(".")
        found = []
        for cut in range(len(parts), 1, -1):
            stem = "/".join(parts[:cut])
            for candidate in (f"{stem}.py", f"{stem}/__init__.py"):
                for path in self.paths_named(candidate, exact=True):
                    found.append((path, parts[cut:]))
            if found:
                break
        return found
