"""Chunkers on real source snippets: exact qualnames, kinds and 1-based lines, written out by hand."""
from __future__ import annotations

import textwrap

import pytest

from codehunt.index.chunking import CHUNKER_VERSION, ChunkConfig, ChunkResult, chunk_source, language_for_path
from codehunt.index.chunking import treesitter
from codehunt.index.chunking.windows import chunk_windows, to_ranges, trim_blank
from codehunt.index.errors import ConfigError
from codehunt.index.types import Chunk


def _src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _table(result: ChunkResult) -> list[tuple[str, str, int, int]]:
    return [(c.doc_id, c.kind, c.start_line, c.end_line) for c in result.chunks]


def _by_qualname(result: ChunkResult) -> dict[str, Chunk]:
    """The first chunk of each qualname (overloads and redefinitions come later)."""
    first: dict[str, Chunk] = {}
    for chunk in result.chunks:
        first.setdefault(chunk.qualname, chunk)
    return first


# ---------------------------------------------------------------- Python

PY = _src(
    '''
    """Tools for fetching."""
    import os
    from typing import Any

    RETRIES = 3
    TIMEOUT = 2.0


    def deco(f):
        return f


    @deco
    @deco
    async def fetch(url: str,
                    timeout: float = 1.0) -> bytes:
        """Fetch a URL.

        Returns the body.
        """
        def inner():
            return 1
        return b""


    class Client(Base, metaclass=Meta):
        """A client."""

        retries = RETRIES

        class Options:
            def merged(self): return {}

        @property
        def value(self):
            return self._v

        @value.setter
        def value(self, v):
            self._v = v


    def one(): "Doc."; return 1
    print(RETRIES)
    '''
)


def test_python_units_and_exact_lines() -> None:
    result = chunk_source("pkg/net.py", PY)
    assert result.skip is None
    assert _table(result) == [
        ("pkg/net.py::<module>", "module", 1, 44),
        ("pkg/net.py::deco", "function", 9, 10),
        ("pkg/net.py::fetch", "function", 13, 23),  # decorators included, `inner` stays inside
        ("pkg/net.py::Client", "class", 26, 29),  # header, docstring, attribute; not the methods
        ("pkg/net.py::Client.Options.merged", "method", 32, 32),  # Options has only a method: no class chunk
        ("pkg/net.py::Client.value", "method", 34, 36),
        ("pkg/net.py::Client.value@L38", "method", 38, 40),  # the setter repeats the getter's qualname
        ("pkg/net.py::one", "function", 43, 43),
    ]
    for chunk in result.chunks:
        assert chunk.unit_id == chunk.doc_id and chunk.language == "python" and chunk.path == "pkg/net.py"


def test_python_text_is_the_exact_source_lines() -> None:
    chunks = _by_qualname(chunk_source("pkg/net.py", PY))
    lines = PY.split("\n")
    fetch = chunks["fetch"]
    assert fetch.text == "\n".join(lines[12:23])
    assert fetch.text.startswith("@deco\n@deco\nasync def fetch(url: str,")
    merged = chunks["Client.Options.merged"]
    assert merged.text == "        def merged(self): return {}"
    client = chunks["Client"]
    assert client.text == 'class Client(Base, metaclass=Meta):\n    """A client."""\n\n    retries = RETRIES'
    assert client.extra["line_ranges"] == [[26, 29]]


def test_python_module_chunk_lines() -> None:
    module = _by_qualname(chunk_source("pkg/net.py", PY))["<module>"]
    assert module.text == '"""Tools for fetching."""\nimport os\nfrom typing import Any\n\nRETRIES = 3\nTIMEOUT = 2.0\nprint(RETRIES)'
    assert module.extra["line_ranges"] == [[1, 6], [44, 44]]
    assert (module.start_line, module.end_line) == (1, 44)
    assert module.extra["docstring"] == "Tools for fetching."


