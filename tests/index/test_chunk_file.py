"""``ChunkFile``: corpus.jsonl read lazily must give exactly the chunks a full parse gives."""
from __future__ import annotations

import json
import pickle

import pytest

from codehunt.index.chunk_file import ChunkFile
from codehunt.index.errors import CorruptIndexError
from codehunt.index.types import Chunk


def make_chunks(n: int) -> list[Chunk]:
    return [
        Chunk(doc_id=f"m.py::f{i}", path="m.py", qualname=f"f{i}", kind="function", language="python",
              start_line=i * 3 + 1, end_line=i * 3 + 2, text=f"def f{i}():\n    return 'ünïcode {i}'", extra={"n": i})
        for i in range(n)
    ]


def write_corpus(path, chunks, trailing_newline=True):
    text = "\n".join(json.dumps(c.to_json(), ensure_ascii=False) for c in chunks)
    path.write_text(text + ("\n" if trailing_newline and chunks else ""), encoding="utf-8")
    return path


@pytest.mark.parametrize("trailing_newline", [True, False])
def test_reads_what_a_full_parse_reads(tmp_path, trailing_newline):
    chunks = make_chunks(5)
    lazy = ChunkFile(write_corpus(tmp_path / "corpus.jsonl", chunks, trailing_newline))
    assert len(lazy) == 5
    assert lazy[3] == chunks[3] and lazy[-1] == chunks[4] and lazy[0] == chunks[0]
    assert lazy[1:4] == chunks[1:4]
    assert list(lazy) == chunks and lazy == chunks
    assert lazy[2] is lazy[2]  # parsed once, then cached


@pytest.mark.parametrize("trailing_newline", [True, False])
def test_line_ends_found_across_scan_blocks(tmp_path, monkeypatch, trailing_newline):
    """The newline scan runs block by block; a block edge inside a line or on a newline must not lose or
    split lines (a 7-byte block puts edges everywhere)."""
    import codehunt.index.chunk_file as chunk_file

    monkeypatch.setattr(chunk_file, "_SCAN_BLOCK", 7)
    chunks = make_chunks(9)
    lazy = ChunkFile(write_corpus(tmp_path / "corpus.jsonl", chunks, trailing_newline))
    assert list(lazy) == chunks


def test_out_of_range_and_empty(tmp_path):
    lazy = ChunkFile(write_corpus(tmp_path / "corpus.jsonl", make_chunks(2)))
    with pytest.raises(IndexError):
        lazy[2]
    with pytest.raises(IndexError):
        lazy[-3]
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert len(ChunkFile(tmp_path / "empty.jsonl")) == 0 and list(ChunkFile(tmp_path / "empty.jsonl")) == []


def test_a_corrupted_line_is_named_when_read(tmp_path):
    path = write_corpus(tmp_path / "corpus.jsonl", make_chunks(3))
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1][:-5]  # a cut-off record
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    lazy = ChunkFile(path)
    assert lazy[0].qualname == "f0" and lazy[2].qualname == "f2"  # the intact lines still read
    with pytest.raises(CorruptIndexError, match=r"corpus.jsonl:2 is corrupted.*rebuild the index"):
        lazy[1]


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CorruptIndexError, match=r"corpus.jsonl is missing"):
        ChunkFile(tmp_path / "corpus.jsonl")


def test_pickles_as_the_list_it_stands_for(tmp_path):
    chunks = make_chunks(3)
    restored = pickle.loads(pickle.dumps(ChunkFile(write_corpus(tmp_path / "corpus.jsonl", chunks))))
    assert restored == chunks and isinstance(restored, list)


def test_the_open_file_is_kept_when_the_path_is_replaced(tmp_path):
    path = write_corpus(tmp_path / "corpus.jsonl", make_chunks(3))
    lazy = ChunkFile(path)
    replacement = write_corpus(tmp_path / "new.jsonl", make_chunks(1))
    replacement.replace(path)  # what an atomic republish does
    assert lazy[2].qualname == "f2" and len(lazy) == 3
