"""Incremental indexing on real git repositories and directories with the real default model.

An update must be the index a fresh build makes (same ids, corpus and skips, BM25 arrays and scores,
vectors to 1e-5), while reading only changed files and embedding only texts never embedded; a build
killed mid-embedding must resume from the vectors it stored.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from codehunt.index.bm25 import BM25Index
from codehunt.index.corpus import bm25_text, embedding_text, is_summary
from codehunt.index.encoder import EncoderConfig
from codehunt.index.index import EMBEDDINGS_DIR, Index, IndexConfig
from codehunt.index import incremental
from codehunt.index.incremental import FILES_NAME, blob_id, update_index
from codehunt.index.tokenize import tokenize_code
from codehunt.index.types import Chunk

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e",
       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

DATES = '''import datetime


def parse_iso_date(text):
    """Parse an ISO 8601 date such as 2024-05-01."""
    return datetime.date.fromisoformat(text)


def weekday_name(day):
    return day.strftime("%A")
'''

NET = '''def download_file(url, destination):
    """Download a URL and save the body to a file."""
    import urllib.request
    with urllib.request.urlopen(url) as response, open(destination, "wb") as handle:
        handle.write(response.read())
'''

JS = '''// Reverse the characters of a string.
function reverseString(s) {
  return s.split("").reverse().join("");
}
'''

LONG = "def long_table():\n    \"\"\"A long table of numbers.\"\"\"\n" + "".join(
    f"    value_{i} = compute_something_{i}(argument_{i}, other_{i}) + {i}\n" for i in range(60)
) + "    return value_0\n"


def git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, env={**os.environ, **ENV}, check=True, capture_output=True, text=True)
    return result.stdout.strip()


def commit(root: Path, files: dict[str, str | None], message: str) -> str:
    """Write (str) or delete (None) files, commit them, return the commit id."""
    for name, text in files.items():
        path = root / name
        if text is None:
            git(root, "rm", "-q", name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            git(root, "add", name)
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


class CountingEncoder:
    """The real encoder, recording every text that reaches it; ``fail_after`` calls, it raises (a killed build)."""

    def __init__(self, encoder, fail_after: int | None = None):
        self.encoder = encoder
        self.name, self.dimension = encoder.name, encoder.dimension
        self.seen: list[str] = []
        self.calls = 0
        self.fail_after = fail_after

    def fingerprint(self) -> str:
        return self.encoder.fingerprint()

    def encode(self, texts, kind, show_progress=False):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("killed")
        self.calls += 1
        self.seen.extend(texts)
        return self.encoder.encode(texts, kind, show_progress)


def vectors(index_dir: Path) -> np.ndarray:
    import faiss

    dense = faiss.read_index(str(index_dir / "dense.faiss"))
    return dense.reconstruct_n(0, dense.ntotal)  # (n, dim)


def assert_same_index(updated: Path, fresh: Path) -> None:
    """Everything a search reads is the same: ids, chunks, skips, file records, BM25 arrays and scores, vectors."""
    for name in ("ids.json", "corpus.jsonl", "skipped.jsonl"):
        assert (updated / name).read_bytes() == (fresh / name).read_bytes(), name
    for name in sorted(p.name for p in (fresh / "bm25").iterdir()):
        assert (updated / "bm25" / name).read_bytes() == (fresh / "bm25" / name).read_bytes(), name
    a, b = Index.load(updated), Index.load(fresh)
    # Both were built from per-document terms (bm25_terms/, reused rows copied): the reference tokenizes everything.
    reference = BM25Index.build([tokenize_code(bm25_text(chunk)) for chunk in a.chunks if not is_summary(chunk)])
    for name in ("vocabulary", "offsets", "doc_ids", "tfs", "doc_lens", "idf"):
        assert np.array_equal(np.asarray(getattr(a.bm25, name)), np.asarray(getattr(reference, name))), name
    for query in ("parse an ISO date", "download a url to a file", "reverse string", "value compute"):
        assert np.array_equal(a.bm25.scores(tokenize_code(query)), b.bm25.scores(tokenize_code(query))), query
    left, right = vectors(updated), vectors(fresh)
    assert left.shape == right.shape and left.shape[0] == len(a.chunks)
    np.testing.assert_allclose(left, right, atol=vector_tolerance(b.manifest.encoder.precision), rtol=0)


def vector_tolerance(precision: str) -> float:
    """How far two embeddings of one text, made in different batches, may differ. In fp32 they agree to 1e-5.
    Under bf16 autocast (precision auto on a CPU with AVX512-BF16 or AMX) a batch's length changes how the
    matmuls round: up to ~6e-4 per component was seen, against ~0.1 between the vectors of different texts."""
    return 2e-3 if precision == "bf16" else 1e-5


def texts_of(index_dir: Path) -> set[str]:
    return {embedding_text(chunk) for chunk in Index.load(index_dir).chunks}


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, list[str]]:
    """A repository with four commits: add; modify one file and add one; delete one, rename one; add a long unit."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    commits = [
        commit(root, {"dates.py": DATES, "net.py": NET, "web/reverse.js": JS, "README.md": "# shop\n", "data.bin": "\0\0\0"}, "add"),
        commit(root, {"dates.py": DATES.replace('return day.strftime("%A")', 'return day.strftime("%a").upper()'),
                      "money.py": "def to_cents(amount):\n    return round(amount * 100)\n"}, "modify, add"),
    ]
    (root / "lib").mkdir()
    git(root, "mv", "web/reverse.js", "lib/reverse.js")
    commits.append(commit(root, {"net.py": None}, "delete, rename"))
    commits.append(commit(root, {"table.py": LONG}, "long unit"))
    return root, commits


