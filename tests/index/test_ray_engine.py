"""The Ray engine on a local 2-CPU Ray cluster: the same index as a single-process build, also when a worker dies.

The cluster is started here (``ray.init(num_cpus=2)``); the source is the real codebase of ``test_shards``
(the installed ``pathspec`` package), read from its directory.
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from codehunt.index.index import Index
from tests.index.test_shards import assert_same_index, codebase  # noqa: F401 - a fixture

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="needs Ray (pip install 'codehunt[ray]')")
    pytest.importorskip("ray.data", reason="needs Ray Data (pip install 'ray[data]')")
    import logging

    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests package
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def single_dir(codebase, default_encoder, tmp_path_factory) -> Path:  # noqa: F811
    output = tmp_path_factory.mktemp("single") / "dir.idx"
    Index.build(codebase, output, encoder=default_encoder)
    return output


class DieOnce:
    """An encoder factory whose encoder SIGKILLs its own worker process on its first batch, once per ``marker``."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __call__(self):
        from codehunt.index.encoder import EncoderConfig, SentenceTransformerEncoder

        marker = self.marker

        class Dying(SentenceTransformerEncoder):
            def encode(self, texts, kind, show_progress=False):
                try:
                    fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # exactly one worker wins, once
                except FileExistsError:
                    return super().encode(texts, kind, show_progress)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)

        return Dying(EncoderConfig())


def test_ray_build_equals_a_single_process_build(ray_cluster, codebase, single_dir, tmp_path):  # noqa: F811
    from codehunt.index.ray_engine import RayConfig, build_index_ray

    index = build_index_ray(codebase, tmp_path / "ray.idx", ray_config=RayConfig(workers=2, batch_size=48))
    assert_same_index(tmp_path / "ray.idx", single_dir)
    assert index.manifest.build["files_read"] == len((single_dir / "files.jsonl").read_text(encoding="utf-8").splitlines())


def test_a_worker_killed_mid_build_is_retried(ray_cluster, codebase, single_dir, tmp_path):  # noqa: F811
    """One actor process dies (SIGKILL) on its first batch; Ray restarts it and re-runs the batch: same index."""
    from codehunt.index.ray_engine import RayConfig, build_index_ray

    marker = tmp_path / "killed.pid"
    build_index_ray(codebase, tmp_path / "ray.idx", ray_config=RayConfig(workers=2, batch_size=48), encoder_factory=DieOnce(marker))
    killed = int(marker.read_text())
    assert killed > 0 and killed != os.getpid()
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)  # that worker is gone for good
    assert_same_index(tmp_path / "ray.idx", single_dir)


class HashEncoder:
    """A model-free encoder (sha256 of the text as a vector): cheap enough to rebuild the same source many times."""

    name, dimension = "hash", 32

    def encode(self, texts, kind, show_progress=False):
        import hashlib

        rows = np.array([np.frombuffer(hashlib.sha256(text.encode()).digest(), dtype=np.uint8) for text in texts], dtype=np.float32)
        rows = rows.reshape(len(texts), 32) - 127.5
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

    def fingerprint(self):
        return "sha256"


@pytest.mark.parametrize("kind", ["git", "beir"])
def test_ray_reads_git_blobs_and_beir_corpora(kind, ray_cluster, codebase, tmp_path):  # noqa: F811
    import json

    from codehunt.index.ray_engine import RayConfig, build_index_ray

    if kind == "git":
        source, rev = codebase, "HEAD"
    else:
        source, rev = tmp_path / "corpus.jsonl", None
        source.write_text("".join(json.dumps({"_id": f"d{i}", "title": f"t{i % 7}", "text": f"def f{i}(): return {i}"}) + "\n"
                                  for i in range(300)), encoding="utf-8")
    Index.build(source, tmp_path / "single", rev=rev, encoder=HashEncoder())
    build_index_ray(source, tmp_path / "ray", rev=rev, ray_config=RayConfig(workers=2, batch_size=40), encoder_factory=HashEncoder)
    for name in ("ids.json", "corpus.jsonl", "skipped.jsonl", "dense.faiss", "bm25/idf.npy"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "single" / name).read_bytes(), name  # a deterministic encoder
    manifests = [json.loads((tmp_path / name / "manifest.json").read_text(encoding="utf-8")) for name in ("ray", "single")]
    assert manifests[0]["source"] == manifests[1]["source"] and manifests[0]["source"].get("commit", "beir") is not None


def test_embed_texts_matches_the_local_encoder(ray_cluster, default_encoder):
    from codehunt.index.ray_engine import RayConfig, embed_texts

    texts = [f"def f{i}(x):\n    return x + {i}" for i in range(150)] + ["parse an ISO date"] * 3
    vectors = embed_texts(texts, "query", ray_config=RayConfig(workers=2, batch_size=32))
    expected = default_encoder.encode(texts, "query")
    assert vectors.shape == expected.shape
    # same order: a shuffle would fail by far more; bf16 on AMX rounds differently per batch shape (up to 6e-4 seen)
    np.testing.assert_allclose(vectors, expected, atol=2e-3 if default_encoder.use_bf16() else 1e-4)


def test_ray_encoder_is_an_encoder_for_the_miners(ray_cluster, default_encoder, tmp_path):
    """RayEncoder keeps its actors across calls and keys an embedding cache exactly as the local model does."""
    from codehunt.index.embedding_cache import store_namespace
    from codehunt.index.ray_engine import RayConfig, RayEncoder

    with RayEncoder(ray_config=RayConfig(workers=2, batch_size=16)) as encoder:
        assert (encoder.dimension, encoder.fingerprint()) == (default_encoder.dimension, default_encoder.fingerprint())
        assert store_namespace(encoder) == store_namespace(default_encoder)
        texts = [f"read the file number {i}" for i in range(40)]
        for kind in ("query", "document"):
            np.testing.assert_allclose(encoder.encode(texts, kind), default_encoder.encode(texts, kind), atol=2e-3 if default_encoder.use_bf16() else 1e-4)
        assert encoder.encode([], "query").shape == (0, default_encoder.dimension)


def test_without_ray_the_error_names_the_extra(monkeypatch):
    from codehunt.index import ray_engine

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ray_engine.RayUnavailableError, match=r"pip install 'codehunt\[ray\]'"):
        ray_engine.connect(ray_engine.RayConfig())
