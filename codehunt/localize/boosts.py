"""Evidence boosts: units an issue points at (traceback frames, named files, used identifiers) get extra score."""
from __future__ import annotations

from dataclasses import dataclass

from codehunt.issue_text import IssueEvidence
from codehunt.localize.config import LocalizeConfig, candidate_filter
from codehunt.localize.units import UnitTable


@dataclass(frozen=True)
class Boosts:
    """Evidence features per unit: ``frame`` and ``path`` are 0/1, ``name`` is 1 / (units sharing the name)."""

    frame: dict[str, float]
    path: dict[str, float]
    name: dict[str, float]

    def total(self, unit: str, config: LocalizeConfig) -> float:
        return (
            config.frame_weight * self.frame.get(unit, 0.0)
            + config.path_weight * self.path.get(unit, 0.0)
            + config.name_weight * self.name.get(unit, 0.0)
        )

    def injected(self) -> set[str]:
        """Units that join the candidates on evidence alone: framed ones, and named ones in a named file."""
        return set(self.frame) | {unit for unit in self.name if unit in self.path}


def evidence_boosts(table: UnitTable, evidence: IssueEvidence, config: LocalizeConfig) -> Boosts:
    """Which units the issue points at, and how specifically (see :class:`Boosts`)."""
    frame: dict[str, float] = {}
    path: dict[str, float] = {}
    name: dict[str, float] = {}
    named_files: set[str] = set()
    for mentioned in evidence.paths:
        named_files.update(table.paths_named(mentioned))
    qualified: set[tuple[str, str]] = set()  # (file, qualname) from dotted names such as pkg.mod.Class.method
    for dotted in evidence.dotted:
        for file, rest in table.module_paths(dotted):
            named_files.add(file)
            for cut in range(len(rest), 0, -1):
                qualified.add((file, ".".join(rest[:cut])))
    for file in named_files:
        for unit in table.by_path.get(file, []):
            path[unit] = 1.0
    for item in evidence.frames:
        for file in table.paths_named(item.path):
            unit = framed_unit(table, file, item.function, item.line)
            if unit is not None:
                frame[unit] = 1.0
    for identifier in evidence.prose_identifiers if config.name_source == "prose" else evidence.identifiers:
        units = table.by_name.get(identifier, [])
        for unit in units:
            name[unit] = max(name.get(unit, 0.0), 1.0 / len(units))
    for file, qualname in qualified:
        for unit in table.by_path.get(file, []):
            if table.chunk(unit).qualname == qualname:
                name[unit] = 1.0
    allowed = candidate_filter(config)
    keep = {unit for unit in set(frame) | set(path) | set(name) if allowed(table.chunk(unit))}
    return Boosts(
        {u: v for u, v in frame.items() if u in keep},
        {u: v for u, v in path.items() if u in keep},
        {u: v for u, v in name.items() if u in keep},
    )


def framed_unit(table: UnitTable, path: str, function: str, line: int) -> str | None:
    """The unit of ``path`` a traceback frame points at.

    By name when the frame names a def (``<module>``, ``<lambda>`` and nameless pytest frames
    go by line); among several units of that name, the one whose lines hold ``line``, else the
    nearest (the reporter's version may differ from the indexed one by a few lines).
    """
    units = table.by_path.get(path, [])
    if function and not function.startswith("<"):
        units = [u for u in units if table.chunk(u).qualname.rsplit(".", 1)[-1] == function]
    elif function != "<module>":
        units = [u for u in units if table.chunk(u).kind not in ("module", "class")]
    if not units:
        return None

    def distance(unit: str) -> int:
        chunk = table.chunk(unit)
        start, end = chunk.extra.get("unit_lines", [chunk.start_line, chunk.end_line])
        return 0 if start <= line <= end else min(abs(line - start), abs(line - end))

    best = min(units, key=lambda u: (distance(u), u))
    if not function or function.startswith("<"):
        return best if distance(best) == 0 else None
    return best
