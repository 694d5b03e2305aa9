"""End-to-end training with the real default model: resume equality, publishing, warm-up, accumulation."""
from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from codehunt.retriever.config import RetrieverConfigError
from codehunt.retriever.data import load_training_data, stable_id
from codehunt.retriever.model import TRAINING_INFO
from codehunt.retriever.train import TrainingRun, train_retriever
from codehunt.training.checkpoint import CheckpointError, list_checkpoints, read_state, read_tensors
from codehunt.training.sampler import BatchOrder

REPO = Path(__file__).resolve().parents[2]
FULL_RECIPE = dict(steps=4, grad_accum=2, checkpoint_every=2, keep_checkpoints=5, loss="dcl", learn_temperature=True,
                   mochi="4,2,2", augment="all", intra_modal=True, query_prompt="query: ", document_prompt="code: ")


@pytest.fixture(scope="module")
def straight_run(triples_file: Path, make_config, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """Four straight steps with every option on (DCL, learned tau, MoCHi, augmentation, intra-modal, accumulation)."""
    config = make_config(triples_file, tmp_path_factory.mktemp("straight") / "model", **FULL_RECIPE)
    return config, train_retriever(config)


def test_resume_equals_straight_run(straight_run, triples_file: Path, make_config, tmp_path: Path) -> None:
    """2 steps + resume + 2 steps == 4 straight steps: parameters, queues, losses."""
    config, straight = straight_run
    steps = list_checkpoints(config.checkpoint_path)
    assert [p.name for p in steps] == ["step-00000002", "step-00000004"]
    resumed_root = tmp_path / "resumed.checkpoints"
    resumed_root.mkdir()
    shutil.copytree(steps[0], resumed_root / steps[0].name)  # as if the first run had died after step 2
    torch.manual_seed(1234)  # scramble the global RNG: only the checkpoint may restore it
    resumed = make_config(triples_file, tmp_path / "model", checkpoint_dir=str(resumed_root), resume=True, **FULL_RECIPE)
    out = train_retriever(resumed)

    straight_weights, _ = read_tensors(straight / "model.safetensors")
    resumed_weights, _ = read_tensors(out / "model.safetensors")
    assert straight_weights.keys() == resumed_weights.keys()
    for name, value in straight_weights.items():
        torch.testing.assert_close(resumed_weights[name], value, rtol=0, atol=1e-6, msg=name)
    base = read_tensors(Path(_default_model_dir()) / "model.safetensors")[0]
    changed = [n for n, v in straight_weights.items() if n in base and not torch.allclose(base[n], v, atol=1e-6)]
    assert len(changed) > 10  # training moved the weights, so equality above is not trivial

    straight_queues = read_tensors(steps[1] / "queues.safetensors")[0]
    resumed_queues = read_tensors(resumed_root / "step-00000004" / "queues.safetensors")[0]
    for name, value in straight_queues.items():
        torch.testing.assert_close(resumed_queues[name], value, rtol=0, atol=1e-6, msg=name)
    assert read_state(resumed_root / "step-00000004")["queues"] == read_state(steps[1])["queues"]

    history = lambda path: json.loads((path / TRAINING_INFO).read_text(encoding="utf-8"))["history"]  # noqa: E731
    straight_history, resumed_history = history(straight), history(out)
    assert [h["step"] for h in resumed_history] == [1, 2, 3, 4]
    for a, b in zip(straight_history[2:], resumed_history[2:]):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-6, abs=1e-7) and b["temperature"] == pytest.approx(a["temperature"], rel=1e-6)
    assert straight_history[2]["loss"] != straight_history[3]["loss"]


def _default_model_dir() -> str:
    from codehunt.index.encoder import resolve_model_path

    return resolve_model_path("default")


LOADER = """
import json, sys
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu")
texts = ["split a string like a shell", "def quote(s):\\n    return s"]
query = model.encode(texts[:1], prompt_name="query", normalize_embeddings=True)
document = model.encode(texts[1:], prompt_name="document", normalize_embeddings=True)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("codehunt", "retriever", "index", "mining", "reranker"))
print(json.dumps({"prompts": model.prompts, "query": query.tolist(), "document": document.tolist(), "leaked": leaked,
                  "modules": [type(m).__name__ for m in model], "max_seq_length": model.max_seq_length}))
"""


