"""Which files are source code we index, and what each tree-sitter grammar calls its definitions.

The node types below were read off real parse trees of the grammars bundled with
``tree-sitter-language-pack`` 0.13 (print a tree with ``parser.parse(src).root_node``), not
guessed: e.g. Go methods are ``method_declaration`` with a ``receiver`` field, Rust methods are
``function_item`` inside an ``impl_item`` whose ``type`` field names the type, and a C++
``template <...>`` line is a ``template_declaration`` wrapped around the definition.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyw": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".java": "java",
    ".go": "go",
    ".rb": "ruby",
    ".rake": "ruby",
    ".gemspec": "ruby",
    ".rs": "rust",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".h++": "cpp",
    ".ipp": "cpp",
}
"""File extension (lower case) -> language name. ``.h`` is read as C, as most headers in the
wild are; a C++ header that the C grammar cannot parse falls back to line windows."""


def language_for_path(path: str) -> str | None:
    """The language of a repo-relative path by its extension, or None for files we do not index."""
    _, ext = posixpath.splitext(path.replace("\\", "/"))
    return EXTENSIONS.get(ext.lower())


class SourceParseError(Exception):
    """A file's parser rejected it (or is missing); the file is indexed by line windows instead.

    Internal: :func:`index.chunking.chunk_source` catches it and records
    ``Skip(path, reason, detail)``, e.g. ``("parse-error-fallback", "SyntaxError line 3: ...")``.
    """

    def __init__(self, detail: str, reason: str = "parse-error-fallback") -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason


@dataclass(frozen=True)
class TreeSitterSpec:
    """What one grammar calls functions, classes, comments and imports."""

    grammar: str
    functions: frozenset[str]
    """Named definitions with a body; emitted as one chunk each, never descended into."""
    classes: frozenset[str] = frozenset()
    """Class-like containers: prefix the qualname, make methods, get a ``class`` chunk."""
    namespaces: frozenset[str] = frozenset()
    """Containers that only prefix the qualname (namespaces, Rust ``mod``)."""
    decorators: frozenset[str] = frozenset()
    """Sibling nodes right before a definition that belong to it (decorators, attributes)."""
    wrappers: frozenset[str] = frozenset()
    """Parents whose span the definition takes (``export ...``, ``template <...>``)."""
    comments: frozenset[str] = frozenset({"comment"})
    imports: frozenset[str] = frozenset()
    """Top-level statements that do not make module-level code worth a chunk on their own."""
    import_calls: frozenset[str] = frozenset()
    """Method calls that act as imports (Ruby ``require``)."""
    body_required: bool = True
    """Skip definitions without a body (Java abstract methods, Go functions written in assembly)."""
    assignments: bool = False
    """JavaScript-style: name function/class expressions by the variable, key or field they are bound to."""


_JS_FUNCTIONS = frozenset({"function_declaration", "generator_function_declaration", "method_definition"})
_JS_COMMON = dict(
    decorators=frozenset({"decorator"}),
    wrappers=frozenset({"export_statement"}),
    imports=frozenset({"import_statement"}),
    assignments=True,
)
_C_CLASSES = frozenset({"struct_specifier", "union_specifier", "enum_specifier"})

SPECS: dict[str, TreeSitterSpec] = {
    "javascript": TreeSitterSpec(
        grammar="javascript", functions=_JS_FUNCTIONS, classes=frozenset({"class_declaration", "class"}), **_JS_COMMON
    ),
    "typescript": TreeSitterSpec(
        grammar="typescript",
        functions=_JS_FUNCTIONS,
        classes=frozenset({"class_declaration", "class", "abstract_class_declaration", "interface_declaration"}),
        namespaces=frozenset({"internal_module", "module"}),
        **_JS_COMMON,
    ),
    "java": TreeSitterSpec(
        grammar="java",
        functions=frozenset({"method_declaration", "constructor_declaration", "compact_constructor_declaration"}),
        classes=frozenset(
            {"class_declaration", "interface_declaration", "enum_declaration", "record_declaration",
             "annotation_type_declaration"}
        ),
        comments=frozenset({"line_comment", "block_comment"}),
        imports=frozenset({"package_declaration", "import_declaration"}),
    ),
    "go": TreeSitterSpec(
        grammar="go",
        functions=frozenset({"function_declaration", "method_declaration"}),
        imports=frozenset({"package_clause", "import_declaration"}),
    ),
    "ruby": TreeSitterSpec(
        grammar="ruby",
        functions=frozenset({"method", "singleton_method"}),
        classes=frozenset({"class", "module", "singleton_class"}),
        import_calls=frozenset({"require", "require_relative", "load"}),
        body_required=False,  # `def noop; end` has no body node
    ),
    "rust": TreeSitterSpec(
        grammar="rust",
        functions=frozenset({"function_item"}),
        classes=frozenset({"impl_item", "trait_item"}),
        namespaces=frozenset({"mod_item"}),
        decorators=frozenset({"attribute_item"}),
        comments=frozenset({"line_comment", "block_comment"}),
        imports=frozenset({"use_declaration", "extern_crate_declaration"}),
    ),
    "c": TreeSitterSpec(
        grammar="c",
        functions=frozenset({"function_definition"}),
        classes=_C_CLASSES,
        imports=frozenset({"preproc_include"}),
    ),
    "cpp": TreeSitterSpec(
        grammar="cpp",
        functions=frozenset({"function_definition"}),
        classes=_C_CLASSES | {"class_specifier"},
        namespaces=frozenset({"namespace_definition"}),
        wrappers=frozenset({"template_declaration"}),
        imports=frozenset({"preproc_include", "using_declaration"}),
    ),
}
SPECS["tsx"] = TreeSitterSpec(**{**SPECS["typescript"].__dict__, "grammar": "tsx"})
