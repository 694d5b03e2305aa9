"""Python chunker on the standard ``ast``: functions, methods, class bodies and module-level code.

One chunk per function or method (nested functions stay inside their enclosing function),
one ``class`` chunk per class holding its header and the body lines outside its methods, and
one ``module`` chunk with the lines outside every definition when they hold more than
imports. Each chunk carries the docstring and the code without it in ``extra``, so that
(docstring, code) pairs can be mined from it as CodeSearchNet did.
"""
from __future__ import annotations

import ast
import io
import tokenize
import warnings
from dataclasses import dataclass
from typing import Sequence, Union

from codehunt.index.chunking.languages import SourceParseError
from codehunt.index.chunking.windows import join_lines, to_ranges, trim_blank
from codehunt.index.types import Chunk

_Def = Union[ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")


@dataclass(frozen=True)
class _Unit:
    node: _Def
    qualname: str
    kind: str  # function | method | class
    parent: int | None  # index of the enclosing class unit


def chunk_python(path: str, text: str, *, min_module_lines: int = 3) -> list[Chunk]:
    """Chunks of one Python file, in source order; ``[]`` when it defines no function or class.

    Raises :class:`SourceParseError` when ``ast`` rejects the text (syntax error, NUL byte,
    nesting too deep); doc ids are left as ``path::qualname`` for the caller to de-duplicate.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning for "\d" and friends is not ours to print
            tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        raise SourceParseError(f"{type(exc).__name__} line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise SourceParseError(f"{type(exc).__name__}: {exc}") from None
    lines = text.split("\n")
    units: list[_Unit] = []
    _collect(tree.body, (), None, units)
    if not units:
        return []
    chunks: list[Chunk] = []
    children: dict[int | None, list[_Unit]] = {}
    for unit in units:
        children.setdefault(unit.parent, []).append(unit)
    for index, unit in enumerate(units):
        if unit.kind == "class":
            chunk = _class_chunk(path, lines, unit, children.get(index, []))
        else:
            chunk = _def_chunk(path, lines, unit)
        if chunk is not None:
            chunks.append(chunk)
    module = _module_chunk(path, lines, tree, children.get(None, []), min_module_lines)
    if module is not None:
        chunks.append(module)
    chunks.sort(key=lambda c: (c.start_line, -c.end_line))
    return chunks


def _blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists inside a compound statement that is not a def or class (if/try/with/for/while/match)."""
    bodies: list[list[ast.stmt]] = []
    for name in ("body", "orelse", "finalbody"):
        value = getattr(stmt, name, None)
        if isinstance(value, list):
            bodies.append(value)
    for handler in getattr(stmt, "handlers", []):
        bodies.append(handler.body)
    for case in getattr(stmt, "cases", []):
        bodies.append(case.body)
    return bodies


def _collect(body: list[ast.stmt], prefix: tuple[str, ...], parent: int | None, out: list[_Unit]) -> None:
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kind = "function" if parent is None else "method"
            out.append(_Unit(stmt, ".".join(prefix + (stmt.name,)), kind, parent))
        elif isinstance(stmt, ast.ClassDef):
            out.append(_Unit(stmt, ".".join(prefix + (stmt.name,)), "class", parent))
            _collect(stmt.body, prefix + (stmt.name,), len(out) - 1, out)
        else:
            for block in _blocks(stmt):
                _collect(block, prefix, parent, out)


def _span(node: _Def) -> tuple[int, int]:
    """First decorator line (or the def line) to the last line, 1-based inclusive."""
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return start, node.end_lineno or node.lineno


def _header_end(lines: Sequence[str], node: _Def) -> int:
    """The line holding the ':' that closes a def/class header, found with ``tokenize``."""
    first, body_line = node.lineno, node.body[0].lineno
    source = "\n".join(lines[first - 1 : body_line]) + "\n"
    depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type != tokenize.OP:
                continue
            if token.string in _OPEN:
                depth += 1
            elif token.string in _CLOSE:
                depth -= 1
            elif token.string == ":" and depth == 0:
                return first + token.start[0] - 1
    except (tokenize.TokenError, SyntaxError):
        pass
    return max(first, body_line - 1)


def _docstring_node(body: list[ast.stmt]) -> ast.Expr | None:
    if body and isinstance(body[0], ast.Expr):
        value = body[0].value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return body[0]
    return None


def _char_col(line: str, byte_col: int) -> int:
    """``ast`` column offsets count UTF-8 bytes; turn one into a str index."""
    return len(line.encode("utf-8", "surrogatepass")[:byte_col].decode("utf-8", "ignore"))


def _without(numbers: Sequence[int], lines: Sequence[str], node: ast.expr | ast.stmt | None) -> str:
    """The chunk's lines with the exact source span of ``node`` cut out (lines left blank by the cut are dropped)."""
    if node is None:
        return join_lines(numbers, lines)
    first, last = node.lineno, node.end_lineno or node.lineno
    kept: list[str] = []
    for number in numbers:
        if number < first or number > last:
            kept.append(lines[number - 1])
        elif number == first:
            head = lines[first - 1][: _char_col(lines[first - 1], node.col_offset)]
            tail = lines[last - 1][_char_col(lines[last - 1], node.end_col_offset or 0) :].lstrip()
            if tail.startswith(";"):  # `def f(): "doc"; return 1`
                tail = tail[1:].lstrip()
            if (head + tail).strip():
                kept.append(head + tail)
    return "\n".join(kept)


def _def_chunk(path: str, lines: Sequence[str], unit: _Unit) -> Chunk:
    start, end = _span(unit.node)
    numbers = list(range(start, end + 1))
    return Chunk(
        doc_id=f"{path}::{unit.qualname}",
        path=path,
        qualname=unit.qualname,
        kind=unit.kind,
        language="python",
        start_line=start,
        end_line=end,
        text=join_lines(numbers, lines),
        extra={
            "docstring": ast.get_docstring(unit.node) or "",
            "signature": join_lines(range(start, _header_end(lines, unit.node) + 1), lines),
            "body_without_docstring": _without(numbers, lines, _docstring_node(unit.node.body)),
        },
    )


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _class_chunk(path: str, lines: Sequence[str], unit: _Unit, members: list[_Unit]) -> Chunk | None:
    """Header plus body lines outside methods and nested classes; None when only the header is left."""
    start, end = _span(unit.node)
    owned = set(range(start, end + 1))
    for member in members:
        first, last = _span(member.node)
        owned.difference_update(range(first, last + 1))
    header_end = _header_end(lines, unit.node)
    body = [n for n in owned if n > header_end and _is_code(lines[n - 1])]
    if not body or all(lines[n - 1].strip() in ("pass", "...") for n in body):
        return None
    numbers = trim_blank(owned, lines)
    return Chunk(
        doc_id=f"{path}::{unit.qualname}",
        path=path,
        qualname=unit.qualname,
        kind="class",
        language="python",
        start_line=numbers[0],
        end_line=numbers[-1],
        text=join_lines(numbers, lines),
        extra={
            "docstring": ast.get_docstring(unit.node) or "",
            "signature": join_lines(range(start, header_end + 1), lines),
            "body_without_docstring": _without(numbers, lines, _docstring_node(unit.node.body)),
            "line_ranges": [list(r) for r in to_ranges(numbers)],
        },
    )


def _import_lines(body: list[ast.stmt]) -> set[int]:
    found: set[int] = set()
    for stmt in body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            found.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
        elif not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for block in _blocks(stmt):
                found |= _import_lines(block)
    return found


def _module_chunk(
    path: str, lines: Sequence[str], tree: ast.Module, top: list[_Unit], min_module_lines: int
) -> Chunk | None:
    """Lines outside every top-level def/class, when more than ``min_module_lines`` of them are code besides imports."""
    owned = set(range(1, len(lines) + 1))
    for unit in top:
        first, last = _span(unit.node)
        owned.difference_update(range(first, last + 1))
    imports = _import_lines(tree.body)
    code = [n for n in owned if n not in imports and _is_code(lines[n - 1])]
    if not code or len(code) < min_module_lines:
        return None
    numbers = trim_blank(owned, lines)
    doc_id = f"{path}::<module>"
    return Chunk(
        doc_id=doc_id,
        path=path,
        qualname="<module>",
        kind="module",
        language="python",
        start_line=numbers[0],
        end_line=numbers[-1],
        text=join_lines(numbers, lines),
        extra={
            "docstring": ast.get_docstring(tree) or "",
            "signature": "",
            "body_without_docstring": _without(numbers, lines, _docstring_node(tree.body)),
            "line_ranges": [list(r) for r in to_ranges(numbers)],
        },
    )

