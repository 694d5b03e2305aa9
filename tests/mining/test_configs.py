"""Every mining config rejects a bad value when it is made, with a ConfigError naming the option."""
from __future__ import annotations

from pathlib import Path

import pytest

from codehunt.index.errors import ConfigError
from codehunt.mining.config import PairsConfig
from codehunt.mining.filter import FilterConfig
from codehunt.mining.negatives import NegativesConfig
from codehunt.mining.query_style import WebQueryStyle

IO = {"input": Path("p.jsonl"), "output": Path("o.jsonl")}
PAIRS = {"source": Path("src"), "output": Path("o.jsonl")}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: PairsConfig(**PAIRS, kind="bogus"), "unknown pair source 'bogus'"),
        (lambda: PairsConfig(**PAIRS, query_style="bing"), "unknown query style 'bing'"),
        (lambda: PairsConfig(**PAIRS, limit=0), "--limit must be positive"),
        (lambda: PairsConfig(**PAIRS, max_code_chars=0), "--max-code-chars must be at least 1"),
        (lambda: PairsConfig(**PAIRS, min_query_words=5, max_query_words=4), "below --min-query-words 5"),
        (lambda: PairsConfig(**PAIRS, max_commits=0), "--max-commits must be at least 1"),
        (lambda: PairsConfig(**PAIRS, query_language="visual basic"), "--query-language must be one word"),
        (lambda: FilterConfig(**IO, top_k=0), "--top-k must be at least 1"),
        (lambda: FilterConfig(**IO, min_score=2.0), "--min-score is a cosine"),
        (lambda: NegativesConfig(**IO, sampler="greedy"), "unknown sampler 'greedy'"),
        (lambda: NegativesConfig(**IO, rank_start=5, rank_end=4), "rank window"),
        (lambda: NegativesConfig(**IO, margin=0.0), "--margin must be positive"),
        (lambda: NegativesConfig(**IO, near_duplicate_jaccard=1.5), "--near-duplicate-jaccard must be in"),
        (lambda: WebQueryStyle(max_words=0), "max_words must be at least 1"),
        (lambda: WebQueryStyle(prefix_share=0.9, suffix_share=0.9), "sum to at most 1"),
        (lambda: WebQueryStyle(language=""), "one word"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_bad_values_raise_config_error(make, message) -> None:
    with pytest.raises(ConfigError, match=message):
        make()


def test_defaults_are_valid() -> None:
    assert PairsConfig(**PAIRS).kind == "auto" and PairsConfig(**PAIRS, min_query_words=0).min_query_words == 0
    assert FilterConfig(**IO).top_k == 2 and NegativesConfig(**IO, margin=None, near_duplicate_jaccard=None).margin is None
    assert WebQueryStyle(prefix_share=1.0, suffix_share=0.0, in_language_share=0.0).prefix_share == 1.0