def test_published_model_loads_without_codehunt(straight_run, tmp_path: Path) -> None:
    from codehunt.index.encoder import EncoderConfig, SentenceTransformerEncoder

    config, out = straight_run
    files = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "modules.json", "config_sentence_transformers.json", TRAINING_INFO} <= files
    assert not any("queue" in f or "key_encoder" in f or "optimizer" in f for f in files)  # those live in checkpoints
    assert (list_checkpoints(config.checkpoint_path)[-1] / "key_encoder.safetensors").is_file()
    result = subprocess.run([sys.executable, "-c", LOADER, str(out)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}, check=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["leaked"] == []
    assert loaded["prompts"]["query"] == "query: " and loaded["prompts"]["document"] == "code: "
    assert loaded["modules"] == ["Transformer", "Pooling", "Normalize"] and loaded["max_seq_length"] == 256  # trained at 64; published with the base's window
    ours = SentenceTransformerEncoder(EncoderConfig(model=str(out), precision="fp32", device="cpu"))
    np.testing.assert_allclose(ours.encode(["split a string like a shell"], "query")[0], loaded["query"][0], atol=1e-5)
    np.testing.assert_allclose(ours.encode(["def quote(s):\n    return s"], "document")[0], loaded["document"][0], atol=1e-5)
    info = json.loads((out / TRAINING_INFO).read_text(encoding="utf-8"))
    assert info["config"]["queue_size"] == 8 and info["steps"] == 4 and info["pairs_per_second"] > 0


def test_queue_warmup_holds_real_keys(triples_file: Path, make_config, tmp_path: Path) -> None:
    run = TrainingRun(make_config(triples_file, tmp_path / "m", queue_size=6, hard_negatives=0))
    assert len(run.queues["code"]) == 0
    run.warm_up_queues()
    embeddings, doc_ids, text_ids = run.queues["code"].oldest_first()
    assert len(run.queues["code"]) == 6 and embeddings.norm(dim=1).min().item() == pytest.approx(1.0, abs=1e-5)
    data = load_training_data(triples_file, cache_dir=str(tmp_path))
    by_doc = {stable_id(r): i for i, r in enumerate(data.dataset["positive_id"])}
    rows = [by_doc[d] for d in doc_ids.tolist()]
    codes = [data.dataset[r]["positive"] for r in rows]
    # the key encoder starts as the base model, so each queued key is the base model's embedding of that code,
    # here computed by sentence-transformers' own inference path (fp32, same 64-token window)
    encode = lambda texts: run.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)  # noqa: E731
    np.testing.assert_allclose(embeddings.numpy(), encode(codes), atol=2e-5)
    assert text_ids.tolist() == [stable_id(c) for c in codes]
    order = BatchOrder(len(data), 2, 1, seed=42, salt=1)
    assert rows == [int(r) for m in range(3) for r in order.rows(m)]
    query_embeddings, query_docs, _ = run.queues["query"].oldest_first()
    assert query_docs.tolist() == doc_ids.tolist()
    np.testing.assert_allclose(query_embeddings.numpy(), encode([data.dataset[r]["anchor"] for r in rows]), atol=2e-5)


def test_accumulation_keeps_the_negative_pool(pairs_file: Path, make_config, tmp_path: Path) -> None:
    """With 2 micro-batches of 2, the second sees the first's keys: 1 in-batch + 2 queued negatives, like a batch of 4."""
    config = make_config(pairs_file, tmp_path / "m", queue_size=8, grad_accum=2, steps=2, queue_warmup=False)
    run = TrainingRun(config)
    run.train()
    negatives = [h["negatives"] for h in run.history]  # recorded for the last micro-batch of each step
    assert negatives == [1 + 2, 1 + 6]
    expected = [stable_id(d) for m in range(4) for d in run.data.dataset[[int(r) for r in run.order.rows(m)]]["corpus_id"]]
    assert run.queues["code"].oldest_first()[1].tolist() == expected[-8:]


