"""The Rescorer seam: truncation that keeps the signature, length-sorted batches, bf16, rank renumbering, errors."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codehunt.index.errors import ModelLoadError
from codehunt.index.types import Hit
from codehunt.reranker.config import RerankConfig, RerankerConfigError
from codehunt.reranker.model import CrossEncoderRescorer, Rescorer, cut_queries, head_lines, load_rescorer, tokenize_pairs

LONG_FUNCTION = "def parse_config(path, strict=False):\n" + "".join(f"    value_{i} = read_line({i})\n" for i in range(200))


def hits_for(texts: list[str]) -> list[Hit]:
    return [Hit(rank=i + 1, score=10.0 - i, doc_id=f"a.py::f{i}", path="a.py", start_line=i * 10 + 1, end_line=i * 10 + 5,
                qualname=f"f{i}", language="python", snippet=text.split("\n")[0]) for i, text in enumerate(texts)]


def test_head_lines_keeps_whole_first_lines() -> None:
    head = head_lines(LONG_FUNCTION, 100)
    assert head.startswith("def parse_config(path, strict=False):\n")
    assert LONG_FUNCTION.startswith(head) and head.count("\n") < 10
    assert head_lines("short", 100) == "short"
    indented = "x\n" + " " * 500 + "y\n" + "z" * 10
    assert head_lines(indented, 5) == indented  # the line that crosses the budget is kept whole
    assert head_lines(indented, 2) == "x\n" + " " * 500 + "y", "indentation is free: only non-space characters count"


def test_truncation_keeps_signature_and_query(untrained_rescorer: CrossEncoderRescorer) -> None:
    tokenizer = untrained_rescorer.tokenizer
    query = "read a config file strictly " * 20
    cut = cut_queries(tokenizer, [query, "short query"], 8)
    assert len(tokenizer(cut[0], add_special_tokens=False)["input_ids"]) == 8
    assert query.startswith(cut[0]) and cut[1] == "short query"
    encoded = tokenize_pairs(tokenizer, [query], [LONG_FUNCTION], max_length=32, max_query_length=8)
    ids = encoded["input_ids"][0]
    assert len(ids) == 32
    text = tokenizer.decode(ids)
    assert text.startswith("[CLS] read a config file strictly read [SEP] def parse _ config ( path, strict")  # strictly = 2 tokens
    assert "value_199" not in text.replace(" ", "") and text.endswith("[SEP]")


def test_rescore_reorders_and_renumbers(untrained_rescorer: CrossEncoderRescorer) -> None:
    texts = ["def add(a, b):\n    return a + b", "def sort_list(x):\n    return sorted(x)", "class Empty:\n    pass",
             LONG_FUNCTION]
    hits = hits_for(texts)
    scores = untrained_rescorer.rescore_texts("sort a list", texts)
    assert scores.shape == (4,) and scores.dtype == np.float32
    rescored = untrained_rescorer.rescore("sort a list", hits, texts=texts)
    assert [h.rank for h in rescored] == [1, 2, 3, 4]
    assert [h.doc_id for h in rescored] == [hits[i].doc_id for i in np.argsort(-scores, kind="stable")]
    assert [h.score for h in rescored] == sorted(scores.astype(float).tolist(), reverse=True)
    by_id = {h.doc_id: h for h in rescored}
    assert all(dataclasses.replace(by_id[h.doc_id], rank=h.rank, score=h.score) == h for h in hits), "other fields kept"
    # without texts, the snippet is what gets read
    snippet_scores = untrained_rescorer.rescore_texts("sort a list", [h.snippet for h in hits])
    assert sorted(h.score for h in untrained_rescorer.rescore("sort a list", hits)) == sorted(snippet_scores.tolist())
    assert untrained_rescorer.rescore("q", []) == []
    with pytest.raises(ValueError, match="3 texts"):
        untrained_rescorer.rescore("q", hits, texts=texts[:3])


def test_is_a_rescorer(untrained_rescorer: CrossEncoderRescorer) -> None:
    assert isinstance(untrained_rescorer, Rescorer)
    assert not isinstance(object(), Rescorer)


def test_length_sorting_and_bf16_agree_with_the_plain_path(untrained_rescorer: CrossEncoderRescorer) -> None:
    texts = ["x = 1", LONG_FUNCTION, "def f():\n    return 2", "def g(a):\n    '''Docs.'''\n    return a * 3"] * 3
    queries = [f"query number {i}" for i in range(len(texts))]
    model = untrained_rescorer.model
    sorted_fp32 = untrained_rescorer.score_pairs(queries, texts)
    unsorted = CrossEncoderRescorer(model, dataclasses.replace(untrained_rescorer.config, sort_by_length=False))
    np.testing.assert_allclose(unsorted.score_pairs(queries, texts), sorted_fp32, atol=1e-4)
    one_by_one = [untrained_rescorer.score_pairs([q], [t])[0] for q, t in zip(queries, texts)]
    np.testing.assert_allclose(one_by_one, sorted_fp32, atol=1e-4)
    bf16 = CrossEncoderRescorer(model, dataclasses.replace(untrained_rescorer.config, precision="bf16"))
    assert bf16.use_bf16() and not untrained_rescorer.use_bf16()
    np.testing.assert_allclose(bf16.score_pairs(queries, texts), sorted_fp32, atol=0.05)
    assert untrained_rescorer.score_pairs([], []).shape == (0,)


def test_load_rescorer_passes_none_through_and_takes_the_fusion_weight() -> None:
    assert load_rescorer(None) is None  # no --rerank: no rescorer, no model loaded
    base = RerankConfig(max_length=64, precision="fp32", batch_size=8, first_stage_weight=0.5)
    fused = load_rescorer("default", base, first_stage_weight=2.0)
    assert fused.config == dataclasses.replace(base, first_stage_weight=2.0)
    assert load_rescorer("default", base).config.first_stage_weight == 0.5


def test_load_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist") as missing:
        load_rescorer(tmp_path / "nope")
    assert "\n" not in str(missing.value)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="cannot load reranker model") as bad:
        load_rescorer(broken)
    assert "\n" not in str(bad.value)


def test_config_validation() -> None:
    with pytest.raises(RerankerConfigError, match="precision"):
        RerankConfig(precision="fp16")
    with pytest.raises(RerankerConfigError, match="batch_size"):
        RerankConfig(batch_size=0)


def test_package_imports_are_light() -> None:
    code = ("import sys, codehunt.reranker, codehunt.reranker.config, codehunt.reranker.data, codehunt.reranker.model, "
            "codehunt.reranker.evaluate, codehunt.reranker.train; "
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'datasets', 'accelerate') "
            "if m in sys.modules))")
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, check=True)
    assert json.loads(result.stdout.replace("'", '"')) == []


def test_layering_reranker_imports_only_index_training_and_itself() -> None:
    import ast

    repo = Path(__file__).resolve().parents[2]
    for path in sorted((repo / "reranker").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                parts = name.split(".")
                assert parts[0] not in {"index", "mining", "retriever", "reranker", "training"}, f"{path.name}: bare import {name}"
                if parts[0] == "codehunt":
                    assert len(parts) > 1 and parts[1] in {"index", "training", "reranker"}, f"{path.name} imports {name}"

