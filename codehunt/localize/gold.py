"""Gold of SWE-bench-style instances: the files and functions a fix edited, matched against an index."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from codehunt.index.errors import BadInputError
from codehunt.index.paths import is_test_path
from codehunt.index.storage import read_jsonl_objects
from codehunt.localize.units import UnitTable


@dataclass(frozen=True)
class GoldItem:
    """One gold function-level item: its name as the gold file has it, and the index units that count as finding it."""

    path: str
    qualname: str
    kind: str
    units: tuple[str, ...]


@dataclass(frozen=True)
class Gold:
    """An instance's gold after matching against the index (see :func:`resolve_gold`)."""

    files: tuple[str, ...]
    items: tuple[GoldItem, ...]
    dropped_files: tuple[tuple[str, str], ...] = ()  # (path, reason)
    dropped_items: tuple[tuple[str, str], ...] = ()  # (path::qualname, reason)


def read_gold(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Gold rows grouped by instance id: ``{instance_id: [{file, change, units: [{qualname, kind, parent}]}]}``."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path} does not exist: pass the gold JSONL (one row per instance and edited file)")
    gold: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for number, row in read_jsonl_objects(path, "a gold row (instance_id, file, units)"):
        try:
            gold[str(row["instance_id"])].append(
                {"file": str(row["file"]), "change": row.get("change", "modified"), "units": list(row.get("units") or [])}
            )
        except (KeyError, TypeError) as exc:
            raise BadInputError(f"{path}:{number}: not a gold row ({exc}); expected instance_id, file, units") from exc
    return dict(gold)


def _module_units(table: UnitTable, path: str) -> tuple[str, ...]:
    return tuple(u for u in table.by_path.get(path, []) if table.chunk(u).kind in ("module", "window"))


def _resolve_item(table: UnitTable, path: str, qualname: str, kind: str) -> tuple[str, ...]:
    units = table.by_path.get(path, [])
    if qualname == "<module>":
        return _module_units(table, path)
    by_qualname: dict[str, list[str]] = defaultdict(list)
    for unit in units:
        by_qualname[table.chunk(unit).qualname].append(unit)
    if kind == "hunk":  # a hunk header names the innermost def only: match on the last name
        last = qualname.rsplit(".", 1)[-1]
        found = [u for q, us in by_qualname.items() if q.rsplit(".", 1)[-1] == last for u in us]
        if found:
            return tuple(found)
    parts = qualname.split(".")
    for cut in range(len(parts), 0, -1):  # nested defs live inside their enclosing unit
        found = by_qualname.get(".".join(parts[:cut]))
        if found:
            return tuple(found)
    return ()


def resolve_gold(rows: Sequence[dict[str, Any]], table: UnitTable, files_at_base: set[str] | None, include_tests: bool) -> Gold:
    """Match gold rows to the index's files and units.

    Files: a gold file counts when it existed at ``base_commit`` and is source code the index
    can hold (a known language; not a test file, :func:`codehunt.index.paths.is_test_path`, unless
    tests are included). Added files, ``setup.cfg`` and the like are dropped (reason recorded): no
    ranking of the base revision can contain them. A source file that existed but is missing from
    the index (too large, generated) is kept, and counts as missed.

    Function-level items (CoRNStack/SweRank: every edited function must be found):
    ``function``/``method``/``class`` units match the unit of the same file and qualified
    name, or its nearest enclosing unit (nested defs are part of their enclosing function
    here); ``hunk`` units (from hunk headers, innermost name only) match any unit of the file
    with that last name; ``<module>`` units (edits outside every def: imports, constants)
    match the file's module-level unit, or its line windows when the file defines nothing.
    A ``<module>`` item whose file has no module-level unit (an import-only edit: the
    chunker keeps no unit for bare imports) is dropped from the function level, since no
    unit ranking can contain it; its file still counts at file level. Any other item that
    matches no unit is kept and counts as missed. Gold files with no units add only a
    file-level item.
    """
    from codehunt.index.chunking import language_for_path

    files: list[str] = []
    items: list[GoldItem] = []
    dropped_files: list[tuple[str, str]] = []
    dropped_items: list[tuple[str, str]] = []
    for row in rows:
        path = row["file"]
        reason = None
        if row.get("change") == "added" or (files_at_base is not None and path not in files_at_base):
            reason = "not-at-base"
        elif language_for_path(path) is None:
            reason = "not-source"
        elif not include_tests and is_test_path(path):
            reason = "test-file"
        if reason is not None:
            dropped_files.append((path, reason))
            continue
        if path not in files:
            files.append(path)
        for unit in row["units"]:
            qualname, kind = str(unit.get("qualname") or "<module>"), str(unit.get("kind") or "")
            resolved = _resolve_item(table, path, qualname, kind)
            if not resolved and qualname == "<module>":
                dropped_items.append((f"{path}::{qualname}", "no-module-unit"))
                continue
            if all((i.path, i.qualname) != (path, qualname) for i in items):
                items.append(GoldItem(path, qualname, kind, resolved))
    return Gold(tuple(files), tuple(items), tuple(dropped_files), tuple(dropped_items))
