"""Hard-negative mining with the real default model over real code, and the sampler's arithmetic."""
from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from codehunt.mining.negatives import NegativesConfig, mine_negatives, sample_negatives, temperature_at, training_columns
from codehunt.mining.pairs import PairsConfig, mine_pairs, normalize_whitespace, read_pairs

LIBRARY = {
    "lib/strings.py": '''
        def reverse_string(text):
            """Reverse the characters of a string."""
            chars = list(text)
            chars.reverse()
            return "".join(chars)


        def count_vowels(text):
            """Count how many vowels a string contains."""
            vowels = set("aeiou")
            total = sum(1 for ch in text.lower() if ch in vowels)
            return total


        def title_case(text):
            """Capitalise the first letter of every word in a sentence."""
            words = text.split()
            return " ".join(word[:1].upper() + word[1:] for word in words)


        def is_palindrome(text):
            """Check whether a string reads the same forwards and backwards."""
            cleaned = "".join(ch for ch in text.lower() if ch.isalnum())
            return cleaned == cleaned[::-1]
    ''',
    # A copy of reverse_string with another docstring: the same positive text in another file.
    "lib/copy_of_strings.py": '''
        def reverse_string(text):
            """Return the string with its characters in reverse order."""
            chars = list(text)
            chars.reverse()
            return "".join(chars)
    ''',
    "lib/files.py": '''
        def read_lines(path):
            """Read the lines of a text file without line endings."""
            with open(path, encoding="utf-8") as handle:
                lines = [line.rstrip("\\n") for line in handle]
            return lines


        def write_lines(path, lines):
            """Write a list of lines to a text file."""
            with open(path, "w", encoding="utf-8") as handle:
                for line in lines:
                    handle.write(line + "\\n")


        def file_size(path):
            """Return the size of a file in bytes."""
            import os
            info = os.stat(path)
            return info.st_size
    ''',
    "lib/numbers.py": '''
        def factorial(n):
            """Compute the factorial of a non-negative integer."""
            result = 1
            for i in range(2, n + 1):
                result *= i
            return result


        def mean(values):
            """Compute the arithmetic mean of a list of numbers."""
            total = sum(values)
            return total / len(values)


        def is_prime(n):
            """Check whether a number is prime by trial division."""
            if n < 2:
                return False
            return all(n % d for d in range(2, int(n ** 0.5) + 1))


        def gcd(a, b):
            """Greatest common divisor of two integers with Euclid's algorithm."""
            while b:
                a, b = b, a % b
            return a
    ''',
}


