"""The one JSONL reader every input goes through: blank lines, line numbers, clear errors."""
from __future__ import annotations

import pytest

from codehunt.index.errors import BadInputError
from codehunt.index.storage import read_jsonl_objects


def test_yields_objects_with_their_line_numbers_and_skips_blank_lines(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n  \n{"a": 2}\n', encoding="utf-8")
    assert list(read_jsonl_objects(path, "a")) == [(1, {"a": 1}), (4, {"a": 2})]


@pytest.mark.parametrize(("line", "complaint"), [("{not json", "not JSON"), ("[1, 2]", "not a JSON object")])
def test_a_bad_line_names_file_line_and_what_was_expected(tmp_path, line, complaint):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"query": "q"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(BadInputError) as error:
        list(read_jsonl_objects(path, "query and code"))
    message = str(error.value)
    assert f"{path}:2:" in message and complaint in message and "expected query and code" in message
