"""End-to-end tests of Index.build / load / search on real source files and the real default model."""
from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np

import pytest

from codehunt.index.corpus import CorpusConfig, read_codebase
from codehunt.index.errors import BadInputError, CorruptIndexError, IncompatibleIndexError, IndexLockedError
from codehunt.index.index import Index
from codehunt.index.sources import SourceConfig
from codehunt.index.storage import build_lock

DATES = '''
import re
from datetime import datetime


def parse_iso_date(text):
    """Parse an ISO 8601 date string such as 2024-05-01 into a datetime."""
    return datetime.strptime(text, "%Y-%m-%d")


class Temperature:
    """A temperature reading."""

    unit = "celsius"

    def to_fahrenheit(self, value):
        """Convert degrees Celsius to Fahrenheit."""
        return value * 9 / 5 + 32

    @property
    def kelvin(self):
        return self.value + 273.15
'''

NET = '''
import urllib.request


def download_file(url, destination):
    """Download a URL over HTTP and save the response body to a local file."""
    with urllib.request.urlopen(url) as response, open(destination, "wb") as handle:
        handle.write(response.read())


def count_words(text):
    """Count how many words a string holds."""
    return len(text.split())
'''

JS = '''
// Reverse the characters of a string.
function reverseString(s) {
  return s.split("").reverse().join("");
}
'''