def test_git_updates_equal_fresh_builds_and_embed_only_new_texts(repo, tmp_path, default_encoder) -> None:
    root, commits = repo
    counting = CountingEncoder(default_encoder)
    index_dir = tmp_path / "idx"
    Index.build(root, index_dir, rev=commits[0], encoder=counting)
    embedded = set(counting.seen)
    assert embedded == texts_of(index_dir)
    for number, rev in enumerate(commits[1:], start=1):
        counting.seen.clear()
        updated = update_index(index_dir, rev=rev, encoder=counting)
        fresh_dir = tmp_path / f"fresh{number}"
        Index.build(root, fresh_dir, rev=rev, encoder=default_encoder)
        assert_same_index(index_dir, fresh_dir)
        assert (index_dir / FILES_NAME).read_bytes() == (fresh_dir / FILES_NAME).read_bytes()
        new_texts = texts_of(fresh_dir) - embedded
        assert sorted(counting.seen) == sorted(new_texts)  # each new text once, no old text again
        embedded |= new_texts
        assert updated.manifest.source == {"kind": "git", "path": str(root.resolve()), "rev": rev, "commit": rev}
    # Commit 2 changed dates.py and added money.py: net.py and reverse.js were taken unread.
    # Commit 4 added table.py, long enough to be split: its parts come from the split, the rest unread.
    assert updated.manifest.build["files_read"] == 1 and updated.manifest.build["files_reused"] == 3
    assert any(chunk.doc_id == "table.py::long_table~2" for chunk in updated.chunks)
    # Moving back to the first commit re-embeds nothing: every text is in the store.
    counting.seen.clear()
    update_index(index_dir, rev=commits[0], encoder=counting)
    assert counting.seen == []
    assert_same_index(index_dir, _fresh(root, tmp_path / "fresh0", commits[0], default_encoder))


def _fresh(root: Path, output: Path, rev: str | None, encoder, config: IndexConfig = IndexConfig()) -> Path:
    Index.build(root, output, config, rev=rev, encoder=encoder)
    return output


def backdate(root: Path, seconds: float = 3600) -> None:
    """Give every file an mtime well before the scan, so a record of it is not racy."""
    then = time.time() - seconds
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