@pytest.fixture
def library_pairs(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "library"
    for name, text in LIBRARY.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    pairs = tmp_path / "pairs.jsonl"
    result = mine_pairs(PairsConfig(source=root, output=pairs))
    assert result.pairs == 11 and result.dropped == {"duplicate": 1}
    return root, pairs


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_duplicates_of_the_positive_are_never_negatives(library_pairs, tmp_path: Path, default_encoder) -> None:
    """Over the codebase, each positive is in the corpus (same file and qualname) and reverse_string twice
    (same text in two files); with greedy top sampling from rank 1 and no margin, only the guard keeps them out."""
    root, pairs_path = library_pairs
    config = NegativesConfig(
        input=pairs_path, output=tmp_path / "triples.jsonl", corpus=root, sampler="top", rank_start=1,
        margin=None, near_duplicate_jaccard=None, num_negatives=3, shuffle=False,
    )
    result = mine_negatives(config, encoder=default_encoder)
    rows = read_rows(result.output)
    pairs = {p.positive_id: p for p in read_pairs(pairs_path)}
    assert result.rows == len(rows) == 11
    for row in rows:
        pair = pairs[row["positive_id"]]
        for i in (1, 2, 3):
            assert normalize_whitespace(row[f"negative_{i}"]) != normalize_whitespace(row["positive"])
            assert row[f"negative_{i}_id"] != f"{pair.path}::{pair.qualname}"
        # Greedy: the negatives are the three best-scoring non-duplicates, best first.
        scores = [row[f"negative_{i}_score"] for i in (1, 2, 3)]
        assert scores == sorted(scores, reverse=True)
    reverse = next(r for r in rows if r["positive_id"] == "lib/copy_of_strings.py::reverse_string")
    assert "lib/strings.py::reverse_string" not in {reverse[f"negative_{i}_id"] for i in (1, 2, 3)}
    report = json.loads(result.report.read_text(encoding="utf-8"))
    # 12 corpus functions, one text twice (kept once): 11 documents; every pair drops exactly its own.
    assert report["corpus_documents"] == 11
    assert report["guard_drops"] == {"duplicate": 11}
    assert list(rows[0])[:5] == training_columns(3)

    # With docstrings kept, corpus texts differ from the (docstring-free) positives: the
    # same-file-same-qualname rule alone must catch each positive's own function.
    config = NegativesConfig(
        input=pairs_path, output=tmp_path / "with_docs.jsonl", corpus=root, sampler="top", rank_start=1,
        margin=None, near_duplicate_jaccard=None, num_negatives=3, shuffle=False, strip_docstrings=False,
    )
    result = mine_negatives(config, encoder=default_encoder)
    assert json.loads(result.report.read_text(encoding="utf-8"))["guard_drops"] == {"duplicate": 11}
    for row in read_rows(result.output):
        pair = pairs[row["positive_id"]]
        assert f"{pair.path}::{pair.qualname}" not in {row[f"negative_{i}_id"] for i in (1, 2, 3)}


def test_guards_window_and_dataset_loading(library_pairs, tmp_path: Path, default_encoder) -> None:
    _, pairs_path = library_pairs
    config = NegativesConfig(
        input=pairs_path, output=tmp_path / "t.jsonl", num_negatives=2, rank_start=2, rank_end=8, margin=0.9,
        sampler="softmax", temperature=0.05,
    )
    result = mine_negatives(config, encoder=default_encoder)
    rows = read_rows(result.output)
    assert rows and result.rows + result.skipped == 11
    for row in rows:
        for i in (1, 2):
            assert 2 <= row[f"negative_{i}_rank"] <= 8
            assert row[f"negative_{i}_score"] < 0.9 * row["positive_score"] + 1e-6
            assert row[f"negative_{i}_source"] in ("dense", "bm25", "both")
            assert row[f"negative_{i}_id"] != row["positive_id"]
        assert row["temperature"] == 0.05
    import datasets

    dataset = datasets.load_dataset("json", data_files=str(result.output), split="train")
    assert dataset.column_names[:4] == ["anchor", "positive", "negative_1", "negative_2"]
    assert dataset.select_columns(training_columns(2)).num_rows == result.rows


def test_bm25_pool_and_cross_encoder_hook(library_pairs, tmp_path: Path, default_encoder) -> None:
    _, pairs_path = library_pairs

    class VetoesFiles:
        """A rescorer that calls every file-handling function relevant (a stand-in cross-encoder rule)."""

        calls = 0

        def rescore_texts(self, query: str, texts: list[str]) -> np.ndarray:
            VetoesFiles.calls += 1
            return np.array([5.0 if "open(" in text or "os.stat" in text else 0.0 for text in texts])

    config = NegativesConfig(
        input=pairs_path, output=tmp_path / "t.jsonl", pool="bm25", num_negatives=1, rank_start=1, margin=None,
        near_duplicate_jaccard=None, sampler="random", cross_encoder_threshold=1.0,
    )
    result = mine_negatives(config, encoder=default_encoder, rescorer=VetoesFiles())
    rows = read_rows(result.output)
    assert VetoesFiles.calls == 11
    assert rows and all(row["negative_1_source"] == "bm25" for row in rows)
    assert not any("open(" in row["negative_1"] or "os.stat" in row["negative_1"] for row in rows)
    report = json.loads(result.report.read_text(encoding="utf-8"))
    assert report["guard_drops"]["cross-encoder"] > 0


def test_group_by_repo_draws_negatives_only_from_the_own_repository(library_pairs, tmp_path: Path, default_encoder) -> None:
    """Two repositories share one pairs file: under --group-by repo every negative of a pair is a positive of the
    same repository (both pools are searched, dense and BM25), while the ungrouped run crosses repositories."""
    _, pairs_path = library_pairs
    records = [json.loads(line) for line in pairs_path.read_text(encoding="utf-8").splitlines()]
    for record in records:  # numbers form one repository, strings and files the other
        record["repo"] = "numbers" if record["path"].endswith("numbers.py") else "text"
    source = tmp_path / "two-repos.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    repo_of_id = {r["positive_id"]: r["repo"] for r in records}
    common = dict(input=source, num_negatives=2, rank_start=1, margin=None, near_duplicate_jaccard=None, sampler="top")

    grouped = mine_negatives(NegativesConfig(output=tmp_path / "grouped.jsonl", group_by="repo", **common), encoder=default_encoder)
    rows = read_rows(grouped.output)
    assert len(rows) == grouped.rows == 11  # each repository has at least 3 functions: 2 negatives for every pair
    repo_of_anchor = {r["query"]: r["repo"] for r in records}
    assert all(repo_of_id[row[f"negative_{i}_id"]] == repo_of_anchor[row["anchor"]] for row in rows for i in (1, 2))
    report = json.loads(grouped.report.read_text(encoding="utf-8"))
    assert report["group_by"] == "repo" and report["pool_sizes"] == {"min": 4, "max": 7, "pools": 2}

    # 4 negatives: a numbers pair has only 3 other functions in its repository, so the shared pool must cross over,
    # and the grouped pool skips those pairs rather than borrow from the other repository
    wider = {**common, "num_negatives": 4}
    pooled = read_rows(mine_negatives(NegativesConfig(output=tmp_path / "pooled.jsonl", **wider), encoder=default_encoder).output)
    assert len(pooled) == 11
    grouped_wide = mine_negatives(NegativesConfig(output=tmp_path / "grouped4.jsonl", group_by="repo", **wider), encoder=default_encoder)
    assert grouped_wide.skipped == 4 and grouped_wide.rows == 7
    assert any(repo_of_id[row[f"negative_{i}_id"]] != repo_of_anchor[row["anchor"]] for row in pooled for i in range(1, 5))


def test_group_by_repo_refuses_a_separate_corpus(tmp_path: Path) -> None:
    from codehunt.index.errors import ConfigError

    with pytest.raises(ConfigError, match="--group-by must be one of"):
        NegativesConfig(input=tmp_path / "p.jsonl", output=tmp_path / "t.jsonl", group_by="file")
    with pytest.raises(ConfigError, match="leave out --corpus"):
        NegativesConfig(input=tmp_path / "p.jsonl", output=tmp_path / "t.jsonl", group_by="repo", corpus=tmp_path)


def test_cli_cross_encoder_and_threshold_reach_the_guard(library_pairs, tmp_path: Path) -> None:
    """`codehunt mine negatives --cross-encoder DIR --cross-encoder-threshold T` loads the reranker and applies T:
    with T far below any logit every candidate is vetoed, so no row survives and the report counts each veto."""
    from typer.testing import CliRunner

    from codehunt.cli import app

    _, pairs_path = library_pairs
    output = tmp_path / "t.jsonl"
    result = CliRunner().invoke(app, [
        "mine", "negatives", str(pairs_path), "-o", str(output), "--pool", "bm25", "--num-negatives", "1",
        "--rank-start", "1", "--near-duplicate-jaccard", "0.99", "--cross-encoder", "default",
        "--cross-encoder-threshold", "-1e9", "--device", "cpu",
    ])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "t.report.json").read_text(encoding="utf-8"))
    assert report["config"]["cross_encoder"] == "default" and report["config"]["cross_encoder_threshold"] == -1e9
    assert report["rows"] == 0 and report["skipped_too_few_negatives"] == 11
    assert report["guard_drops"]["cross-encoder"] >= 11  # at least one candidate per pair reached the guard
    assert output.read_text(encoding="utf-8") == ""


