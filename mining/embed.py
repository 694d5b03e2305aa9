"""The scorer model behind the filter and the negative miner, optionally behind the embedding cache."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from codehunt.index.encoder import Encoder, EncoderConfig, SentenceTransformerEncoder


def load_scorer(
    model: str, cache_dir: Path | None = None, batch_size: int = 64, device: str | None = None, encoder: Encoder | None = None
) -> Encoder:
    """The scorer ``model`` (or ``encoder`` when one is already loaded), wrapped in a
    :class:`~codehunt.index.embedding_cache.CachedEncoder` when ``cache_dir`` is given."""
    if encoder is None:
        encoder = SentenceTransformerEncoder(EncoderConfig(model=model, batch_size=batch_size, device=device))
    if cache_dir is not None:
        from codehunt.index.embedding_cache import CachedEncoder

        return CachedEncoder(encoder, Path(cache_dir))
    return encoder


def scorer_info(encoder: Encoder) -> dict[str, Any]:
    """Name, fingerprint and dimension of the scorer, for reports."""
    return {"name": encoder.name, "fingerprint": encoder.fingerprint(), "dimension": encoder.dimension}