def test_directory_update_reads_only_changed_files_and_embeds_only_changed_units(tmp_path, default_encoder, monkeypatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "dates.py").write_text(DATES, encoding="utf-8")
    (src / "net.py").write_text(NET, encoding="utf-8")
    (src / "reverse.js").write_text(JS, encoding="utf-8")
    backdate(src)
    counting = CountingEncoder(default_encoder)
    index_dir = tmp_path / "idx"
    Index.build(src, index_dir, encoder=counting)
    before = texts_of(index_dir)
    records = [json.loads(line) for line in (index_dir / FILES_NAME).read_text(encoding="utf-8").splitlines()]
    assert [(r["path"], r["blob"], r["racy"]) for r in records] == [
        ("dates.py", blob_id(DATES.encode()), False), ("net.py", blob_id(NET.encode()), False),
        ("reverse.js", blob_id(JS.encode()), False),
    ]
    # Change one function of dates.py; touch net.py without changing it; leave reverse.js alone.
    (src / "dates.py").write_text(DATES.replace('"%A"', '"%a"'), encoding="utf-8")
    os.utime(src / "net.py")
    counting.seen.clear()
    tokenized: list[str] = []
    monkeypatch.setattr(incremental, "tokenize_code", lambda text: tokenized.append(text) or tokenize_code(text))
    updated = Index.build(src, index_dir, encoder=counting)
    monkeypatch.undo()
    assert len(tokenized) == 2 and all(text.startswith("dates.py ") for text in tokenized)  # BM25 terms of the rest reused
    after = texts_of(index_dir)
    assert sorted(counting.seen) == sorted(after - before) and len(counting.seen) == 1  # weekday_name only
    assert "weekday_name" in counting.seen[0] and '"%a"' in counting.seen[0]
    # dates.py and net.py were read (new mtimes), net.py's content id matched; reverse.js was not read.
    assert updated.manifest.build == {"files_read": 2, "files_reused": 2, "units_chunked": 2, "units_embedded": 1,
                                      "units_to_embed": 1}
    assert_same_index(index_dir, _fresh(src, tmp_path / "fresh", None, default_encoder))
    # A file changed behind a stale record is still caught: its size and mtime moved.
    (src / "reverse.js").write_text(JS.replace("reverse()", "reverse().slice(0)"), encoding="utf-8")
    update_index(index_dir, encoder=counting)
    assert any(".slice(0)" in chunk.text for chunk in Index.load(index_dir).chunks)


def test_a_killed_build_resumes_from_the_stored_embeddings(tmp_path, default_encoder) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for number in range(6):
        (src / f"m{number}.py").write_text(DATES.replace("parse_iso_date", f"parse_{number}"), encoding="utf-8")
    config = IndexConfig(encoder=EncoderConfig(batch_size=1))  # slices of 8 texts: one shard each
    index_dir = tmp_path / "idx"
    dying = CountingEncoder(default_encoder, fail_after=2)
    with pytest.raises(RuntimeError, match="killed"):
        Index.build(src, index_dir, config, encoder=dying)
    assert not (index_dir / "manifest.json").exists()  # nothing published
    stored = json.loads(next((index_dir / EMBEDDINGS_DIR).glob("*/index.json")).read_text(encoding="utf-8"))
    assert [shard["count"] for shard in stored["shards"]] == [8, 8]
    counting = CountingEncoder(default_encoder)
    resumed = Index.build(src, index_dir, config, encoder=counting)
    total = len({embedding_text(chunk) for chunk in resumed.chunks})
    assert total > 16 and len(counting.seen) == total - 16
    assert not set(counting.seen) & set(dying.seen)
    assert_same_index(index_dir, _fresh(src, tmp_path / "fresh", None, default_encoder, config))


def test_settings_that_do_not_change_chunks_or_vectors_reuse_both(repo, tmp_path, default_encoder) -> None:
    """Another FAISS type reuses chunks and vectors; another file selection re-reads files but embeds nothing new;
    ``fresh=True`` reuses nothing."""
    root, commits = repo
    index_dir = tmp_path / "idx"
    Index.build(root, index_dir, rev=commits[1], encoder=default_encoder)
    counting = CountingEncoder(default_encoder)
    hnsw = IndexConfig(dense=replace(IndexConfig().dense, index_type="hnsw"))
    rebuilt = Index.build(root, index_dir, hnsw, rev=commits[1], encoder=counting)
    assert counting.seen == [] and rebuilt.manifest.index_type == "hnsw" and rebuilt.manifest.build["files_read"] == 0
    narrower = replace(hnsw, corpus=replace(hnsw.corpus, source=replace(hnsw.corpus.source, exclude=("web/*",))))
    rebuilt = Index.build(root, index_dir, narrower, rev=commits[1], encoder=counting)
    assert counting.seen == [] and rebuilt.manifest.build["files_reused"] == 0
    assert not any(chunk.path.startswith("web/") for chunk in rebuilt.chunks)
    again = Index.build(root, index_dir, narrower, rev=commits[1], encoder=counting, fresh=True)
    assert len(counting.seen) == len({embedding_text(chunk) for chunk in again.chunks})