def test_python_docstring_signature_and_body_without_docstring() -> None:
    chunks = _by_qualname(chunk_source("pkg/net.py", PY))
    fetch = chunks["fetch"]
    assert fetch.extra["docstring"] == "Fetch a URL.\n\nReturns the body."
    assert fetch.extra["signature"] == "@deco\n@deco\nasync def fetch(url: str,\n                timeout: float = 1.0) -> bytes:"
    assert fetch.extra["body_without_docstring"] == (
        "@deco\n@deco\nasync def fetch(url: str,\n                timeout: float = 1.0) -> bytes:\n"
        "    def inner():\n        return 1\n    return b\"\""
    )
    one = chunks["one"]
    assert one.extra["docstring"] == "Doc."
    assert one.extra["signature"] == 'def one(): "Doc."; return 1'
    assert one.extra["body_without_docstring"] == "def one(): return 1"
    client = chunks["Client"]
    assert client.extra["docstring"] == "A client."
    assert client.extra["signature"] == "class Client(Base, metaclass=Meta):"
    assert client.extra["body_without_docstring"] == "class Client(Base, metaclass=Meta):\n\n    retries = RETRIES"
    deco = chunks["deco"]
    assert deco.extra["docstring"] == "" and deco.extra["body_without_docstring"] == deco.text


def test_python_signature_ignores_colons_inside_brackets_and_lambdas() -> None:
    text = _src(
        """
        def f(a: dict[str, int] = {"k": 1},
              g=lambda x: x,
              ) -> "T":
            return a
        """
    )
    chunk = chunk_source("m.py", text).chunks[0]
    assert chunk.extra["signature"] == 'def f(a: dict[str, int] = {"k": 1},\n      g=lambda x: x,\n      ) -> "T":'


def test_python_module_code_needs_more_than_imports() -> None:
    imports_only = "import os\nimport sys\nfrom a import (\n    b,\n    c,\n)\n\n\ndef f():\n    return os.sep\n"
    assert [c.qualname for c in chunk_source("m.py", imports_only).chunks] == ["f"]
    with_code = imports_only + "\nX = 1\nY = 2\nprint(X, Y)\n"
    assert [c.qualname for c in chunk_source("m.py", with_code).chunks] == ["<module>", "f"]
    config = ChunkConfig(min_module_lines=4)
    assert [c.qualname for c in chunk_source("m.py", with_code, config).chunks] == ["f"]


def test_python_defs_in_if_blocks_are_found_and_deduplicated() -> None:
    text = _src(
        """
        import sys
        if sys.platform == "win32":
            def home():
                return "C:/"
        else:
            def home():
                return "/"
        """
    )
    assert _table(chunk_source("p.py", text)) == [
        ("p.py::home", "function", 3, 4),
        ("p.py::home@L6", "function", 6, 7),
    ]


def test_python_syntax_error_falls_back_to_windows_with_skip() -> None:
    text = "def ok():\n    return 1\n\ndef broken(:\n    pass\n"
    result = chunk_source("bad.py", text)
    assert result.skip is not None
    assert (result.skip.path, result.skip.reason) == ("bad.py", "parse-error-fallback")
    assert result.skip.detail.startswith("SyntaxError line 4:")
    assert _table(result) == [("bad.py#L1-L5", "window", 1, 5)]
    assert result.chunks[0].text == text.rstrip("\n")


def test_python_without_definitions_is_cut_into_windows() -> None:
    text = "".join(f"x{i} = {i}\n" for i in range(1, 71))
    result = chunk_source("script.py", text)
    assert result.skip is None
    assert _table(result) == [("script.py#L1-L60", "window", 1, 60), ("script.py#L51-L70", "window", 51, 70)]


# ---------------------------------------------------------------- tree-sitter languages