def write_fixture_repo(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "dates.py").write_text(DATES, encoding="utf-8")
    (root / "pkg" / "net.py").write_text(NET, encoding="utf-8")
    (root / "web").mkdir()
    (root / "web" / "strings.js").write_text(JS, encoding="utf-8")
    (root / "pkg" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0binary")
    (root / "pkg" / "blob.py").write_bytes(b"def f():\n    return 1\n\0\0\0")
    (root / "pkg" / "latin1.py").write_bytes("def caf\xe9():\n    return 'caf\xe9'\n".encode("latin-1"))
    (root / "pkg" / "broken.py").write_text("def oops(:\n    return 1\n", encoding="utf-8")
    (root / "pkg" / "empty.py").write_text("", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def fixture_repo(tmp_path_factory) -> Path:
    return write_fixture_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def built_index(fixture_repo, default_encoder, tmp_path_factory) -> Index:
    out = tmp_path_factory.mktemp("idx") / "index"
    return Index.build(fixture_repo, out, encoder=default_encoder)


def test_search_finds_the_function_that_answers_the_query(built_index):
    for mode in ("dense", "bm25", "hybrid"):
        hits = built_index.search("parse an ISO 8601 date", k=3, mode=mode)
        assert hits[0].qualname == "parse_iso_date", mode
        assert hits[0].path == "pkg/dates.py"
        assert hits[0].start_line == 6 and hits[0].end_line == 8
    hits = built_index.search("convert celsius to fahrenheit", k=3, mode="dense")
    assert hits[0].qualname == "Temperature.to_fahrenheit"
    hits = built_index.search("reverse a string", k=3, mode="hybrid")
    assert hits[0].path == "web/strings.js"


def test_every_file_is_indexed_or_skipped_with_its_reason(built_index):
    skipped = {r["path"]: r["reason"] for r in map(json.loads, (built_index.path / "skipped.jsonl").open(encoding="utf-8"))}
    assert skipped["pkg/logo.png"] == "not-source"
    assert skipped["pkg/blob.py"] == "binary"
    assert skipped["pkg/latin1.py"] == "not-utf8"
    assert skipped["pkg/broken.py"] == "parse-error-fallback"
    assert skipped["pkg/empty.py"] == "empty"
    indexed = {chunk.path for chunk in built_index.chunks}
    assert indexed == {"pkg/dates.py", "pkg/net.py", "web/strings.js", "pkg/broken.py"}


def test_load_round_trip_gives_identical_results(built_index, default_encoder):
    loaded = Index.load(built_index.path, encoder=default_encoder)
    assert loaded.manifest == built_index.manifest
    for mode in ("dense", "bm25", "hybrid"):
        a = built_index.search("download a file from a url", k=5, mode=mode)
        b = loaded.search("download a file from a url", k=5, mode=mode)
        assert [h.doc_id for h in a] == [h.doc_id for h in b]
        assert np.allclose([h.score for h in a], [h.score for h in b])
    assert loaded.verify() == []


def test_manifest_records_encoder_and_checksums(built_index, default_encoder):
    manifest = json.loads((built_index.path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["encoder"]["name"] == "default"
    assert manifest["encoder"]["dimension"] == 384
    assert manifest["encoder"]["fingerprint"] == default_encoder.fingerprint()
    assert set(manifest["files"]) >= {"corpus.jsonl", "ids.json", "dense.faiss", "skipped.jsonl"}
    assert manifest["document_count"] == len(built_index.chunks)


def test_index_from_another_model_is_a_clear_error(built_index, tmp_path):
    from sentence_transformers import SentenceTransformer, models

    from codehunt.index.encoder import EncoderConfig, SentenceTransformerEncoder, resolve_model_path

    base = SentenceTransformer(resolve_model_path("default"), device="cpu")
    projected = SentenceTransformer(modules=[*base, models.Dense(384, 128)], device="cpu")
    other = SentenceTransformerEncoder(EncoderConfig(model="projected-128"), model=projected)
    with pytest.raises(IncompatibleIndexError, match=r"dim 384.*dim 128"):
        Index.load(built_index.path, encoder=other)


def test_corrupted_files_are_detected(built_index, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built_index.path, copy)
    data = (copy / "dense.faiss").read_bytes()
    (copy / "dense.faiss").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptIndexError, match="dense.faiss"):
        Index.load(copy)
    (copy / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CorruptIndexError, match="manifest.json"):
        Index.load(copy)


def test_interrupted_build_leaves_previous_index_intact(built_index, fixture_repo, default_encoder, tmp_path):
    import shutil

    target = tmp_path / "idx"
    shutil.copytree(built_index.path, target)
    before = (target / "manifest.json").read_text(encoding="utf-8")

    class InterruptingEncoder:
        name, dimension = default_encoder.name, default_encoder.dimension

        def fingerprint(self):
            return default_encoder.fingerprint()

        def encode(self, texts, kind, show_progress=False):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Index.build(fixture_repo, target, encoder=InterruptingEncoder(), fresh=True)  # a real build: nothing is reused
    assert (target / "manifest.json").read_text(encoding="utf-8") == before
    assert Index.load(target).verify() == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".idx.building")] == []


def test_a_second_build_into_a_locked_directory_is_refused(fixture_repo, default_encoder, tmp_path):
    with build_lock(tmp_path / "idx"):
        with pytest.raises(IndexLockedError):
            Index.build(fixture_repo, tmp_path / "idx", encoder=default_encoder)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda root: root / "missing", "does not exist"),
        (lambda root: root, "no indexable source code"),
        (lambda root: (root / "only.py").write_bytes(b"\0\1\2") and root, "no indexable source code"),
    ],
    ids=["nonexistent", "empty-dir", "only-binary"],
)
def test_bad_inputs_are_clear_errors(make, message, tmp_path, default_encoder):
    root = tmp_path / "src"
    root.mkdir()
    source = make(root)
    with pytest.raises(BadInputError, match=message):
        Index.build(source, tmp_path / "out", encoder=default_encoder)
    assert not (tmp_path / "out").exists()