def test_baseline_without_queue_and_directory_rules(pairs_file: Path, make_config, tmp_path: Path) -> None:
    config = make_config(pairs_file, tmp_path / "m", queue_size=0, steps=1, checkpoint_every=1)
    run = TrainingRun(config)
    assert run.key_encoder is None and run.queues == {}
    run.train()
    assert set(run.history[0]) == {"step", "loss", "lr", "seconds", "loss_query_code", "negatives", "temperature"}
    assert run.history[0]["negatives"] == 1.0  # in-batch only: batch 2 -> one negative
    checkpoint = list_checkpoints(config.checkpoint_path)[-1]
    assert not (checkpoint / "queues.safetensors").exists() and (checkpoint / "optimizer.safetensors").exists()
    with pytest.raises(RetrieverConfigError, match="--overwrite"):
        TrainingRun(config)  # the output exists: refuse to clobber it
    with pytest.raises(CheckpointError, match="queue_size"):
        TrainingRun(make_config(pairs_file, tmp_path / "m", queue_size=4, steps=1, checkpoint_every=1, resume=True))


def test_retriever_imports_stay_in_its_layer() -> None:
    """Only codehunt.index, codehunt.training and itself: not the CLI layer, mining, or the sibling reranker."""
    for path in (REPO / "retriever").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                parts = name.split(".")
                assert parts[0] not in {"index", "mining", "retriever", "reranker", "training"}, f"{path.name}: bare import {name}"
                if parts[0] == "codehunt":
                    assert len(parts) > 1 and parts[1] in {"index", "training", "retriever"}, f"{path.name} imports {name}"
    light = subprocess.run([sys.executable, "-c", "import sys, codehunt.retriever, codehunt.retriever.config; print('torch' in sys.modules)"],
                           cwd=REPO, capture_output=True, text=True, check=True)
    assert light.stdout.strip() == "False"


@pytest.mark.parametrize("negative_grad", [False, True])
def test_mined_negatives_without_gradient_keep_their_values(triples_file: Path, make_config, tmp_path: Path,
                                                            negative_grad: bool) -> None:
    """Without --negative-grad the negatives are the same vectors (eval mode: no dropout) but carry no autograd
    graph; the codes always do. With it, the negatives backpropagate too (the slow path)."""
    run = TrainingRun(make_config(triples_file, tmp_path / "m", queue_size=0, hard_negatives=2, negative_grad=negative_grad))
    run.model.eval()
    batch = run.data.batch(run.order.rows(0, 0))
    assert len(batch.negatives) == 2 * len(batch)
    codes, negatives = run.documents(batch)
    assert codes.requires_grad and negatives.requires_grad == negative_grad
    from codehunt.retriever.model import embed

    with torch.no_grad():
        reference = embed(run.model, batch.codes + batch.negatives, run.prompts["document"], sub_batch=run.config.sub_batch)
    torch.testing.assert_close(codes.detach(), reference[: len(batch)], atol=1e-5, rtol=0)
    torch.testing.assert_close(negatives.detach(), reference[len(batch):], atol=1e-5, rtol=0)


def test_a_checkpoint_exports_as_the_model_of_its_step(straight_run, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from codehunt.cli import app
    from codehunt.index.encoder import EncoderConfig, SentenceTransformerEncoder
    from codehunt.index.errors import BadInputError
    from codehunt.retriever.export import export_checkpoint

    config, published = straight_run
    steps = list_checkpoints(config.checkpoint_path)
    latest, step = export_checkpoint(config.checkpoint_path, tmp_path / "latest")
    assert step == 4
    earlier, step = export_checkpoint(steps[0], tmp_path / "earlier")
    assert step == 2
    text = ["split a string like a shell"]

    def vector(path: Path) -> np.ndarray:
        return SentenceTransformerEncoder(EncoderConfig(model=str(path), precision="fp32", device="cpu")).encode(text, "query")[0]

    np.testing.assert_allclose(vector(latest), vector(published), atol=1e-5)  # the last step is what the run published
    assert not np.allclose(vector(earlier), vector(published), atol=1e-4)
    info = json.loads((earlier / TRAINING_INFO).read_text(encoding="utf-8"))
    assert info["step"] == 2 and info["config"]["query_prompt"] == "query: "
    with pytest.raises(BadInputError, match="no best-by-dev weights"):
        export_checkpoint(config.checkpoint_path, tmp_path / "best", best=True)
    empty = tmp_path / "no-run.checkpoints"
    empty.mkdir()
    result = CliRunner().invoke(app, ["train", "export", str(empty), "-o", str(tmp_path / "x")])
    assert result.exit_code == 1 and "holds no retriever checkpoint" in result.output
    assert not (tmp_path / "x").exists()