def test_the_store_is_carried_and_compacted_when_most_of_it_is_dead(tmp_path, default_encoder) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for number in range(5):
        (src / f"m{number}.py").write_text(NET.replace("download_file", f"download_{number}"), encoding="utf-8")
    index_dir = tmp_path / "idx"
    Index.build(src, index_dir, encoder=default_encoder)
    store = next((index_dir / EMBEDDINGS_DIR).iterdir())
    assert sum(s["count"] for s in json.loads((store / "index.json").read_text(encoding="utf-8"))["shards"]) == 10
    for number in range(1, 5):
        (src / f"m{number}.py").unlink()
    updated = update_index(index_dir, encoder=default_encoder)
    shards = json.loads((store / "index.json").read_text(encoding="utf-8"))["shards"]
    assert [s["count"] for s in shards] == [len(updated.chunks)] == [2]  # 10 rows, 2 alive: compacted


def test_update_refuses_a_missing_source_and_a_non_index(tmp_path, default_encoder) -> None:
    from codehunt.index.errors import BadInputError, CorruptIndexError

    src = tmp_path / "src"
    src.mkdir()
    (src / "net.py").write_text(NET, encoding="utf-8")
    index_dir = tmp_path / "idx"
    Index.build(src, index_dir, encoder=default_encoder)
    with pytest.raises(BadInputError, match="no revisions|does not exist|not a git"):
        update_index(index_dir, rev="HEAD", encoder=default_encoder)  # a plain directory has no revisions
    src.rename(tmp_path / "moved")
    with pytest.raises(BadInputError, match=rf"{index_dir} was built from {src}, which no longer exists"):
        update_index(index_dir, encoder=default_encoder)
    with pytest.raises(CorruptIndexError, match="not a complete codehunt index"):
        update_index(tmp_path / "moved", encoder=default_encoder)


def test_a_file_rewritten_in_the_same_mtime_tick_as_the_scan_is_not_missed(tmp_path, default_encoder) -> None:
    """git's racy rule: a record whose mtime is close to its scan proves nothing, so the file is hashed next time."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    index_dir = tmp_path / "idx"
    Index.build(src, index_dir, encoder=default_encoder)
    (record,) = [json.loads(line) for line in (index_dir / FILES_NAME).read_text(encoding="utf-8").splitlines()]
    assert record["racy"] is True
    (src / "a.py").write_text("def sub(a, b):\n    return a - b\n", encoding="utf-8")  # same size
    os.utime(src / "a.py", ns=(record["mtime_ns"], record["mtime_ns"]))  # and the same mtime
    updated = update_index(index_dir, encoder=default_encoder)
    assert [chunk.qualname for chunk in updated.chunks] == ["sub"]


def _document(text: str) -> Chunk:
    return Chunk(doc_id=text or "empty", path="p", qualname="", kind="document", language="text", start_line=1,
                 end_line=1, text=text)


def test_bm25_from_copied_term_rows_equals_the_reference_build() -> None:
    """Copied rows of an old corpus plus new documents give BM25Index.build's arrays; a term only removed
    documents had leaves the vocabulary, and a new document's terms are numbered where they first occur."""
    from codehunt.index.incremental import PreviousIndex, Scan, bm25_doc_terms, bm25_from_doc_terms

    old_docs = [_document(t) for t in ("zeta alpha zeta", "beta", "", "gamma alpha")]
    old = bm25_doc_terms(old_docs, None)
    assert old.vocabulary == ["zeta", "alpha", "beta", "gamma"]
    assert old.offsets.tolist() == [0, 2, 3, 3, 5] and old.counts.tolist() == [2, 1, 1, 1, 1]
    previous = PreviousIndex({}, old_docs, len(old_docs), {}, {}, {}, old)
    # New corpus: old doc 3, a new doc, old doc 0; old doc 1 (the only one with "beta") is gone.
    new_docs = [old_docs[3], _document("delta alpha delta"), old_docs[0]]
    terms = bm25_doc_terms(new_docs, Scan(new_docs, [], None, np.array([3, -1, 0]), previous))
    assert terms.vocabulary == ["gamma", "alpha", "delta", "zeta"]
    reference = BM25Index.build([tokenize_code(bm25_text(doc)) for doc in new_docs])
    built = bm25_from_doc_terms(terms)
    for name in ("vocabulary", "offsets", "doc_ids", "tfs", "doc_lens", "idf"):
        assert np.array_equal(np.asarray(getattr(built, name)), np.asarray(getattr(reference, name))), name
    assert built.doc_lens.tolist() == [2, 3, 3]