def test_huge_file_is_skipped_without_reading(tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    (root / "ok.py").write_text("def small():\n    return 1\n", encoding="utf-8")
    with (root / "huge.py").open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    corpus = read_codebase(root, config=CorpusConfig(source=SourceConfig()))
    reasons = {skip.path: skip.reason for skip in corpus.skipped}
    assert reasons == {"huge.py": "too-large"}
    assert [chunk.qualname for chunk in corpus.chunks] == ["small"]


def _git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e",
           "HOME": str(cwd), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def test_git_revision_is_read_without_checkout_and_gitignore_is_respected(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "a.py").write_text("def old_name():\n    return 1\n", encoding="utf-8")
    (repo / ".gitignore").write_text("ignored.py\n", encoding="utf-8")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")
    first = _git(repo, "rev-parse", "HEAD")
    (repo / "a.py").write_text("def new_name():\n    return 2\n", encoding="utf-8")
    (repo / "ignored.py").write_text("def secret():\n    return 3\n", encoding="utf-8")
    _git(repo, "commit", "-qam", "second")
    at_first = read_codebase(repo, rev=first)
    assert [c.qualname for c in at_first.chunks] == ["old_name"]
    work_tree = read_codebase(repo)
    assert [c.qualname for c in work_tree.chunks] == ["new_name"]


def test_vendored_directories_are_recorded_once_and_not_walked(tmp_path, monkeypatch):
    """node_modules/ and a nested site-packages/ give one skip each ("dir/", vendored); no file below them is
    listed (os.walk is not sent into them), while an excluded vendored directory leaves no record at all."""
    import os

    import codehunt.index.sources as sources

    root = tmp_path / "src"
    (root / "node_modules" / "left-pad").mkdir(parents=True)
    (root / "node_modules" / "left-pad" / "index.js").write_text("function leftPad(s) { return s; }\n", encoding="utf-8")
    (root / "lib" / "site-packages" / "pkg").mkdir(parents=True)
    (root / "lib" / "site-packages" / "pkg" / "mod.py").write_text("def vendored():\n    return 1\n", encoding="utf-8")
    (root / "build" / "vendor").mkdir(parents=True)
    (root / "build" / "vendor" / "x.py").write_text("def x():\n    return 1\n", encoding="utf-8")
    (root / "lib" / "app.py").write_text("def mine():\n    return 2\n", encoding="utf-8")
    walked: list[str] = []
    real_walk = os.walk

    def recording_walk(top, *args, **kwargs):
        for directory, dirnames, filenames in real_walk(top, *args, **kwargs):
            walked.append(os.path.relpath(directory, top))
            yield directory, dirnames, filenames

    monkeypatch.setattr(sources.os, "walk", recording_walk)
    corpus = read_codebase(root, config=CorpusConfig(source=SourceConfig(exclude=("build/*",))))
    assert [c.qualname for c in corpus.chunks] == ["mine"]
    assert [(s.path, s.reason) for s in corpus.skipped] == [("lib/site-packages/", "vendored"), ("node_modules/", "vendored")]
    assert not any("site-packages" in d or "node_modules" in d or "vendor" in d for d in walked), walked


def test_long_functions_are_split_with_their_signature_and_collapsed_in_search(tmp_path, default_encoder):
    root = tmp_path / "src"
    root.mkdir()
    body = "\n".join(f"    total_{i} = compute_value_{i}(argument_{i}) + offset_{i}" for i in range(120))
    (root / "long.py").write_text(f"def very_long_function(argument):\n{body}\n    return total_0\n", encoding="utf-8")
    (root / "short.py").write_text("def tiny():\n    return 1\n", encoding="utf-8")
    index = Index.build(root, tmp_path / "idx", encoder=default_encoder)
    parts = [c for c in index.chunks if c.unit == "long.py::very_long_function"]
    assert len(parts) >= 3
    assert all(p.text.startswith("def very_long_function(argument):") for p in parts)
    lengths = [len(default_encoder.tokenizer(f"{p.path} {p.qualname}\n{p.text}")["input_ids"]) for p in parts]
    assert max(lengths) <= default_encoder.max_length
    hits = index.search("compute value offset", k=5, mode="bm25")
    assert [h.doc_id for h in hits].count("long.py::very_long_function") == 1
    assert hits[0].start_line == 1 and hits[0].end_line == 122


@pytest.mark.slow
def test_known_cosqa_queries_rank_their_positive_in_the_top_10(shared_data, default_encoder, tmp_path):
    """300 real CoSQA functions (the positives of the first queries, then others): positives found."""
    from codehunt.index.trec import read_qrels_tsv

    qrels = read_qrels_tsv(shared_data / "cosqa" / "qrels" / "dev.tsv")
    queries = {r["_id"]: r["text"] for r in map(json.loads, (shared_data / "cosqa" / "queries.jsonl").open(encoding="utf-8"))}
    chosen = list(qrels)[:20]
    positives = {doc for q in chosen for doc in qrels[q]}
    records = [json.loads(line) for line in (shared_data / "cosqa" / "corpus.jsonl").open(encoding="utf-8")]
    sample = [r for r in records if r["_id"] in positives] + [r for r in records if r["_id"] not in positives][: 300 - len(positives)]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in sample), encoding="utf-8")
    index = Index.build(corpus, tmp_path / "idx", encoder=default_encoder)
    found = 0
    for qid in chosen:
        hits = index.search(queries[qid], k=10, mode="hybrid")
        found += any(h.doc_id in qrels[qid] for h in hits)
    assert found >= 16, f"only {found}/20 positives in the top 10"


