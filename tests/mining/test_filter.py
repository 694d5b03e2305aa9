"""Consistency filtering: hand-computed ranks on toy vectors, and the real default model on real code."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codehunt.mining.filter import FilterConfig, filter_consistent_pairs, rank_within_pool
from codehunt.mining.pairs import Pair, read_pairs

CODES = {
    "reverse_string": 'def reverse_string(text):\n    chars = list(text)\n    chars.reverse()\n    return "".join(chars)',
    "reverse_list": "def reverse_list(items):\n    result = []\n    for item in items:\n        result.insert(0, item)\n    return result",
    "download": 'def download(url, path):\n    response = urllib.request.urlopen(url)\n    with open(path, "wb") as handle:\n        handle.write(response.read())',
    "factorial": "def factorial(n):\n    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result",
    "sort_by_value": "def sort_by_value(mapping):\n    return dict(sorted(mapping.items(), key=lambda kv: kv[1]))",
    "read_lines": 'def read_lines(path):\n    with open(path, encoding="utf-8") as handle:\n        return [line.rstrip() for line in handle]',
    "mean": "def mean(values):\n    total = sum(values)\n    return total / len(values)",
}
QUERIES = {
    "reverse_string": "reverse the characters of a string",
    "reverse_list": "reverse the order of a list",
    "download": "download a file from a url and save it to disk",
    "factorial": "compute the factorial of a number",
    "sort_by_value": "sort a dictionary by its values",
    "read_lines": "read the lines of a text file",
    "mean": "average of a list of numbers",
}


def pair(query: str, name: str, code: str | None = None, source: str = "docstring") -> dict:
    return Pair(query, code if code is not None else CODES[name], f"lib.py::{name}", source, "lib", "", "lib.py", name).to_json()


def write_pairs(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_rank_within_pool_hand_computed() -> None:
    pool = np.array([[1, 0], [0.8, 0.6], [0, 1], [0.6, 0.8]], dtype=np.float32)
    query = np.array([[1, 0]], dtype=np.float32)  # scores against the pool: 1.0, 0.8, 0.0, 0.6
    # Own positive p2 (score 0): beaten by p0, p1, p3 -> rank 4, reported as depth + 1 = 3 at depth 2.
    result = rank_within_pool(query, pool[[2]], pool, [[2]], depth=2)
    assert result.ranks.tolist() == [3]
    assert result.scores.tolist() == [0.0]
    assert result.best_competitor.tolist() == [0] and result.best_competitor_score.tolist() == pytest.approx([1.0])
    assert rank_within_pool(query, pool[[2]], pool, [[2]], depth=5).ranks.tolist() == [4]
    # Own p1 (0.8) is beaten only by p0.
    assert rank_within_pool(query, pool[[1]], pool, [[1]], depth=5).ranks.tolist() == [2]
    # Excluding p0 (another positive of the same query): p1 is first and p2 is beaten only by p1, p3.
    assert rank_within_pool(query, pool[[1]], pool, [[1, 0]], depth=5).ranks.tolist() == [1]
    assert rank_within_pool(query, pool[[2]], pool, [[2, 0]], depth=5).ranks.tolist() == [3]
    # A positive outside the pool (sampled pools): scored, never counted against itself.
    outside = np.array([[0.9, np.sqrt(1 - 0.81)]], dtype=np.float32)
    assert rank_within_pool(query, outside, pool, [[]], depth=5).ranks.tolist() == [2]
    # Ties go to the pair: an identical vector elsewhere in the pool does not beat the positive.
    assert rank_within_pool(query, pool[[0]], np.vstack([pool, pool[:1]]), [[0]], depth=5).ranks.tolist() == [1]


def test_mismatched_pairs_are_dropped_matched_kept(tmp_path: Path, default_encoder) -> None:
    matched = [pair(QUERIES[name], name) for name in CODES]
    mismatched = [
        pair("reverse the characters in a string backwards", "download", source="commit"),
        pair("sort a dictionary by value", "factorial", source="commit"),
        pair("fetch a file over http and store it locally", "mean", source="commit"),
    ]
    source = write_pairs(tmp_path / "pairs.jsonl", matched + mismatched)
    config = FilterConfig(input=source, output=tmp_path / "pairs.filtered.jsonl")
    result = filter_consistent_pairs(config, encoder=default_encoder)
    kept = read_pairs(result.output)
    assert [(p.query, p.qualname) for p in kept] == [(QUERIES[name], name) for name in CODES]
    assert (result.kept, result.dropped) == (7, 3)
    assert result.per_source == {"commit": {"kept": 0, "dropped": 3}, "docstring": {"kept": 7, "dropped": 0}}
    dropped = [json.loads(line) for line in result.dropped_output.read_text(encoding="utf-8").splitlines()]
    assert result.dropped_output == tmp_path / "pairs.filtered.dropped.jsonl"
    assert [d["qualname"] for d in dropped] == ["download", "factorial", "mean"]
    # The code each mismatched query really describes is what beat it.
    assert [d["best_competitor_id"] for d in dropped] == ["lib.py::reverse_string", "lib.py::sort_by_value", "lib.py::download"]
    assert all(d["reason"] == "rank" and d["rank"] == -1 and d["best_competitor_score"] > d["score"] for d in dropped)
    report = json.loads(result.report.read_text(encoding="utf-8"))
    assert report["scorer"]["fingerprint"] == default_encoder.fingerprint()
    assert (report["pairs"], report["kept"], report["dropped"], report["distinct_positives"]) == (10, 7, 3, 7)
    assert "top 2" in report["rule"] and report["drop_reasons"] == {"rank": 3}


def test_duplicates_and_sibling_positives_do_not_count(tmp_path: Path, default_encoder) -> None:
    """top_k = 1: a pair survives only if nothing but copies of its positive and other positives
    of its own query outscore it."""
    records = [pair(QUERIES[name], name) for name in CODES]
    # The same positive three times, differing only in whitespace: one pool entry.
    spaced = CODES["mean"].replace("\n    ", "\n\n        ")
    records += [pair("arithmetic mean of the values", "mean", spaced), pair("average value of a list", "mean", spaced + "\n")]
    # "reverse the order of a list" also gets reverse_string as a positive; reverse_list (a sibling) scores higher.
    records.append(pair(QUERIES["reverse_list"], "reverse_string"))
    source = write_pairs(tmp_path / "pairs.jsonl", records)
    result = filter_consistent_pairs(FilterConfig(input=source, output=tmp_path / "f.jsonl", top_k=1), encoder=default_encoder)
    report = json.loads(result.report.read_text(encoding="utf-8"))
    assert report["distinct_positives"] == 7
    assert result.kept == len(records) == 10


def test_min_score_and_sampled_pool(tmp_path: Path, default_encoder) -> None:
    source = write_pairs(tmp_path / "pairs.jsonl", [pair(QUERIES[name], name) for name in CODES])
    result = filter_consistent_pairs(
        FilterConfig(input=source, output=tmp_path / "f.jsonl", min_score=0.6), encoder=default_encoder
    )
    dropped = [json.loads(line) for line in result.dropped_output.read_text(encoding="utf-8").splitlines()]
    # Cosines of the matched pairs range from ~0.53 to ~0.76: those under 0.6 fail the floor only.
    assert dropped and all(d["reason"] == "min-score" and d["score"] < 0.6 and d["rank"] == 1 for d in dropped)
    assert all(json.loads(line)["query"] for line in result.output.read_text(encoding="utf-8").splitlines())
    sampled = filter_consistent_pairs(
        FilterConfig(input=source, output=tmp_path / "s.jsonl", pool_size=3, top_k=1), encoder=default_encoder
    )
    report = json.loads(sampled.report.read_text(encoding="utf-8"))
    assert report["pool"] == 3 and "random sample of 3" in report["rule"]
    assert sampled.kept == 7  # every matched positive beats any 3 others


def test_group_by_repo_ranks_only_against_the_own_repository(tmp_path: Path, default_encoder) -> None:
    """The localization rule: a commit's function competes with its own repository's code only. Here a string
    query's positive is a list function: any pool holding reverse_string drops it, its own repository's does not."""
    def in_repo(repo: str, query: str, name: str) -> dict:
        return Pair(query, CODES[name], f"{repo}:lib.py::{name}", "commit", repo, "", "lib.py", name).to_json()

    records = [in_repo("strings", QUERIES[name], name) for name in ("reverse_string", "download", "read_lines")]
    records += [in_repo("lists", QUERIES[name], name) for name in ("factorial", "mean")]
    records.append(in_repo("lists", "reverse the characters in a string backwards", "reverse_list"))
    source = write_pairs(tmp_path / "pairs.jsonl", records)
    flat = filter_consistent_pairs(FilterConfig(input=source, output=tmp_path / "flat.jsonl", top_k=1), encoder=default_encoder)
    assert "reverse_list" not in {p.qualname for p in read_pairs(flat.output)}
    grouped = filter_consistent_pairs(
        FilterConfig(input=source, output=tmp_path / "grouped.jsonl", top_k=1, group_by="repo"), encoder=default_encoder
    )
    assert {(p.repo, p.qualname) for p in read_pairs(grouped.output)} == {(r["repo"], r["qualname"]) for r in records}
    report = json.loads(grouped.report.read_text(encoding="utf-8"))
    assert report["group_by"] == "repo" and report["pool"] == 3 and "own repository" in report["rule"]
    assert report["per_repo"] == {"lists": {"kept": 3, "dropped": 0}, "strings": {"kept": 3, "dropped": 0}}
    flat_report = json.loads(flat.report.read_text(encoding="utf-8"))
    assert flat_report["per_repo"]["lists"] == {"kept": 2, "dropped": 1}


def test_unknown_grouping_is_refused(tmp_path: Path) -> None:
    from codehunt.index.errors import ConfigError

    with pytest.raises(ConfigError, match="--group-by"):
        FilterConfig(input=tmp_path / "p.jsonl", output=tmp_path / "f.jsonl", group_by="file")