JS = _src(
    """
    import { x } from "y";
    // Adds two numbers.
    // Returns the sum.
    function add(a, b) {
      return a + b;
    }

    /** A shape. */
    class Shape {
      static sides = 0;
      area() {
        return 0;
      }
    }
    const mul = (a, b) => a * b;
    const api = { get() { return 1; } };
    Shape.prototype.scale = function (k) {
      return k;
    };
    export default function main() {
      function helper() {}
    }
    """
)
TS = _src(
    """
    // Greets.
    export function greet(name: string): string {
      return name;
    }
    export function over(a: number): number;
    export function over(a: any): any { return a; }
    @Component({})
    export class View<T> {
      @Input() handler = (e: T) => e;
      render(): void {}
    }
    namespace NS {
      export function inner() {}
    }
    """
)
TSX = _src(
    """
    export const App = (props: Props) => {
      return <div>{props.x}</div>;
    };
    function Comp(): JSX.Element { return <span />; }
    """
)
JAVA = _src(
    """
    package a.b;

    import java.util.List;

    /**
     * A counter.
     */
    public class Counter {
        private int n = 0;

        public Counter(int n) { this.n = n; }

        /** Current value. */
        @Override
        public int get() {
            return n;
        }

        public int get(int k) { return n + k; }

        static class Inner {
            void run() {}
        }

        interface Api {
            void ping();
        }
    }
    """
)
GO = _src(
    """
    package geo

    import "math"

    // Point is a point.
    type Point struct {
    	X, Y float64
    }

    const Zero = 0

    // Dist returns the distance.
    // To the origin.
    func (p *Point) Dist() float64 {
    	return math.Hypot(p.X, p.Y)
    }

    func (l List[T]) Len() int { return 0 }

    func Add(a, b int) int {
    	f := func() int { return a }
    	return f() + b
    }
    """
)
RUBY = _src(
    """
    require "json"

    # Shapes.
    module Geo
      # A square.
      class Square < Shape
        SIDES = 4

        # Area.
        def area
          @side * @side
        end

        def self.unit
          new(1)
        end
      end
    end

    def helper(x) = x
    """
)
RUST = _src(
    """
    use std::fmt;

    /// A point.
    pub struct Point { x: i32 }

    impl Point {
        /// Makes one.
        #[inline]
        pub fn new(x: i32) -> Self {
            Point { x }
        }
    }

    impl fmt::Display for Point {
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result { write!(f, "{}", self.x) }
    }

    fn main() {
        fn nested() {}
    }

    mod tests {
        #[test]
        fn it_works() {}
    }
    """
)
C = _src(
    """
    #include <stdio.h>

    /* Adds two ints. */
    static int add(int a, int b)
    {
        return a + b;
    }

    char *dup(const char *s) { return 0; }

    struct point {
        int x;
        int y;
    };
    """
)
CPP = _src(
    """
    #include <vector>
    namespace geo {
    // A widget.
    class Widget {
     public:
      Widget() {}
      int size() const { return n_; }
     private:
      int n_ = 0;
    };
    int Widget::count() { return 1; }
    template <typename T>
    T maxof(T a, T b) { return a > b ? a : b; }
    }  // namespace geo
    """
)