# ------------------------------------------------------------- units, candidate filter, multi-passage queries
def test_unit_table_groups_the_units_of_each_file_and_name(built_index):
    units = built_index.units
    assert units is built_index.units  # built once
    assert units.paths == ["pkg/broken.py", "pkg/dates.py", "pkg/net.py", "web/strings.js"]
    assert dict(units.by_path) == {
        "pkg/broken.py": ["pkg/broken.py#L1-L2"],
        "pkg/dates.py": ["pkg/dates.py::parse_iso_date", "pkg/dates.py::Temperature",
                         "pkg/dates.py::Temperature.to_fahrenheit", "pkg/dates.py::Temperature.kelvin"],
        "pkg/net.py": ["pkg/net.py::download_file", "pkg/net.py::count_words"],
        "web/strings.js": ["web/strings.js::reverseString"],
    }
    # named definitions only: the window of the unparsable file has no name
    assert units.by_name["to_fahrenheit"] == ["pkg/dates.py::Temperature.to_fahrenheit"]
    assert units.by_qualname["Temperature.kelvin"] == ["pkg/dates.py::Temperature.kelvin"]
    assert sorted(units.by_name) == ["Temperature", "count_words", "download_file", "kelvin", "parse_iso_date",
                                     "reverseString", "to_fahrenheit"]
    assert len(units) == 8
    assert units.chunk("pkg/net.py::count_words").start_line == 11
    assert [built_index.chunks[units.first[u]].unit for u in units.first] == list(units.first)


def test_split_units_have_one_row_in_the_unit_table(tmp_path, default_encoder):
    root = tmp_path / "src"
    root.mkdir()
    body = "\n".join(f"    total_{i} = compute_value_{i}(argument_{i}) + offset_{i}" for i in range(120))
    (root / "long.py").write_text(f"def very_long_function(argument):\n{body}\n    return total_0\n", encoding="utf-8")
    index = Index.build(root, tmp_path / "idx", encoder=default_encoder)
    assert len(index.chunks) >= 3 and len(index.units) == 1
    assert index.units.first == {"long.py::very_long_function": 0}
    assert index.units.chunk("long.py::very_long_function").extra["part"] == 1


def _units(index, ranking):
    return [(index.chunks[position].unit, score) for position, score in ranking]


def test_candidate_filter_drops_chunks_before_they_take_a_rank(built_index):
    not_dates = lambda chunk: chunk.path != "pkg/dates.py"  # noqa: E731
    query = "parse an ISO 8601 date"
    (bm25,) = built_index.candidate_rankings([query], 10, "bm25")
    assert [unit for unit, _ in _units(built_index, bm25)] == ["pkg/dates.py::parse_iso_date"]  # the only match
    assert built_index.candidate_rankings([query], 10, "bm25", keep=not_dates) == [[]]
    (dense,) = built_index.candidate_rankings([query], 10, "dense")
    (kept,) = built_index.candidate_rankings([query], 10, "dense", keep=not_dates)
    assert _units(built_index, kept) == [(u, s) for u, s in _units(built_index, dense) if not u.startswith("pkg/dates.py")]
    assert [u for u, _ in _units(built_index, kept)] == [
        "web/strings.js::reverseString", "pkg/net.py::count_words", "pkg/broken.py#L1-L2", "pkg/net.py::download_file"]
    recorded = built_index.search_config
    try:  # BM25 found nothing it may keep: without the ranking features the fused list is the dense list
        built_index.search_config = replace(recorded, symbol_boost=0.0, path_boost=0.0, file_diversity=0.0)
        (hybrid,) = built_index.candidate_rankings([query], 10, "hybrid", keep=not_dates)
    finally:
        built_index.search_config = recorded
    assert [u for u, _ in _units(built_index, hybrid)] == [u for u, _ in _units(built_index, kept)]
    # fetch counts chunks, and a documented unit has a summary chunk beside its code: 12 chunks hold 2 kept units
    (short,) = built_index.candidate_rankings([query], 2, "dense", keep=not_dates, fetch=12)
    assert [u for u, _ in _units(built_index, short)] == ["web/strings.js::reverseString", "pkg/net.py::count_words"]


