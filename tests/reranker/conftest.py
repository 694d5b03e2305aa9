"""Reranker fixtures: the packaged default model as a cross-encoder (untrained head), loaded once."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def untrained_rescorer():
    """all-MiniLM-L6-v2 with a new, seeded classification head; fp32 and a short window keep tests fast."""
    from codehunt.reranker.config import RerankConfig
    from codehunt.reranker.model import load_rescorer

    return load_rescorer("default", RerankConfig(max_length=64, precision="fp32", batch_size=8))
