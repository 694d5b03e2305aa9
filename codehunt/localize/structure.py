"""Repository structure as evidence: the callers and callees of an issue's best candidates share their rank.

Graph-based localizers (LocAgent, Chen et al., 2025; CoSIL, Jiang et al., 2025) walk the code graph outward
from the first hits, because the function an issue's words match is often not the one the fix edits but its
caller or callee (the error is raised in a helper, the wrong value is built by the caller). codehunt keeps
that as one cheap, training-free signal: a static call graph approximated by names (a unit calls ``name``
when ``name(`` appears in its code, and ``name`` resolves to every unit whose last qualname part it is, each
taking 1/n), and each of the top candidates votes for itself and for its neighbours with weight 1/rank. The
self-vote keeps the head in order: without it a neighbour of the first hit overtook it (on the 19 dev instances
of ``benchmarks/localize.py`` function MRR fell from 0.389 to 0.308 at weight 0.5). No type inference:
``self.save(`` points at every ``save``, which is why a name with many definitions counts for little.

The class a method belongs to is structure too (the "contains" edges of LocAgent's code graph).
:func:`constructor_votes` keeps that edge: a method among the best candidates votes for its class's
``__init__`` and for the class unit itself (its header and class attributes). A fix to a method often needs
state the constructor sets up (a new attribute, a changed default) or a class-level name, and neither shares
many words with the issue, so neither retriever finds it alone. On by default at weight 0.25 (measured in
``benchmarks/localize.py``, 2026-12-03): over the 98 Verified dev instances it solved two more at function Acc@10
and lost none (file Acc@1 unchanged, 0 won / 0 lost); on 22 Lite dev instances of five other repositories it
changed no figure. Sibling methods as targets lowered file Acc@1 on the 36 tuning instances; the ``__init__``
alone (``constructor_class`` off) gained one instance of 98 at weight 0.5 and lost one of 22 at weight 1.
"""
from __future__ import annotations

import keyword
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codehunt.index.types import Chunk
    from codehunt.localize.units import UnitTable

_CALL = re.compile(r"(?<![\w])([A-Za-z_]\w*)\s*\(")
MAX_DEFINITIONS = 20
"""A called name defined more often than this (``__init__``, ``get``) links nothing: it says nothing specific."""


class CallGraph:
    """Who calls which name, over every unit of an index (built once per index, in one pass over its chunks)."""

    def __init__(self, table: UnitTable):
        self.table = table
        self.calls: dict[str, set[str]] = defaultdict(set)  # unit -> names it calls
        self.callers: dict[str, set[str]] = defaultdict(set)  # name -> units calling it
        for chunk in table.index.chunks:
            for name in _CALL.findall(chunk.text):
                if keyword.iskeyword(name):
                    continue
                self.calls[chunk.unit].add(name)
                self.callers[name].add(chunk.unit)

    def neighbours(self, unit: str) -> dict[str, float]:
        """Units ``unit`` calls and units that call it, each weighted 1 / (definitions sharing the linking name)."""
        found: dict[str, float] = defaultdict(float)
        for name in self.calls.get(unit, ()):
            definitions = self.table.by_name.get(name, [])
            if 0 < len(definitions) <= MAX_DEFINITIONS:
                for callee in definitions:
                    found[callee] = max(found[callee], 1.0 / len(definitions))
        qualname = self.table.chunk(unit).qualname
        own_name = qualname.rsplit(".", 1)[-1] if qualname else ""
        definitions = self.table.by_name.get(own_name, [])
        if unit in definitions and len(definitions) <= MAX_DEFINITIONS:
            for caller in self.callers.get(own_name, ()):
                found[caller] = max(found[caller], 1.0 / len(definitions))
        found.pop(unit, None)
        return dict(found)


def structure_votes(
    graph: CallGraph, ranked_units: Sequence[str], top: int, keep: Callable[[Chunk], bool]
) -> dict[str, float]:
    """Per unit, the votes of the ``top`` best candidates that are it or are linked to it (weight x 1/rank),
    scaled to max 1.

    Units ``keep`` rejects (test files, excluded paths) get no vote, so the signal cannot pull them in."""
    votes: dict[str, float] = defaultdict(float)
    for rank, unit in enumerate(ranked_units[:top], start=1):
        votes[unit] += 1.0 / rank
        for neighbour, weight in graph.neighbours(unit).items():
            if keep(graph.table.chunk(neighbour)):
                votes[neighbour] += weight / rank
    best = max(votes.values(), default=0.0)
    return {unit: vote / best for unit, vote in votes.items()} if best > 0 else {}


def constructor_votes(
    table: UnitTable, ranked_units: Sequence[str], top: int, keep: Callable[[Chunk], bool], include_class: bool = False
) -> dict[str, float]:
    """Per ``__init__`` unit (and, with ``include_class``, per class unit), the votes (1/rank) of the ``top`` best
    candidates that are methods of its class in the same file, scaled to max 1. A constructor or class among the
    candidates does not vote for itself."""
    votes: dict[str, float] = defaultdict(float)
    for rank, unit in enumerate(ranked_units[:top], start=1):
        chunk = table.chunk(unit)
        qualname = chunk.qualname or ""
        if chunk.kind != "method" or "." not in qualname or qualname.endswith(".__init__"):
            continue
        owner = qualname.rsplit(".", 1)[0]
        targets = [owner + ".__init__", owner] if include_class else [owner + ".__init__"]
        for target in targets:
            for candidate in table.by_qualname.get(target, []):
                found = table.chunk(candidate)
                if candidate != unit and found.path == chunk.path and keep(found):
                    votes[candidate] += 1.0 / rank
    best = max(votes.values(), default=0.0)
    return {unit: vote / best for unit, vote in votes.items()} if best > 0 else {}


def module_votes(table: UnitTable, ranked_units: Sequence[str], top: int, keep: Callable[[Chunk], bool]) -> dict[str, float]:
    """Per module-level unit (a file's imports, constants and top-level statements), the votes (1/rank) of the
    ``top`` best candidates defined in its file, scaled to max 1. A module unit among the candidates does not vote
    for itself.

    Why: a fix that edits a function often also edits its file's module level (a new import, a constant), and
    SWE-bench's function-level gold counts that ``<module>`` item, yet the module unit shares few words with the
    issue; 31 of the 98 Verified dev instances of ``benchmarks/localize.py`` have one. The vote also lifts the
    file, since a file's module unit is one more of its units near the top. On by default at weight 1
    (``benchmarks/localize.py``, 2026-12-03): on the 98 Verified dev instances file Acc@1 +3.1 (3 won, 0 lost) and
    function Acc@10 +1.0 (1 / 0); on the 22 held-out Lite dev instances file Acc@1 +9.1 (2 / 0) and function
    Acc@10 +0.0 (1 / 1). Weights 0.25 and 0.5 gained less on Verified and lost one Lite instance at function Acc@10."""
    votes: dict[str, float] = defaultdict(float)
    for rank, unit in enumerate(ranked_units[:top], start=1):
        chunk = table.chunk(unit)
        if chunk.kind == "module":
            continue
        for candidate in table.by_path.get(chunk.path, []):
            found = table.chunk(candidate)
            if found.kind == "module" and keep(found):
                votes[candidate] += 1.0 / rank
    best = max(votes.values(), default=0.0)
    return {unit: vote / best for unit, vote in votes.items()} if best > 0 else {}