TREE_SITTER_CASES = [
    pytest.param("web/math.js", JS, [
        ("web/math.js::add", "function", 2, 6),  # the leading comment block is part of the unit
        ("web/math.js::Shape", "class", 8, 14),
        ("web/math.js::Shape.area", "method", 11, 13),
        ("web/math.js::mul", "function", 15, 15),
        ("web/math.js::api.get", "function", 16, 16),
        ("web/math.js::Shape.prototype.scale", "function", 17, 19),
        ("web/math.js::main", "function", 20, 22),  # `helper` stays inside main
    ], id="javascript"),
    pytest.param("src/view.ts", TS, [
        ("src/view.ts::greet", "function", 1, 4),
        ("src/view.ts::over", "function", 6, 6),  # the overload signature on line 5 has no body
        ("src/view.ts::View.handler", "method", 9, 9),
        ("src/view.ts::View.render", "method", 10, 10),
        ("src/view.ts::NS.inner", "function", 13, 13),
    ], id="typescript"),
    pytest.param("src/app.tsx", TSX, [
        ("src/app.tsx::App", "function", 1, 3),
        ("src/app.tsx::Comp", "function", 4, 4),
    ], id="tsx"),
    pytest.param("src/Counter.java", JAVA, [
        ("src/Counter.java::Counter", "class", 5, 28),
        ("src/Counter.java::Counter.Counter", "method", 11, 11),
        ("src/Counter.java::Counter.get", "method", 13, 17),
        ("src/Counter.java::Counter.get@L19", "method", 19, 19),  # overload
        ("src/Counter.java::Counter.Inner.run", "method", 22, 22),
        ("src/Counter.java::Counter.Api", "class", 25, 27),  # an interface of signatures only
    ], id="java"),
    pytest.param("geo/point.go", GO, [
        ("geo/point.go::<module>", "module", 1, 10),  # package, imports, the type and the const
        ("geo/point.go::Point.Dist", "method", 12, 16),
        ("geo/point.go::List.Len", "method", 18, 18),
        ("geo/point.go::Add", "function", 20, 23),  # the func literal stays inside
    ], id="go"),
    pytest.param("lib/geo.rb", RUBY, [
        ("lib/geo.rb::Geo", "class", 3, 18),  # header and `end` only, but it has a doc comment
        ("lib/geo.rb::Geo.Square", "class", 5, 17),
        ("lib/geo.rb::Geo.Square.area", "method", 9, 12),
        ("lib/geo.rb::Geo.Square.unit", "method", 14, 16),
        ("lib/geo.rb::helper", "function", 20, 20),
    ], id="ruby"),
    pytest.param("src/point.rs", RUST, [
        ("src/point.rs::Point.new", "method", 7, 11),  # doc comment and #[inline] included
        ("src/point.rs::Point.fmt", "method", 15, 15),  # impl Display for Point -> Point.fmt
        ("src/point.rs::main", "function", 18, 20),  # `nested` stays inside
        ("src/point.rs::tests.it_works", "function", 23, 24),  # with its #[test] attribute
    ], id="rust"),
    pytest.param("src/add.c", C, [
        ("src/add.c::add", "function", 3, 7),
        ("src/add.c::dup", "function", 9, 9),
        ("src/add.c::point", "class", 11, 14),
    ], id="c"),
    pytest.param("src/widget.cpp", CPP, [
        ("src/widget.cpp::geo.Widget", "class", 3, 10),
        ("src/widget.cpp::geo.Widget.Widget", "method", 6, 6),
        ("src/widget.cpp::geo.Widget.size", "method", 7, 7),
        ("src/widget.cpp::geo.Widget.count", "method", 11, 11),
        ("src/widget.cpp::geo.maxof", "function", 12, 13),  # the template line belongs to the function
    ], id="cpp"),
]


@pytest.mark.parametrize(("path", "text", "expected"), TREE_SITTER_CASES)
def test_tree_sitter_units_and_exact_lines(path: str, text: str, expected: list[tuple[str, str, int, int]]) -> None:
    result = chunk_source(path, text)
    assert result.skip is None, result.skip
    assert _table(result) == expected
    lines = text.split("\n")
    for chunk in result.chunks:
        assert chunk.language == language_for_path(path)
        if chunk.kind in ("function", "method"):
            assert chunk.text == "\n".join(lines[chunk.start_line - 1 : chunk.end_line])


@pytest.mark.parametrize(
    ("path", "text", "qualname", "docstring", "signature"),
    [
        pytest.param("a.js", JS, "add", "Adds two numbers.\nReturns the sum.", "function add(a, b) {", id="js-line-comments"),
        pytest.param("a.js", JS, "Shape", "A shape.", "class Shape {", id="js-jsdoc-class"),
        pytest.param("a.ts", TS, "View.render", "", "  render(): void {}", id="ts-no-comment"),
        pytest.param("A.java", JAVA, "Counter.get", "Current value.", "    @Override\n    public int get() {", id="java-javadoc"),
        pytest.param("A.java", JAVA, "Counter", "A counter.", "public class Counter {", id="java-class"),
        pytest.param("p.go", GO, "Point.Dist", "Dist returns the distance.\nTo the origin.", "func (p *Point) Dist() float64 {", id="go"),
        pytest.param("g.rb", RUBY, "Geo.Square.area", "Area.", "    def area", id="ruby"),
        pytest.param("g.rb", RUBY, "Geo.Square", "A square.", "  class Square < Shape", id="ruby-class"),
        pytest.param("p.rs", RUST, "Point.new", "Makes one.", "    #[inline]\n    pub fn new(x: i32) -> Self {", id="rust-doc-and-attribute"),
        pytest.param("a.c", C, "add", "Adds two ints.", "static int add(int a, int b)\n{", id="c-allman-brace"),
        pytest.param("w.cpp", CPP, "geo.maxof", "", "template <typename T>\nT maxof(T a, T b) { return a > b ? a : b; }", id="cpp-template"),
    ],
)
def test_tree_sitter_docstring_and_signature(path: str, text: str, qualname: str, docstring: str, signature: str) -> None:
    chunk = _by_qualname(chunk_source(path, text))[qualname]
    assert chunk.extra["docstring"] == docstring
    assert chunk.extra["signature"] == signature
    body = chunk.extra["body_without_docstring"]
    assert body.startswith(signature.split("\n")[0])
    if docstring and chunk.kind != "class":
        assert chunk.text.endswith(body) and len(body) < len(chunk.text)


