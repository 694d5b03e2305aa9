"""Every index config rejects a bad value when it is made, with a ConfigError naming the field."""
from __future__ import annotations

import pytest

from codehunt.index.bm25 import BM25Config
from codehunt.index.chunking import ChunkConfig
from codehunt.index.corpus import CorpusConfig
from codehunt.index.dense import DenseConfig
from codehunt.index.encoder import EncoderConfig
from codehunt.index.errors import CodehuntError, ConfigError


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: EncoderConfig(precision="fp16"), "unknown precision 'fp16'"),  # used to run as "auto" silently
        (lambda: EncoderConfig(batch_size=0), "--batch-size must be at least 1"),
        (lambda: EncoderConfig(model=" "), "--model must name a model"),
        (lambda: EncoderConfig(max_length=-1), "max_length"),
        (lambda: ChunkConfig(window_lines=0), "window_lines >= 1"),  # used to be a bare ValueError
        (lambda: ChunkConfig(min_module_lines=-1), "min_module_lines >= 0"),
        (lambda: DenseConfig(index_type="annoy"), "unknown index type 'annoy'"),
        (lambda: DenseConfig(hnsw_m=0), "--hnsw-m must be at least 1"),
        (lambda: DenseConfig(pq_m=-8), "--pq-m must be >= 0"),
        (lambda: BM25Config(b=-0.1), "b must be between 0 and 1"),
        (lambda: CorpusConfig(chunk={"window_lines": 10}), "needs a SourceConfig and a ChunkConfig"),
    ],
    ids=["encoder-precision", "encoder-batch", "encoder-model", "encoder-max-length", "chunk-window", "chunk-module",
         "dense-type", "dense-hnsw", "dense-pq", "bm25-b", "corpus-parts"],
)
def test_bad_values_raise_config_error(make, message) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        make()
    assert isinstance(caught.value, CodehuntError)  # the CLI prints one line for it, never a traceback


def test_defaults_and_edge_values_are_accepted() -> None:
    assert EncoderConfig().precision == "auto" and EncoderConfig(max_length=0).max_length == 0  # 0: the model's window
    for precision in ("fp32", "bf16", "auto"):
        assert EncoderConfig(precision=precision).precision == precision
    assert ChunkConfig(window_lines=1, window_overlap=0, max_error_fraction=1.0).window_lines == 1
    assert DenseConfig(index_type="ivfpq", ivf_nlist=0, pq_m=0).index_type == "ivfpq"
    assert BM25Config(k1=0.0, b=0.0).k1 == 0.0


def test_retriever_and_reranker_config_errors_are_config_errors() -> None:
    from codehunt.reranker.config import RerankConfig, RerankerConfigError
    from codehunt.retriever.config import RetrieverConfigError

    assert issubclass(RetrieverConfigError, ConfigError) and issubclass(RerankerConfigError, ConfigError)
    with pytest.raises(ConfigError, match="batch_size"):
        RerankConfig(batch_size=0)
