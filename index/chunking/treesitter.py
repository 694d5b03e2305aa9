"""Chunker for JavaScript, TypeScript, Java, Go, Ruby, Rust, C and C++ on tree-sitter grammars.

One chunk per named function or method (functions nested in functions stay inside them),
qualified by its enclosing classes, namespaces and receivers: ``Class.method``, Go
``Type.Method``, Rust ``impl Type`` -> ``Type.method``, C++ ``ns.Class.method``. As in
CodeSearchNet, the comment block right above a definition is its docstring; unlike there it
stays in the chunk (start_line is the comment's first line), because the encoder should see
it, and ``extra["body_without_docstring"]`` is the code alone. Class-like containers get a
``class`` chunk for their lines outside methods, and module-level code a ``module`` chunk, as
in the Python chunker. C++ definitions written ``Class::name`` outside their class are
``method``s (the grammar cannot tell a class scope from a namespace scope there).
"""
from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

from codehunt.index.chunking.languages import SPECS, SourceParseError, TreeSitterSpec
from codehunt.index.chunking.windows import join_lines, to_ranges, trim_blank
from codehunt.index.types import Chunk

if TYPE_CHECKING:
    from tree_sitter import Language, Node

_FUNCTION_EXPRESSIONS = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
_BINDINGS = {  # JavaScript node that binds a name -> (name field, value field)
    "variable_declarator": ("name", "value"),
    "assignment_expression": ("left", "right"),
    "pair": ("key", "value"),
    "field_definition": ("property", "value"),
    "public_field_definition": ("name", "value"),
}
_DECLARATORS = frozenset(
    {"function_declarator", "pointer_declarator", "reference_declarator", "parenthesized_declarator",
     "attributed_declarator"}
)
_COMMENT_MARK = re.compile(r"^(?:/\*+!?|//[/!]?|\*+(?!/)|#+|=begin\b|=end\b)")
_COMMENT_END = re.compile(r"\*+/$")


@functools.lru_cache(maxsize=None)
def load_language(grammar: str) -> "Language | None":
    """The grammar from ``tree-sitter-language-pack`` (or a ``tree-sitter-<lang>`` wheel); None if neither has it.

    ``tree-sitter-language-pack`` 0.13 ships its grammars in the wheel; 1.x fetches them from
    the network at first use and so finds none offline. Memoised, so that a missing grammar
    costs one look-up per process.
    """
    try:
        from tree_sitter import Language
    except ImportError:
        return None
    try:
        from tree_sitter_language_pack import get_language

        language = get_language(grammar)  # type: ignore[arg-type]
        if isinstance(language, Language):
            return language
    except Exception:  # noqa: BLE001 - any failure of an optional backend means "not available"
        pass
    module_name, attribute = {
        "typescript": ("tree_sitter_typescript", "language_typescript"),
        "tsx": ("tree_sitter_typescript", "language_tsx"),
    }.get(grammar, (f"tree_sitter_{grammar}", "language"))
    try:
        module = importlib.import_module(module_name)
        return Language(getattr(module, attribute)())
    except Exception:  # noqa: BLE001
        return None


@dataclass(frozen=True)
class _Def:
    node: "Node"  # the definition (for a JS binding: the function or class expression)
    span: "Node"  # whose lines the chunk takes
    qualname: str
    kind: str  # function | method | class
    parent: int | None  # index of the enclosing named class container


@dataclass
class _Scan:
    defs: list[_Def]
    comments: dict[int, tuple[int, str]]  # last line -> (first line, text) of comments alone on their lines
    comment_lines: set[int]
    import_lines: set[int]