def test_tree_sitter_class_chunk_keeps_lines_outside_methods() -> None:
    counter = _by_qualname(chunk_source("A.java", JAVA))["Counter"]
    assert counter.extra["line_ranges"] == [[5, 9], [28, 28]]
    assert counter.text == "/**\n * A counter.\n */\npublic class Counter {\n    private int n = 0;\n}"


def test_tree_sitter_file_without_definitions_is_windowed() -> None:
    text = "".join(f"const x{i} = {i};\n" for i in range(1, 66))
    result = chunk_source("consts.js", text)
    assert result.skip is None
    assert _table(result) == [("consts.js#L1-L60", "window", 1, 60), ("consts.js#L51-L65", "window", 51, 65)]


def test_tree_sitter_mostly_broken_file_falls_back() -> None:
    text = "func ( { ] ) ) }\n<<<< ==== >>>>\nfunc (((\n"
    result = chunk_source("bad.go", text)
    assert result.skip is not None and result.skip.reason == "parse-error-fallback"
    assert result.skip.detail.startswith("tree-sitter go: syntax errors cover")
    assert _table(result) == [("bad.go#L1-L3", "window", 1, 3)]


def test_tree_sitter_small_error_keeps_structure() -> None:
    text = GO + "\nfunc broken( {\n"
    result = chunk_source("geo/point.go", text)
    assert result.skip is None
    assert "geo/point.go::Add" in [c.doc_id for c in result.chunks]


def test_missing_grammar_falls_back_with_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(treesitter, "load_language", lambda grammar: None)
    result = chunk_source("x.rs", RUST)
    assert result.skip is not None
    assert (result.skip.reason, result.skip.detail) == ("parser-unavailable", "no tree-sitter grammar for rust is installed")
    assert [c.kind for c in result.chunks] == ["window"]
    assert result.chunks[0].end_line == RUST.count("\n")


# ---------------------------------------------------------------- windows, edge cases, API


def test_windows_overlap_and_last_window() -> None:
    text = "\n".join(f"line {i}" for i in range(1, 121))
    chunks = chunk_windows("notes.txt", text, "text", window_lines=50, window_overlap=20)
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 50), (31, 80), (61, 110), (91, 120)]
    assert chunks[1].text.split("\n")[0] == "line 31" and chunks[1].text.split("\n")[-1] == "line 80"
    assert [c.doc_id for c in chunks][:2] == ["notes.txt#L1-L50", "notes.txt#L31-L80"]
    assert chunks[0].qualname == "L1-L50" and chunks[0].unit_id == chunks[0].doc_id


def test_windows_drop_whitespace_only_windows() -> None:
    text = "a\n" + "\n" * 70 + "b\n"
    chunks = chunk_windows("f.txt", text, "text", window_lines=10, window_overlap=0)
    assert [(c.start_line, c.end_line, c.text.strip()) for c in chunks] == [(1, 10, "a"), (71, 72, "b")]


