from __future__ import annotations

import pytest

from codehunt.index.tokenize import tokenize_code


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("parseHTTPResponse2", ["parse", "http", "response", "2"]),
        ("snake_case_name", ["snake", "case", "name"]),
        ("__init__", ["init"]),
        ("XMLParser", ["xml", "parser"]),
        ("IOError", ["io", "error"]),
        ("getX", ["get", "x"]),
        ("ABC", ["abc"]),
        ("utf8", ["utf", "8"]),
        ("v2Api", ["v", "2", "api"]),
        ("HTTPServer404Error", ["http", "server", "404", "error"]),
        ("MAX_RETRY_COUNT", ["max", "retry", "count"]),
        ("self.stream.write(t)", ["self", "stream", "write", "t"]),
        ("x+=1; y = x**2  # square", ["x", "1", "y", "x", "2", "square"]),
        ("café ÉtéMode", ["café", "été", "mode"]),
        ("", []),
        ("  +-*/ ()\n\t", []),
    ],
)
def test_tokenize_code_exact(text: str, expected: list[str]) -> None:
    assert tokenize_code(text) == expected


def test_tokenize_code_on_a_real_function() -> None:
    source = (
        "def writeBoolean(self, n):\n"
        '    """Writes a Boolean to the stream."""\n'
        "    t = TYPE_BOOL_TRUE\n"
        "    if n is False:\n"
        "        t = TYPE_BOOL_FALSE\n"
        "    self.stream.write(t)"
    )
    assert tokenize_code(source) == [
        "def", "write", "boolean", "self", "n",
        "writes", "a", "boolean", "to", "the", "stream",
        "t", "type", "bool", "true",
        "if", "n", "is", "false",
        "t", "type", "bool", "false",
        "self", "stream", "write", "t",
    ]  # fmt: skip
