"""Sharded builds (``--shard i/N`` + ``index merge``) against a single-process build of the same real codebase.

The codebase is the installed ``pathspec`` package (a dependency, so always present), copied into a temp
directory and committed to a git repository: the sharded build reads git blobs (``--rev HEAD``), the Ray
tests (``test_ray_engine.py``) read the directory, and both compare with ``Index.build`` of the same source.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from codehunt.index.errors import BadInputError, ConfigError, CorruptIndexError
from codehunt.index.index import Index
from codehunt.index.shards import ShardSpec, build_shard, merge_shards, shard_of
from codehunt.index.tokenize import tokenize_code

QUERIES = ["match a gitignore pattern", "compile a list of patterns", "normalize a file path", "regex for wildcard"]
BF16_TOLERANCE = 2e-2
"""Largest difference allowed per vector component: bf16 keeps 8 bits of mantissa (here fp32 gives ~1e-6)."""


def real_codebase(root: Path) -> Path:
    """A copy of the installed ``pathspec`` package, committed to a fresh git repository."""
    import pathspec

    source = root / "pathspec-src"
    shutil.copytree(Path(pathspec.__file__).parent, source / "pathspec", ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(source)], check=True)
    subprocess.run([*git, "-C", str(source), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(source), "commit", "-qm", "snapshot"], check=True)
    return source


@pytest.fixture(scope="session")
def codebase(tmp_path_factory) -> Path:
    return real_codebase(tmp_path_factory.mktemp("real"))


@pytest.fixture(scope="session")
def single_git(codebase, default_encoder, tmp_path_factory) -> Path:
    """The reference: a single-process build of the codebase's HEAD."""
    output = tmp_path_factory.mktemp("single") / "git.idx"
    Index.build(codebase, output, rev="HEAD", encoder=default_encoder)
    return output