def test_an_update_with_nothing_changed_publishes_nothing_and_loads_no_model(tmp_path, default_encoder, monkeypatch) -> None:
    """Same files, config, source and model files: the index is left as it is and the model is never loaded."""
    from codehunt.index import encoder as encoder_module
    from codehunt.index import index as index_module

    src = tmp_path / "src"
    src.mkdir()
    (src / "dates.py").write_text(DATES, encoding="utf-8")
    (src / "reverse.js").write_text(JS, encoding="utf-8")
    backdate(src)
    index_dir = tmp_path / "idx"
    Index.build(src, index_dir, encoder=default_encoder)
    assert Index.load(index_dir).manifest.encoder.model_files == encoder_module.model_files_signature("default") != ""
    written = {path: path.stat().st_mtime_ns for path in index_dir.rglob("*")}
    loads: list[int] = []

    def lazy(encoder, config, built_with=None):  # noqa: ANN001, ANN202 - stands in for index._lazy_encoder: counts model loads
        def get():  # noqa: ANN202
            loads.append(1)
            return encoder or default_encoder
        return get

    monkeypatch.setattr(index_module, "_lazy_encoder", lazy)
    unchanged = update_index(index_dir)
    assert loads == [] and unchanged.up_to_date
    assert {path: path.stat().st_mtime_ns for path in index_dir.rglob("*")} == written
    assert [c.doc_id for c in unchanged.chunks] == [c.doc_id for c in Index.load(index_dir).chunks]
    # The model directory changed (a retrained model in place): the same source is embedded and published again.
    monkeypatch.setattr(encoder_module, "model_files_signature", lambda model: "0123456789abcdef")
    update_index(index_dir)
    assert loads and (index_dir / "manifest.json").stat().st_mtime_ns != written[index_dir / "manifest.json"]
    # A changed file is published as before.
    monkeypatch.undo()
    (src / "dates.py").write_text(DATES.replace('"%A"', '"%a"'), encoding="utf-8")
    updated = update_index(index_dir, encoder=default_encoder)
    assert any('"%a"' in chunk.text for chunk in updated.chunks) and not updated.up_to_date


def test_an_unchanged_source_still_repairs_a_damaged_index(tmp_path, default_encoder) -> None:
    """Up to date by its source, but a file was corrupted (same size): a build writes the index again."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "dates.py").write_text(DATES, encoding="utf-8")
    backdate(src)
    index_dir = tmp_path / "idx"
    Index.build(src, index_dir, encoder=default_encoder)
    dense = index_dir / "dense.faiss"
    data = bytearray(dense.read_bytes())
    data[-10] ^= 0xFF
    dense.write_bytes(bytes(data))
    with pytest.raises(Exception, match="dense.faiss"):
        Index.load(index_dir)
    repaired = Index.build(src, index_dir, encoder=default_encoder)
    assert not repaired.up_to_date and Index.load(index_dir).verify() == []


def test_an_update_takes_the_recorded_fingerprint_when_the_model_files_are_the_recorded_ones(tmp_path, default_encoder, monkeypatch) -> None:
    """Loading the model for an update does not hash its weights again when the model directory is unchanged."""
    from codehunt.index import encoder as encoder_module
    from codehunt.index.index import _lazy_encoder

    src = tmp_path / "src"
    src.mkdir()
    (src / "dates.py").write_text(DATES, encoding="utf-8")
    index_dir = tmp_path / "idx"
    built = Index.build(src, index_dir, encoder=default_encoder).manifest.encoder
    trusted = _lazy_encoder(None, EncoderConfig(model="default"), built)()
    assert trusted._fingerprint == built.fingerprint == default_encoder.fingerprint()  # set before any hashing
    monkeypatch.setattr(encoder_module, "model_files_signature", lambda model: "0123456789abcdef")
    monkeypatch.setattr("codehunt.index.index.model_files_signature", lambda model: "0123456789abcdef")
    rehashed = _lazy_encoder(None, EncoderConfig(model="default"), built)()
    assert rehashed._fingerprint is None and rehashed.fingerprint() == built.fingerprint  # files moved: hashed again
