"""Shared fixtures: the real default model (loaded once per session) and the shared data folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$CODEHUNT_SHARED/data`` or ``../shared/data`` beside the checkout."""
    root = Path(os.environ.get("CODEHUNT_SHARED", REPO_ROOT.parent / "shared"))
    return root / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    data = shared_data_dir()
    if not (data / "cosqa" / "corpus.jsonl").is_file():
        pytest.skip(f"shared data not found at {data} (set CODEHUNT_SHARED to the folder holding data/)")
    return data


@pytest.fixture(scope="session")
def default_encoder():
    """The packaged all-MiniLM-L6-v2, loaded once for the whole session."""
    from codehunt.index.encoder import EncoderConfig, SentenceTransformerEncoder

    return SentenceTransformerEncoder(EncoderConfig(model="default"))