def chunk_tree_sitter(
    path: str, text: str, language: str, *, min_module_lines: int = 3, max_error_fraction: float = 0.5
) -> list[Chunk]:
    """Chunks of one file in source order; ``[]`` when it defines nothing (the caller then uses windows).

    Raises :class:`SourceParseError` when no parser is installed for ``language``
    (reason ``parser-unavailable``) or syntax errors cover more than ``max_error_fraction``
    of the non-blank lines. Doc ids are ``path::qualname``; the caller de-duplicates them.
    """
    spec = SPECS[language]
    grammar = load_language(spec.grammar)
    if grammar is None:
        raise SourceParseError(f"no tree-sitter grammar for {spec.grammar} is installed", "parser-unavailable")
    from tree_sitter import Parser

    source = text.encode("utf-8", "surrogatepass")
    tree = Parser(grammar).parse(source)
    lines = text.split("\n")
    byte_lines = source.split(b"\n")
    _check_errors(tree.root_node, lines, language, max_error_fraction)
    scan = _scan(tree.root_node, spec, language, byte_lines)
    if not scan.defs:
        return []
    chunks: list[Chunk] = []
    spans = [_def_span(d, spec, scan.comments) for d in scan.defs]
    members: dict[int | None, list[int]] = {}
    for index, definition in enumerate(scan.defs):
        members.setdefault(definition.parent, []).append(index)
    for index, (definition, (start, code_start, end, doc)) in enumerate(zip(scan.defs, spans)):
        header_end = min(end, max(code_start, _header_end(definition.node)))
        extra = {
            "docstring": doc,
            "signature": join_lines(range(code_start, header_end + 1), lines),
        }
        if definition.kind != "class":
            numbers = list(range(start, end + 1))
            extra["body_without_docstring"] = join_lines(range(code_start, end + 1), lines)
        else:
            owned = set(range(start, end + 1))
            for member in members.get(index, []):
                owned.difference_update(range(spans[member][0], spans[member][2] + 1))
            if not doc and not any(n > header_end and _is_code(n, lines, scan.comment_lines) for n in owned):
                continue  # nothing but the header: its methods say it all
            numbers = trim_blank(owned, lines)
            if not numbers:
                continue  # a one-line class whose line its methods already hold
            extra["body_without_docstring"] = join_lines([n for n in numbers if n >= code_start], lines)
            extra["line_ranges"] = [list(r) for r in to_ranges(numbers)]
        chunks.append(_chunk(path, language, definition.qualname, definition.kind, numbers, lines, extra))
    owned = set(range(1, len(lines) + 1))
    for member in members.get(None, []):
        owned.difference_update(range(spans[member][0], spans[member][2] + 1))
    code = [n for n in owned if n not in scan.import_lines and _is_code(n, lines, scan.comment_lines)]
    if code and len(code) >= min_module_lines:
        numbers = trim_blank(owned, lines)
        extra = {"docstring": "", "signature": "", "body_without_docstring": join_lines(numbers, lines),
                 "line_ranges": [list(r) for r in to_ranges(numbers)]}
        chunks.append(_chunk(path, language, "<module>", "module", numbers, lines, extra))
    chunks.sort(key=lambda c: (c.start_line, -c.end_line))
    return chunks


def _chunk(path: str, language: str, qualname: str, kind: str, numbers: Sequence[int], lines: Sequence[str],
           extra: dict[str, object]) -> Chunk:
    return Chunk(
        doc_id=f"{path}::{qualname}",
        path=path,
        qualname=qualname,
        kind=kind,
        language=language,
        start_line=numbers[0],
        end_line=numbers[-1],
        text=join_lines(numbers, lines),
        extra=extra,
    )


def _first_line(node: "Node") -> int:
    return node.start_point[0] + 1


def _last_line(node: "Node") -> int:
    """1-based last line; a node that ends right after a newline (Rust ``///`` comments) ends on the line before."""
    (start_row, _), (end_row, end_col) = node.start_point, node.end_point
    return end_row if end_col == 0 and end_row > start_row else end_row + 1


def _text(node: "Node | None") -> str:
    if node is None or node.text is None:
        return ""
    return "".join(node.text.decode("utf-8", "replace").split())  # qualnames hold no whitespace


def _check_errors(root: "Node", lines: Sequence[str], language: str, max_error_fraction: float) -> None:
    """Raise when unparsed tokens cover more than ``max_error_fraction`` of the non-blank lines.

    A line counts as bad when it holds a MISSING node or a loose token directly inside an
    ERROR node; well-formed definitions that error recovery wrapped in an ERROR node (common
    around C preprocessor tricks) still count as parsed, and the walk still finds them.
    """
    if not root.has_error:
        return
    bad: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing or (node.is_error and node.child_count == 0):
            bad.update(range(_first_line(node), max(_first_line(node), _last_line(node)) + 1))
            continue
        for child in node.children:
            if child.has_error:
                stack.append(child)
            elif node.is_error and child.child_count == 0:  # a loose token the parser could not place
                bad.update(range(_first_line(child), max(_first_line(child), _last_line(child)) + 1))
    filled = [n for n in range(1, len(lines) + 1) if lines[n - 1].strip()]
    covered = [n for n in filled if n in bad]
    if filled and len(covered) / len(filled) > max_error_fraction:
        raise SourceParseError(
            f"tree-sitter {language}: syntax errors cover {len(covered)} of {len(filled)} non-blank lines "
            f"(first at line {min(bad)})"
        )


