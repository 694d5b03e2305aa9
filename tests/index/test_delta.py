"""Updates assembled by row (index/delta.py, index/chunk_rows.py): the same index as a fresh build, reading only
what changed, from disk or from the object a server holds, and answering from memory before it is written."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from codehunt.index.chunk_file import ChunkFile
from codehunt.index.chunk_rows import ChunkRows
from codehunt.index.incremental import _ranges, stable_argsort_ids, update_index
from codehunt.index.index import Index
from codehunt.index.manifest import IndexManifest
from codehunt.index.types import Chunk
from tests.index.test_incremental import DATES, JS, LONG, NET, assert_same_index

MONEY = '''def to_cents(amount):
    """Convert an amount of money to whole cents."""
    return round(amount * 100)
'''


def chunk(name: str) -> Chunk:
    return Chunk(doc_id=name, path="p.py", qualname=name, kind="function", language="python", start_line=1,
                 end_line=1, text=f"def {name}(): pass")


def test_chunk_rows_resolve_rows_flatten_nested_ones_and_report_runs() -> None:
    a = [chunk(f"a{i}") for i in range(5)]
    b = [chunk(f"b{i}") for i in range(3)]
    rows = ChunkRows.concat([(a, range(1, 4)), (b, [0]), (a, [4])])
    assert [c.doc_id for c in rows] == ["a1", "a2", "a3", "b0", "a4"]
    assert rows[-1].doc_id == "a4" and [c.doc_id for c in rows[1:3]] == ["a2", "a3"]
    assert [(base is a, start, end) for base, start, end in rows.runs()] == [(True, 1, 4), (False, 0, 1), (True, 4, 5)]
    nested = ChunkRows.concat([(rows, [4, 0, 1]), (b, range(1, 3))])
    assert [c.doc_id for c in nested] == ["a4", "a1", "a2", "b1", "b2"]
    assert len(nested.bases) == 2  # resolved to a and b, not to the ChunkRows
    assert [(start, end) for _, start, end in nested.runs()] == [(4, 5), (1, 3), (1, 3)]
    with pytest.raises(IndexError):
        rows[5]


def test_chunk_file_raw_lines_are_the_bytes_of_the_file(tmp_path) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [json.dumps(vars(chunk(name)), ensure_ascii=False) for name in ("x", "ÿ", "z")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    chunks = ChunkFile(path)
    assert chunks.raw_lines(0, 3) == path.read_bytes()
    assert chunks.raw_lines(1, 2) == (lines[1] + "\n").encode("utf-8")
    assert chunks.raw_lines(2, 2) == b""


def test_stable_radix_argsort_and_ranges_match_numpy() -> None:
    rng = np.random.default_rng(0)
    for high in (40_000, 300_000):  # one 16-bit pass, and two
        ids = rng.integers(0, high, size=50_000).astype(np.int32)
        assert np.array_equal(stable_argsort_ids(ids), np.argsort(ids, kind="stable"))
    starts, lengths = np.array([5, 0, 9]), np.array([2, 0, 3])
    assert _ranges(starts, lengths).tolist() == [5, 6, 9, 10, 11]


def _write(src: Path, files: dict[str, str | None]) -> None:
    """Write (str) or delete (None) files, each written one an hour back: edited before the scan, not racy."""
    then = time.time() - 3600
    for name, text in files.items():
        if text is None:
            (src / name).unlink()
        else:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(text, encoding="utf-8")
            os.utime(src / name, (then, then))


def test_an_update_parses_only_the_rows_of_changed_files(tmp_path, default_encoder, monkeypatch) -> None:
    src = tmp_path / "src"
    _write(src, {"dates.py": DATES, "net.py": NET, "reverse.js": JS, "table.py": LONG})
    index_dir = tmp_path / "idx"
    Index.build(src, index_dir, encoder=default_encoder)
    old = Index.load(index_dir)
    dates_rows = sum(1 for c in old.chunks if c.path == "dates.py" and not c.doc_id.endswith("~summary"))
    parsed: list[int] = []
    real_parse = ChunkFile._parse
    monkeypatch.setattr(ChunkFile, "_parse", lambda self, position: parsed.append(position) or real_parse(self, position))
    _write(src, {"dates.py": DATES.replace('"%A"', '"%a"')})
    update_index(index_dir, encoder=default_encoder)
    monkeypatch.undo()
    assert 0 < len(parsed) <= dates_rows  # the old rows of dates.py (their units), nothing else
    assert_same_index(index_dir, _fresh(src, tmp_path / "fresh", default_encoder))


def _fresh(src: Path, output: Path, encoder) -> Path:
    Index.build(src, output, encoder=encoder, fresh=True)
    return output


def test_updates_of_a_served_object_equal_fresh_builds_and_answer_before_they_are_written(tmp_path, default_encoder) -> None:
    """Three updates in a row, each from the object the previous one returned (as ``codehunt serve`` does): edit,
    add and delete files. ``on_ready`` sees the new index searchable while the directory still holds the old one."""
    src = tmp_path / "src"
    _write(src, {"dates.py": DATES, "net.py": NET, "reverse.js": JS})
    index_dir = tmp_path / "idx"
    served = Index.build(src, index_dir, encoder=default_encoder)
    steps = [
        {"dates.py": DATES.replace('"%A"', '"%a"'), "money.py": MONEY},
        {"table.py": LONG, "net.py": None},
        {"money.py": MONEY.replace("100", "100.0")},
    ]
    for number, change in enumerate(steps):
        _write(src, change)
        before = IndexManifest.read(index_dir)
        seen: list[tuple[int, str]] = []

        def on_ready(index: Index) -> None:
            on_disk = IndexManifest.read(index_dir)
            assert on_disk.files == before.files  # not written yet
            hit = index.search("convert money to cents", 1, "hybrid")[0]
            seen.append((len(index.chunks), hit.qualname))

        updated = Index.build(src, index_dir, _config_of(index_dir), encoder=default_encoder,
                              base=served, on_ready=on_ready)
        assert len(seen) == 1 and seen[0] == (len(updated.chunks), "to_cents")
        assert updated.manifest == IndexManifest.read(index_dir)  # the manifest written, checksums and all
        assert updated.build_state is not None and updated.manifest.build["files_read"] <= 2
        assert_same_index(index_dir, _fresh(src, tmp_path / f"fresh{number}", default_encoder))
        loaded = Index.load(index_dir)
        assert list(updated.chunks) == list(loaded.chunks) and list(updated.doc_ids) == list(loaded.doc_ids)
        assert updated.manifest.unit_count == len({c.unit for c in loaded.chunks})
        for query in ("parse an ISO date", "download a url", "long table of numbers"):
            assert [h.doc_id for h in updated.search(query, 5)] == [h.doc_id for h in loaded.search(query, 5)], query
        served = updated
    assert isinstance(served.chunks, ChunkRows)


def _config_of(index_dir: Path):
    from codehunt.index.index import IndexConfig

    return IndexConfig.from_json(IndexManifest.read(index_dir).config)


class NegatedEncoder:
    """Another model (another fingerprint) whose vectors are the default model's, negated."""

    def __init__(self, encoder):  # not ``.encoder``: codehunt would read the wrapped model's settings through it
        self.inner, self.name, self.dimension = encoder, encoder.name, encoder.dimension

    def fingerprint(self) -> str:
        return "negated-" + self.inner.fingerprint()

    def encode(self, texts, kind, show_progress=False):
        return -self.inner.encode(texts, kind, show_progress)


def test_an_update_with_another_model_embeds_again_instead_of_taking_the_old_vectors(tmp_path, default_encoder) -> None:
    """Same chunking (a retrained model in the same directory), other weights: no vector of the old index is reused."""
    from tests.index.test_incremental import vectors

    src = tmp_path / "src"
    _write(src, {"dates.py": DATES, "net.py": NET})
    index_dir = tmp_path / "idx"
    Index.build(src, index_dir, encoder=default_encoder)
    before = vectors(index_dir)
    _write(src, {"dates.py": DATES.replace('"%A"', '"%a"')})
    negated = NegatedEncoder(default_encoder)
    updated = Index.build(src, index_dir, encoder=negated)
    after = vectors(index_dir)
    assert updated.manifest.encoder.fingerprint == negated.fingerprint()
    assert_same_index(index_dir, _fresh(src, tmp_path / "fresh", negated))
    unchanged = [i for i, c in enumerate(Index.load(index_dir).chunks) if c.path == "net.py"]
    assert unchanged and np.allclose(after[unchanged], -before[unchanged], atol=1e-5)
