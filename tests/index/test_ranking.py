"""index.ranking: the hybrid ranking step (fusion, then symbol, path and file-diversity features) on hand-made lists."""
from __future__ import annotations

import pytest

from codehunt.index.errors import ConfigError
from codehunt.index.fusion import FusionConfig
from codehunt.index.ranking import (
    SearchConfig,
    names_file,
    query_content_words,
    query_identifiers,
    rank_hybrid,
)
from codehunt.index.types import Chunk


def chunk(path: str, qualname: str) -> Chunk:
    return Chunk(doc_id=f"{path}::{qualname}", path=path, qualname=qualname, kind="function", language="python",
                 start_line=1, end_line=3, text=f"def {qualname}():\n    pass")


CHUNKS = [chunk("app.py", "App.run"), chunk("app.py", "App.stop"), chunk("app.py", "App.route"),
          chunk("routing.py", "Router"), chunk("sessions.py", "open_session")]
PLAIN = SearchConfig(symbol_boost=0.0, path_boost=0.0, file_diversity=0.0)


def test_query_words():
    assert query_identifiers("Router") == {"router"}
    assert query_identifiers("where is parse_args called") == {"parse_args"}
    assert query_identifiers("how are routes registered") == set()
    assert query_content_words("how are routes registered") == {"routes", "registered"}
    assert names_file({"session"}, "flask/sessions.py") and names_file({"routing"}, "routing.py")
    assert not names_file({"session"}, "flask/app.py")


def test_without_features_it_is_the_fusion_order():
    dense = [(0, 0.9), (1, 0.8), (2, 0.7), (3, 0.6), (4, 0.5)]
    ranked = rank_hybrid(dense, [], CHUNKS, "anything", PLAIN)
    assert [position for position, _ in ranked] == [0, 1, 2, 3, 4]
    assert sum(score for _, score in ranked) == pytest.approx(0.0)  # z-scored


def test_symbol_match_puts_the_defining_unit_first():
    dense = [(0, 0.9), (1, 0.8), (2, 0.7), (3, 0.6), (4, 0.5)]
    ranked = rank_hybrid(dense, [], CHUNKS, "Router", SearchConfig(symbol_boost=5.0, path_boost=0.0, file_diversity=0.0))
    assert ranked[0][0] == 3


def test_path_match_lifts_the_named_file():
    dense = [(0, 0.9), (1, 0.8), (2, 0.7), (3, 0.6), (4, 0.5)]
    ranked = rank_hybrid(dense, [], CHUNKS, "session handling", SearchConfig(symbol_boost=0.0, path_boost=5.0, file_diversity=0.0))
    assert ranked[0][0] == 4


def test_file_diversity_by_hand():
    # z-scores of 5, 4, 3, 2, 1 are sqrt(2) * (1, 0.5, 0, -0.5, -1); app.py's 2nd and 3rd units lose 1 and 2
    dense = [(0, 5.0), (1, 4.0), (2, 3.0), (3, 2.0), (4, 1.0)]
    ranked = rank_hybrid(dense, [], CHUNKS, "x", SearchConfig(symbol_boost=0.0, path_boost=0.0, file_diversity=1.0))
    root2 = 2 ** 0.5
    assert dict(ranked) == pytest.approx({0: root2, 1: root2 * 0.5 - 1, 2: -2.0, 3: -root2 * 0.5, 4: -root2})
    assert [position for position, _ in ranked] == [0, 1, 3, 4, 2]


def test_empty_candidates_and_a_missing_lexical_side():
    assert rank_hybrid([], [], CHUNKS, "q", SearchConfig()) == []
    ranked = rank_hybrid([(2, 0.3), (4, 0.2)], [], CHUNKS, "q", PLAIN)
    assert [position for position, _ in ranked] == [2, 4]


def test_config_round_trip_and_errors():
    config = SearchConfig(depth=50, fusion=FusionConfig("rrf", 0.7), path_boost=0.0)
    from dataclasses import asdict

    assert SearchConfig.from_json(asdict(config)) == config
    assert SearchConfig.from_json(None) == SearchConfig()
    with pytest.raises(ConfigError):
        SearchConfig(depth=0)
    with pytest.raises(ConfigError):
        SearchConfig(file_diversity=-1.0)