def _scan(root: "Node", spec: TreeSitterSpec, language: str, byte_lines: Sequence[bytes]) -> _Scan:
    """Walk everything outside function bodies: definitions, comments and imports."""
    scan = _Scan([], {}, set(), set())
    # (node, qualname prefix, inside a class?, index of the enclosing named class)
    stack: list[tuple["Node", tuple[str, ...], bool, int | None]] = [(root, (), False, None)]
    while stack:
        node, prefix, in_class, parent = stack.pop()
        for child in reversed(node.named_children):
            kind = child.type
            if kind in spec.comments:
                _add_comment(scan, child, byte_lines)
            elif kind in spec.imports:
                scan.import_lines.update(range(_first_line(child), _last_line(child) + 1))
            elif spec.import_calls and kind == "call" and _text(child.child_by_field_name("method")) in spec.import_calls:
                scan.import_lines.update(range(_first_line(child), _last_line(child) + 1))
            elif kind in spec.functions:
                if spec.body_required and child.child_by_field_name("body") is None:
                    continue
                name = _function_name(child, language, prefix)
                method = in_class or "." in name  # Go receivers and C++ `Class::name` are qualified already
                qualname = ".".join(prefix + (name,))
                scan.defs.append(_Def(child, child, qualname, "method" if method else "function", parent))
            elif spec.assignments and kind in _BINDINGS and _bind(scan, child, prefix, in_class, parent, stack):
                continue
            elif kind in spec.classes:
                if language in ("c", "cpp") and child.child_by_field_name("body") is None:
                    continue  # `struct S *p`: a use of the type, not its definition
                name = _container_name(child, language)
                if name:
                    scan.defs.append(_Def(child, child, ".".join(prefix + (name,)), "class", parent))
                    stack.append((child, prefix + (name,), True, len(scan.defs) - 1))
                else:
                    stack.append((child, prefix, True, parent))
            elif kind in spec.namespaces:
                name = _text(child.child_by_field_name("name")).replace("::", ".").strip("\"'")
                stack.append((child, prefix + (name,) if name else prefix, False, parent))
            else:
                stack.append((child, prefix, in_class, parent))
    return scan


def _bind(scan: _Scan, node: "Node", prefix: tuple[str, ...], in_class: bool, parent: int | None,
          stack: list[tuple["Node", tuple[str, ...], bool, int | None]]) -> bool:
    """JavaScript ``const f = () => ...``, ``A.prototype.f = function...``, ``{f: function...}``, ``class A {f = () => ...}``."""
    name_field, value_field = _BINDINGS[node.type]
    value = node.child_by_field_name(value_field)
    if value is None or (value.type not in _FUNCTION_EXPRESSIONS and value.type not in ("class", "object")):
        return False
    name = _text(node.child_by_field_name(name_field)).strip("\"'`")
    if not name:
        return False
    if value.type == "object":  # `const api = { get() {...} }` -> api.get
        stack.append((value, prefix + (name,), False, parent))
        return True
    span = node
    statement = node.parent
    if statement is not None and (
        statement.type in ("lexical_declaration", "variable_declaration") and statement.named_child_count == 1
        or statement.type == "expression_statement"
    ):
        span = statement
    qualname = ".".join(prefix + (name,))
    if value.type == "class":
        scan.defs.append(_Def(value, span, qualname, "class", parent))
        stack.append((value, prefix + (name,), True, len(scan.defs) - 1))
    else:
        scan.defs.append(_Def(value, span, qualname, "method" if in_class else "function", parent))
    return True


def _add_comment(scan: _Scan, node: "Node", byte_lines: Sequence[bytes]) -> None:
    """Record a comment that has its lines to itself (not ``x = 1  // note``)."""
    (start_row, start_col), (end_row, end_col) = node.start_point, node.end_point
    first, last = _first_line(node), _last_line(node)
    if byte_lines[start_row][:start_col].strip():
        return
    if last == end_row + 1 and end_row < len(byte_lines) and byte_lines[end_row][end_col:].strip():
        return
    scan.comment_lines.update(range(first, last + 1))
    scan.comments[last] = (first, node.text.decode("utf-8", "replace") if node.text else "")


