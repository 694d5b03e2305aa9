"""index.corpus.split_long_chunks: long units become a handful of parts, each with its own body text.

The bug this guards: a signature longer than the encoder window left each later part a 16-token budget
beside the whole repeated signature, so the encoder (which truncates at its window) saw only the signature:
every part got the same vector.
"""
from __future__ import annotations

import numpy as np
import pytest

from codehunt.index.chunking import chunk_source
from codehunt.index.corpus import MAX_PARTS_PER_UNIT, cut_signature, embedding_text, split_long_chunks


def words(texts: list[str]) -> list[int]:
    """A toy token counter: one token per whitespace-separated word."""
    return [len(text.split()) for text in texts]


def endpoint_source(parameters: int = 40, body_lines: int = 200) -> str:
    signature = ["def create_item("] + [f"    param_{i}: Annotated[str, Query(description='field {i}')] = None," for i in range(parameters)]
    body = [f"    total_{i} = compute_value_{i}(param_{i % parameters}, 'distinct text number {i}')" for i in range(body_lines)]
    return "\n".join(signature + ["):"] + body + ["    return total_0"]) + "\n"


def test_cut_signature_keeps_whole_lines_within_budget():
    signature = "def f(\n    a: int,\n    b: int,\n    c: int,\n):"
    assert cut_signature(signature, words, 100) == (signature, False)
    cut, was_cut = cut_signature(signature, words, 5)
    assert was_cut and cut == "def f(\n    a: int, ..."
    one_line, was_cut = cut_signature("def g(" + ", ".join(f"x{i}" for i in range(50)) + "):", words, 10)
    assert was_cut and words([one_line])[0] <= 11


def test_toy_split_caps_parts_and_keeps_every_line():
    [chunk] = chunk_source("api.py", endpoint_source(40, 200)).chunks
    parts = split_long_chunks([chunk], words, max_tokens=64, max_parts=6)
    assert len(parts) == 6
    assert all(part.unit == chunk.unit for part in parts)
    assert [part.doc_id for part in parts] == [chunk.unit] + [f"{chunk.unit}~{n}" for n in range(2, 7)]
    assert parts[-1].end_line == chunk.end_line  # the last part keeps the remaining lines (BM25 reads them)
    assert all(part.extra["signature_cut"] for part in parts)
    for part in parts[1:]:  # the repeated signature is at most a quarter of the window
        header = part.text.split("\n    ...\n")[0]
        assert words([header])[0] <= 64 // 4 + 1


@pytest.mark.slow
def test_real_tokenizer_gives_a_handful_of_distinct_parts(default_encoder):
    tokenizer = default_encoder.tokenizer

    def count(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]]

    [chunk] = chunk_source("api.py", endpoint_source(40, 200)).chunks
    parts = split_long_chunks([chunk], count, default_encoder.max_length - 2)
    assert 2 <= len(parts) <= MAX_PARTS_PER_UNIT
    bodies = [part.text.split("\n    ...\n", 1)[-1] for part in parts[1:]]
    assert len(set(bodies)) == len(bodies)
    text = "\n".join(part.text for part in parts)
    assert all(f"distinct text number {i}'" in text for i in range(200))  # every body line is in some part
    vectors = default_encoder.encode([embedding_text(part) for part in parts], "document")
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, 0.0)
    assert similarity.max() < 0.999  # no two parts embed to the same vector


def test_summary_chunks_follow_every_code_chunk_and_carry_the_docstring_summary():
    from codehunt.index.corpus import is_summary, with_summary_chunks

    source = 'def documented(x):\n    """Add one to x.\n\n    Longer text that stays out."""\n    return x + 1\n\n\ndef bare(y):\n    return y\n'
    chunks = chunk_source("m.py", source).chunks
    result = with_summary_chunks(chunks)
    assert result[: len(chunks)] == chunks  # code chunks keep their positions (BM25 indexes them)
    [summary] = result[len(chunks):]
    assert is_summary(summary) and summary.unit == "m.py::documented" and summary.doc_id == "m.py::documented~summary"
    assert summary.text == "Add one to x."
    assert embedding_text(summary) == "m.py documented\nAdd one to x."


@pytest.mark.slow
def test_json_dumps_is_found_for_its_docstring_by_default(tmp_path, default_encoder):
    """The standard library's json package: "serialize a Python object to a JSON formatted string" must return
    ``dumps`` in the top 3 of the default search (BM25 ranks it 2nd; the whole function's vector ranks it 18th)."""
    import shutil
    import sysconfig
    from pathlib import Path

    from codehunt.index.index import Index

    shutil.copytree(Path(sysconfig.get_paths()["stdlib"]) / "json", tmp_path / "src" / "json",
                    ignore=shutil.ignore_patterns("__pycache__", "tests"))
    index = Index.build(tmp_path / "src", tmp_path / "idx", encoder=default_encoder)
    top = [hit.qualname for hit in index.search("serialize a Python object to a JSON formatted string", 3)]
    assert "dumps" in top
    assert all(hit.path.startswith("json/") and "~" not in hit.doc_id for hit in index.search("encode JSON", 10))