@pytest.fixture(scope="module")
def shard_dirs(codebase, default_encoder, tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("shards")
    dirs = []
    for number in range(3):
        build_shard(codebase, root / f"shard-{number}", ShardSpec(number, 3), rev="HEAD", encoder=default_encoder)
        dirs.append(root / f"shard-{number}")
    return dirs


def dense_vectors(path: Path) -> np.ndarray:
    import faiss

    index = faiss.read_index(str(path / "dense.faiss"))
    return index.reconstruct_n(0, index.ntotal)  # (n, dim): flat index, exact vectors


def assert_same_index(built: Path, reference: Path) -> None:
    """Same ids, chunks, skips and BM25 files byte for byte; same BM25 scores; vectors within bf16 tolerance;
    the same manifest apart from the build's time, counters and the dense file's checksum."""
    for name in ("ids.json", "corpus.jsonl", "skipped.jsonl"):
        assert (built / name).read_bytes() == (reference / name).read_bytes(), name
    ours, theirs = (json.loads((path / "manifest.json").read_text(encoding="utf-8")) for path in (built, reference))
    for key in set(ours) | set(theirs):
        if key in ("created_at", "build", "files", "fast_files"):
            continue
        assert ours[key] == theirs[key], key
    differing = {name for name in set(ours["files"]) | set(theirs["files"]) if ours["files"].get(name) != theirs["files"].get(name)}
    assert differing <= {"dense.faiss", "files.jsonl"}, differing  # files.jsonl: the 'racy' flag depends on the scan's time
    assert any(name.startswith("bm25/") for name in ours["files"])
    if "files.jsonl" in theirs["files"]:
        records = [[{k: v for k, v in json.loads(line).items() if k != "racy"} for line in (path / "files.jsonl").open(encoding="utf-8")]
                   for path in (built, reference)]
        assert records[0] == records[1]
    a, b = Index.load(built), Index.load(reference)
    for query in QUERIES:
        tokens = tokenize_code(query)
        np.testing.assert_array_equal(a.bm25.scores(tokens), b.bm25.scores(tokens))
    vectors, expected = dense_vectors(built), dense_vectors(reference)
    assert vectors.shape == expected.shape
    assert np.abs(vectors - expected).max() < BF16_TOLERANCE
    assert float(np.min(np.sum(vectors * expected, axis=1))) > 0.999  # every row the same direction
    for query in QUERIES:
        ours_top, theirs_top = [hit.doc_id for hit in a.search(query, 5)], [hit.doc_id for hit in b.search(query, 5)]
        if b.manifest.encoder.precision == "bf16":
            # bf16 rounding moves scores by ~1e-3, enough to swap two near-tied hits, not to change what is found
            assert ours_top[0] == theirs_top[0] and len(set(ours_top) & set(theirs_top)) >= 4, query
        else:
            assert ours_top == theirs_top, query


def test_shard_of_is_sha256_modulo_n():
    """Hand-computed: the first 8 bytes of sha256, big-endian, mod N; spread evenly over 4 shards."""
    unit = "pkg/dates.py::parse_iso_date"
    expected = int.from_bytes(hashlib.sha256(unit.encode("utf-8")).digest()[:8], "big")
    assert shard_of(unit, 7) == expected % 7 and shard_of(unit, 1) == 0
    counts = np.bincount([shard_of(f"m{i}.py::f{i}", 4) for i in range(4000)], minlength=4)
    assert counts.min() > 900 and counts.max() < 1100, counts


@pytest.mark.parametrize("text, expected", [("0/4", (0, 4)), ("3/4", (3, 4)), ("0/1", (0, 1))])
def test_shard_spec_parses(text, expected):
    spec = ShardSpec.parse(text)
    assert (spec.shard, spec.shards) == expected


@pytest.mark.parametrize("text", ["4/4", "1", "-1/4", "a/b", "0/0", "1/2/3"])
def test_a_bad_shard_spec_is_a_config_error(text):
    with pytest.raises(ConfigError, match="--shard"):
        ShardSpec.parse(text)


def test_shards_divide_the_units(shard_dirs, single_git):
    """Each unit sits in exactly one shard, the one its id hashes to; together they hold every chunk."""
    units = [json.loads(line) for line in (single_git / "corpus.jsonl").open(encoding="utf-8")]
    per_shard = []
    for number, folder in enumerate(shard_dirs):
        chunks = [json.loads(line) for line in (folder / "chunks.jsonl").open(encoding="utf-8")]
        assert chunks and all(shard_of(chunk["unit_id"] or chunk["doc_id"], 3) == number for chunk in chunks)
        per_shard.append({chunk["doc_id"] for chunk in chunks})
    assert sum(map(len, per_shard)) == len(units) == len(set().union(*per_shard))
    assert set().union(*per_shard) == {unit["doc_id"] for unit in units}


def test_sharded_build_and_merge_equal_a_single_build(shard_dirs, single_git, tmp_path):
    merged = merge_shards(list(reversed(shard_dirs)), tmp_path / "merged")  # any order
    assert_same_index(tmp_path / "merged", single_git)
    assert merged.manifest.build["units_embedded"] == merged.manifest.document_count
    assert Index.load(tmp_path / "merged").verify() == []


def test_merge_refuses_a_missing_shard(shard_dirs, tmp_path):
    with pytest.raises(BadInputError, match=r"missing shard\(s\) 1/3: build them with"):
        merge_shards([shard_dirs[0], shard_dirs[2]], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_merge_refuses_a_shard_given_twice(shard_dirs, tmp_path):
    with pytest.raises(BadInputError, match=r"shard 0/3 given twice"):
        merge_shards([shard_dirs[0], *shard_dirs], tmp_path / "out")


def test_merge_refuses_shards_of_another_corpus(shard_dirs, codebase, default_encoder, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "mod.py").write_text("def parse(text):\n    return text.split()\n", encoding="utf-8")
    build_shard(other, tmp_path / "foreign", ShardSpec(1, 3), encoder=default_encoder)
    with pytest.raises(BadInputError, match=r"foreign does not belong with .*shard-0: their (corpus digest|source) differ"):
        merge_shards([shard_dirs[0], tmp_path / "foreign", shard_dirs[2]], tmp_path / "out")


def test_merge_refuses_a_renumbered_shard(shard_dirs, tmp_path):
    """shard-0 relabelled 1/3 (shard.json is not checksummed): its units hash to 0, so the merge refuses it."""
    fake = tmp_path / "relabelled"
    shutil.copytree(shard_dirs[0], fake)
    manifest = json.loads((fake / "shard.json").read_text(encoding="utf-8"))
    manifest["shard"] = 1
    (fake / "shard.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BadInputError, match=r"relabelled holds \d+ units of other shards"):
        merge_shards([fake, shard_dirs[2], shard_dirs[0]], tmp_path / "out")


@pytest.mark.parametrize("damage", ["truncate-vectors", "drop-chunks", "not-a-shard"])
def test_merge_refuses_a_damaged_shard(damage, shard_dirs, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(shard_dirs[1], broken)
    if damage == "truncate-vectors":
        data = (broken / "vectors.npy").read_bytes()
        (broken / "vectors.npy").write_bytes(data[: len(data) // 2])
        match = r"vectors.npy fails its checksum: rebuild shard 1/3"
    elif damage == "drop-chunks":
        (broken / "chunks.jsonl").unlink()
        match = r"chunks.jsonl is missing"
    else:
        (broken / "shard.json").unlink()
        match = r"broken is not a codehunt shard \(no shard.json\)"
    with pytest.raises(CorruptIndexError, match=match):
        merge_shards([shard_dirs[0], broken, shard_dirs[2]], tmp_path / "out")


def test_merge_of_nothing_is_an_error(tmp_path):
    with pytest.raises(BadInputError, match="no shard directories given"):
        merge_shards([], tmp_path / "out")


def test_cli_shard_and_merge(codebase, single_git, tmp_path):
    """``index build --shard i/N`` twice and ``index merge``: the same index as ``index build``, type in ``index info``."""
    from typer.testing import CliRunner

    from codehunt.cli import app

    runner = CliRunner()
    for number in range(2):
        result = runner.invoke(app, ["index", "build", str(codebase), "--rev", "HEAD", "--shard", f"{number}/2",
                                     "-o", str(tmp_path / f"s{number}")])
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"s{number}" / "shard.json").is_file()
    result = runner.invoke(app, ["index", "merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "-o", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.output
    assert_same_index(tmp_path / "idx", single_git)
    info = runner.invoke(app, ["index", "info", str(tmp_path / "idx")])
    assert info.exit_code == 0 and json.loads(info.stdout)["index_type"] == "flat"
    bad = runner.invoke(app, ["index", "build", str(codebase), "--shard", "2/2", "-o", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "--shard" in bad.output