def _function_name(node: "Node", language: str, prefix: tuple[str, ...]) -> str:
    if language in ("c", "cpp"):
        declarator = node.child_by_field_name("declarator")
        for _ in range(32):
            if declarator is None or declarator.type not in _DECLARATORS:
                break
            declarator = declarator.child_by_field_name("declarator") or (
                declarator.named_children[0] if declarator.named_child_count else None
            )
        return _text(declarator).replace("::", ".") or "<anonymous>"
    name = _text(node.child_by_field_name("name"))
    if language == "go" and node.type == "method_declaration":
        receiver = node.child_by_field_name("receiver")
        parameter = receiver.named_children[0] if receiver is not None and receiver.named_child_count else None
        receiver_type = _base_type(parameter.child_by_field_name("type")) if parameter is not None else ""
        return f"{receiver_type}.{name}" if receiver_type else name
    if not name and node.type == "compact_constructor_declaration" and prefix:
        return prefix[-1]  # Java `record P(int x) { P { ... } }`
    return name or "<anonymous>"


def _container_name(node: "Node", language: str) -> str:
    if language == "rust" and node.type == "impl_item":
        return _base_type(node.child_by_field_name("type"))
    return _text(node.child_by_field_name("name")).replace("::", ".")


def _base_type(node: "Node | None") -> str:
    """``*List[T]`` -> ``List``, ``&'a Vec<T>`` -> ``Vec``, ``fmt::Display`` -> ``Display``."""
    for _ in range(32):
        if node is None:
            return ""
        if node.type in ("type_identifier", "identifier", "primitive_type", "field_identifier"):
            return _text(node)
        inner = node.child_by_field_name("type") or node.child_by_field_name("name")
        if inner is None:
            inner = next((c for c in node.named_children if c.type not in ("lifetime", "mutable_specifier")), None)
        if inner is None:
            return _text(node)
        node = inner
    return _text(node)


def _def_span(definition: _Def, spec: TreeSitterSpec, comments: dict[int, tuple[int, str]]) -> tuple[int, int, int, str]:
    """(first line with the doc comment, first code line with decorators, last line, cleaned doc comment)."""
    span = definition.span
    while span.parent is not None and span.parent.type in spec.wrappers:
        span = span.parent
    code_start, end = _first_line(span), _last_line(span)
    previous = span.prev_named_sibling
    while previous is not None and previous.type in spec.decorators:
        code_start = min(code_start, _first_line(previous))
        previous = previous.prev_named_sibling
    start = code_start
    parts: list[str] = []
    while start - 1 in comments:
        start, text = comments[start - 1]
        parts.append(text)
    return start, code_start, end, _clean_comment(reversed(parts))


def _clean_comment(parts: Iterable[str]) -> str:
    """Comment markers (``//``, ``/** */``, ``*``, ``#``, ``=begin``) stripped, blank edges dropped."""
    cleaned: list[str] = []
    for part in parts:
        for line in part.split("\n"):
            line = _COMMENT_END.sub("", line.strip())
            line = _COMMENT_MARK.sub("", line, count=1)
            cleaned.append(line[1:] if line.startswith(" ") else line.rstrip())
    while cleaned and not cleaned[0].strip():
        cleaned.pop(0)
    while cleaned and not cleaned[-1].strip():
        cleaned.pop()
    return "\n".join(line.rstrip() for line in cleaned)


def _header_end(node: "Node") -> int:
    """Last line of a definition's header: everything before its body, plus the line of a body's ``{``."""
    body = node.child_by_field_name("body")
    if body is None:
        return _first_line(node)
    end = _first_line(node)
    for child in node.named_children:
        if child.start_byte >= body.start_byte:
            break
        if "comment" not in child.type:
            end = max(end, _last_line(child))
    if body.text is not None and body.text[:1] == b"{":
        end = max(end, _first_line(body))
    return end


def _is_code(number: int, lines: Sequence[str], comment_lines: set[int]) -> bool:
    """A line with something besides whitespace, comments, closing brackets or Ruby's ``end``."""
    stripped = lines[number - 1].strip()
    if not stripped or number in comment_lines:
        return False
    return bool(stripped.strip("{}()[];, \t")) and stripped not in ("end", "end;")