def test_a_query_of_several_passages_scores_each_unit_by_its_best_passage(built_index):
    passages = ["parse an ISO 8601 date", "count the words of a string"]
    (bm25,) = built_index.candidate_rankings([passages], 10, "bm25")
    per_passage = [dict(_units(built_index, r)) for r in built_index.candidate_rankings(passages, 10, "bm25")]
    # "parse an ISO 8601 date" matches only parse_iso_date; the second passage matches five units, parse_iso_date weakly
    assert set(per_passage[0]) == {"pkg/dates.py::parse_iso_date"} and len(per_passage[1]) == 5
    expected = {u: max(p.get(u, float("-inf")) for p in per_passage) for u in per_passage[0].keys() | per_passage[1].keys()}
    assert dict(_units(built_index, bm25)) == expected
    assert expected["pkg/dates.py::parse_iso_date"] == per_passage[0]["pkg/dates.py::parse_iso_date"] > per_passage[1]["pkg/dates.py::parse_iso_date"]
    assert [u for u, _ in _units(built_index, bm25)] == [
        "pkg/dates.py::parse_iso_date", "pkg/net.py::count_words", "web/strings.js::reverseString",
        "pkg/net.py::download_file", "pkg/dates.py::Temperature"]
    (dense,) = built_index.candidate_rankings([passages], 10, "dense")
    per_passage = [dict(_units(built_index, r)) for r in built_index.candidate_rankings(passages, 10, "dense")]
    maxp = dict(_units(built_index, dense))
    assert maxp == {u: pytest.approx(max(p[u] for p in per_passage), abs=1e-5) for u in per_passage[0]}
    assert [u for u, _ in _units(built_index, dense)][:2] == ["pkg/net.py::count_words", "pkg/dates.py::parse_iso_date"]
    # a query of passages and a plain query side by side in one batch; no passages, no candidates
    both = built_index.candidate_rankings([passages, "reverse a string", []], 10, "bm25")
    assert both[0] == bm25 and both[2] == []
    assert both[1] == built_index.candidate_rankings(["reverse a string"], 10, "bm25")[0]


def test_mean_pooling_searches_the_normalised_mean_of_the_passage_embeddings(built_index, default_encoder):
    from codehunt.index.corpus import embedding_text

    passages = ["parse an ISO 8601 date", "count the words of a string"]
    (ranking,) = built_index.candidate_rankings([passages], 10, "dense", pooling="mean")
    mean = default_encoder.encode(passages, "query").mean(axis=0)  # (dim,)
    mean /= np.linalg.norm(mean)
    documents = default_encoder.encode([embedding_text(chunk) for chunk in built_index.chunks], "document")  # (chunks, dim)
    by_chunk = sorted(((chunk.unit, float(score)) for chunk, score in zip(built_index.chunks, documents @ mean)), key=lambda x: -x[1])
    by_hand = list({unit: (unit, score) for unit, score in reversed(by_chunk)}.values())[::-1]  # a unit's best chunk
    by_hand.sort(key=lambda x: -x[1])
    assert [u for u, _ in _units(built_index, ranking)] == [u for u, _ in by_hand]
    assert [s for _, s in _units(built_index, ranking)] == pytest.approx([s for _, s in by_hand], abs=1e-5)
    with pytest.raises(BadInputError, match="pooling"):
        built_index.candidate_rankings([passages], 10, "dense", pooling="median")