def test_plain_file_gets_windows_without_skip() -> None:
    result = chunk_source("README.txt", "hello\nworld\n")
    assert result.skip is None
    assert _table(result) == [("README.txt#L1-L2", "window", 1, 2)]
    assert result.chunks[0].language == "text"


@pytest.mark.parametrize("path", ["e.py", "e.js", "e.go", "e.txt", "e.rs"])
@pytest.mark.parametrize("text", ["", "   ", "\n\n\t\n", "\ufeff\n"])
def test_empty_or_whitespace_file_gives_no_chunks(path: str, text: str) -> None:
    assert chunk_source(path, text) == ChunkResult([], None)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("huge.py", "x = [" + "1, " * 200_000 + "]\n"),
        ("deep.py", "x = " + "(" * 5000 + ")" * 5000 + "\n"),
        ("huge.js", "var a = [" + "1," * 200_000 + "];"),
        ("deep.js", "f(" * 3000 + ")" * 3000),
        ("nul.py", "def f():\n    return '\x00'\n"),
        ("surrogate.py", "x = '\udcff'\n"),
        ("surrogate.go", "package x\nvar s = \"\udcff\"\nfunc f() {}\n"),
        ("cr.c", "int f(void)\r{\r  return 0;\r}\r"),
    ],
)
def test_odd_inputs_never_raise(path: str, text: str) -> None:
    result = chunk_source(path, text)
    assert result.chunks, "a file with text always yields at least one chunk"
    assert all(c.text.strip() for c in result.chunks)
    assert len({c.doc_id for c in result.chunks}) == len(result.chunks)


def test_minified_line_is_windowed_not_copied_per_function() -> None:
    line = ";".join(f"function f{i}(a){{return a+{i}}}" for i in range(400))  # about 10,000 characters
    result = chunk_source("dist/app.min.js", "/* bundle */\n" + line + "\n")
    assert result.skip is not None and result.skip.reason == "long-line-fallback"
    assert result.skip.detail == f"line 2 has {len(line)} characters"
    assert _table(result) == [("dist/app.min.js#L1-L2", "window", 1, 2)]
    relaxed = chunk_source("dist/app.min.js", line, ChunkConfig(max_line_chars=len(line)))
    assert relaxed.skip is None and len(relaxed.chunks) == 400


def test_carriage_returns_count_as_line_ends() -> None:
    result = chunk_source("cr.c", "int x;\r\nint f(void)\r\n{\r\n  return 0;\r\n}\r\n")
    assert _table(result) == [("cr.c::f", "function", 2, 5)]
    assert "\r" not in result.chunks[0].text


@pytest.mark.parametrize(
    ("path", "language"),
    [("a/b.py", "python"), ("x.PYI", "python"), ("w.mjs", "javascript"), ("c.jsx", "javascript"),
     ("t.ts", "typescript"), ("t.tsx", "tsx"), ("J.java", "java"), ("m.go", "go"), ("r.rb", "ruby"),
     ("l.rs", "rust"), ("h.h", "c"), ("k.c", "c"), ("p.hpp", "cpp"), ("q.cc", "cpp"),
     ("README.md", None), ("Makefile", None), ("data.json", None), ("dir.py/file", None)],
)
def test_language_for_path(path: str, language: str | None) -> None:
    assert language_for_path(path) == language


def test_config_validation_and_version() -> None:
    assert CHUNKER_VERSION == "2"
    with pytest.raises(ConfigError, match="window_overlap"):
        ChunkConfig(window_lines=10, window_overlap=10)
    with pytest.raises(ConfigError, match="max_error_fraction"):
        ChunkConfig(max_error_fraction=1.5)
    custom = ChunkConfig(window_lines=3, window_overlap=1)
    result = chunk_source("n.txt", "a\nb\nc\nd\ne\n", custom)
    assert [(c.start_line, c.end_line) for c in result.chunks] == [(1, 3), (3, 5)]


def test_line_helpers() -> None:
    assert to_ranges([7, 1, 2, 3, 9, 8]) == [(1, 3), (7, 9)]
    assert trim_blank([1, 2, 3, 4, 6, 7], ["", "a", "", "", "x", "b", " "]) == [2, 6]
