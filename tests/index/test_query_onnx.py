"""The ONNX Runtime query path: the torch model's vector, one export per model, and torch whenever it cannot be used."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'codehunt[fast]' or '.[test]')")

from codehunt.index import query_onnx  # noqa: E402

QUERIES = ["parse an ISO date", "x", "download a url and save it to a file " * 30, "def send_email(address, body)", "重试请求"]


def torch_vector(encoder, text: str) -> np.ndarray:
    """The eager fp32 vector of one query, as sentence-transformers computes it (no ONNX, no autocast)."""
    import torch

    with torch.inference_mode():
        embedding = encoder.model(encoder.model.preprocess([text]))["sentence_embedding"]
        return torch.nn.functional.normalize(embedding.float(), p=2, dim=1).numpy()


@pytest.fixture(scope="module")
def exported(default_encoder, tmp_path_factory):
    """The pipeline over an export made in a fresh cache directory, and that directory."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    pipeline = query_onnx.onnx_query_embedding(default_encoder.model, default_encoder.fingerprint(), None, cache)
    assert pipeline is not None
    return pipeline, cache


def test_the_onnx_vector_is_the_torch_models_within_the_tolerance(default_encoder, exported):
    pipeline, _ = exported
    for text in QUERIES:
        got = pipeline(default_encoder.model.preprocess([text]))
        want = torch_vector(default_encoder, text)
        assert got.shape == (1, default_encoder.dimension)
        assert np.abs(got - want).max() <= query_onnx.TOLERANCE, text
        assert np.isclose(np.linalg.norm(got), 1.0, atol=1e-6)
    near = [pipeline(default_encoder.model.preprocess([t])) for t in ("read a csv file", "parse a csv file", "open a socket")]
    assert (near[0] @ near[1].T).item() > (near[0] @ near[2].T).item()  # a real model's geometry, not a constant


def test_the_export_is_made_once_and_reused(default_encoder, exported, monkeypatch):
    _, cache = exported
    files = sorted(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".onnx"  # no temporary file left beside it
    stamp = files[0].stat().st_mtime_ns
    monkeypatch.setattr(query_onnx, "export_pipeline", lambda *a, **k: pytest.fail("exported again"))
    again = query_onnx.onnx_query_embedding(default_encoder.model, default_encoder.fingerprint(), None, cache)
    assert again is not None and files[0].stat().st_mtime_ns == stamp
    other = query_onnx.export_path(default_encoder.model, "another-fingerprint", ["input_ids"], cache)
    assert other != files[0]  # other weights get their own file


def test_a_damaged_cache_file_is_exported_again(default_encoder, exported, tmp_path):
    _, cache = exported
    (source,) = cache.iterdir()
    damaged = tmp_path / source.name
    damaged.write_bytes(source.read_bytes()[: 4096])  # cut short, as a full disk would leave it
    pipeline = query_onnx.onnx_query_embedding(default_encoder.model, default_encoder.fingerprint(), None, tmp_path)
    assert pipeline is not None
    assert damaged.stat().st_size > 4096  # made again in full
    text = "merge two dictionaries"
    assert np.abs(pipeline(default_encoder.model.preprocess([text])) - torch_vector(default_encoder, text)).max() <= query_onnx.TOLERANCE


def test_an_export_that_fails_half_way_leaves_nothing_and_torch_answers(default_encoder, tmp_path, monkeypatch):
    import torch

    def dies(module, args, path, **kwargs):
        Path(path).write_bytes(b"half an onnx file")
        raise RuntimeError("killed mid-export")

    monkeypatch.setattr(torch.onnx, "export", dies)
    assert query_onnx.onnx_query_embedding(default_encoder.model, default_encoder.fingerprint(), None, tmp_path) is None
    assert list(tmp_path.rglob("*")) == []


def test_a_pipeline_that_differs_or_no_runtime_keeps_torch(default_encoder, exported, monkeypatch):
    _, cache = exported
    monkeypatch.setattr(query_onnx, "TOLERANCE", -1.0)  # every difference, even 0, is too large
    assert query_onnx.onnx_query_embedding(default_encoder.model, default_encoder.fingerprint(), None, cache) is None
    monkeypatch.undo()
    monkeypatch.setattr(query_onnx, "onnx_runtime_available", lambda: False)
    assert query_onnx.onnx_query_embedding(default_encoder.model, default_encoder.fingerprint(), None, cache) is None
    assert query_onnx.onnx_query_embedding(object(), "x", None, cache) is None  # not a SentenceTransformer


def test_the_encoder_embeds_one_query_through_onnx_and_batches_through_torch(default_encoder, monkeypatch, tmp_path):
    from codehunt.index.encoder import SentenceTransformerEncoder

    monkeypatch.setenv("CODEHUNT_CACHE", str(tmp_path))
    onnx = SentenceTransformerEncoder(default_encoder.config, model=default_encoder.model, fingerprint=default_encoder.fingerprint())
    torch_only = SentenceTransformerEncoder(default_encoder.config, model=default_encoder.model, onnx_queries=False)
    text = "read a json file"
    one = onnx.encode([text], "query")
    assert onnx.onnx_query_pipeline() is not None and list((tmp_path / "onnx").glob("*.onnx"))
    assert torch_only.onnx_query_pipeline() is None
    assert np.abs(one - torch_vector(default_encoder, text)).max() <= query_onnx.TOLERANCE
    assert np.array_equal(onnx.encode([text, text], "query"), np.repeat(one, 2, axis=0))  # one unique text
    batch = ["read a json file", "open a socket"]
    assert np.array_equal(onnx.encode(batch, "query"), torch_only.encode(batch, "query"))  # batches stay on torch
    assert np.array_equal(onnx.encode([text], "document"), torch_only.encode([text], "document"))