def test_sample_negatives_top_random_softmax() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.7], dtype=np.float32)
    rng = np.random.default_rng(0)
    assert sample_negatives(scores, 2, "top", 1.0, rng).tolist() == [1, 3]
    assert sample_negatives(scores, 9, "top", 1.0, rng).tolist() == [1, 3, 2, 0]  # fewer than n: all, best first
    drawn = sample_negatives(scores, 3, "random", 1.0, rng)
    assert len(set(drawn.tolist())) == 3 and scores[drawn].tolist() == sorted(scores[drawn].tolist(), reverse=True)
    # Softmax at temperature 1 over scores (1, 0): P(first) = e / (e + 1) = 0.7311.
    two = np.array([1.0, 0.0])
    firsts = sum(sample_negatives(two, 1, "softmax", 1.0, rng)[0] == 0 for _ in range(20000))
    assert abs(firsts / 20000 - math.e / (math.e + 1)) < 0.015
    # A tiny temperature is greedy.
    assert all(sample_negatives(scores, 2, "softmax", 1e-4, rng).tolist() == [1, 3] for _ in range(50))


def test_curriculum_temperature_schedule(tmp_path: Path) -> None:
    config = NegativesConfig(input=tmp_path / "p", output=tmp_path / "o", curriculum=True, temperature_start=0.2, temperature_end=0.02)
    assert [round(temperature_at(row, 3, config), 6) for row in range(3)] == [0.2, round(math.sqrt(0.2 * 0.02), 6), 0.02]
    flat = NegativesConfig(input=tmp_path / "p", output=tmp_path / "o", temperature=0.07)
    assert temperature_at(5, 10, flat) == 0.07


def test_curriculum_epochs_write_every_pair_each_epoch(library_pairs, tmp_path: Path, default_encoder) -> None:
    _, pairs_path = library_pairs
    config = NegativesConfig(
        input=pairs_path, output=tmp_path / "t.jsonl", num_negatives=1, rank_start=2, margin=None, epochs=2, curriculum=True
    )
    rows = read_rows(mine_negatives(config, encoder=default_encoder).output)
    assert len(rows) == 22 and [r["epoch"] for r in rows] == [0] * 11 + [1] * 11
    temperatures = [r["temperature"] for r in rows]
    assert temperatures[0] == 0.2 and temperatures[-1] == 0.02 and temperatures == sorted(temperatures, reverse=True)


def test_progress_names_pairs_searched_of_all(library_pairs, tmp_path: Path, default_encoder, capsys) -> None:
    _, pairs_path = library_pairs
    config = NegativesConfig(input=pairs_path, output=tmp_path / "p.jsonl", num_negatives=1, block_size=4, rank_start=2)
    mine_negatives(config, encoder=default_encoder, show_progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if "mining negatives" in line]
    assert [line.split(": ")[2].split(" pairs")[0] for line in lines] == ["4 of 11", "8 of 11", "11 of 11"]
    assert lines[-1].endswith("about 0.0 min left")
