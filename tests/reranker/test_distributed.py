"""Data parallelism: two CPU processes on the gloo backend (accelerate + torch DDP) train one reranker.

Each process takes its own slice of every global micro-batch (disjoint rows); DDP averages the
gradients, so both processes end with identical weights, and both write their RNG state.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.distributed import join_process_group, run_two_processes, write_report

torch = pytest.importorskip("torch")


def _worker(rank: int, world: int, port: int, config_json: dict, report_dir: str) -> None:
    join_process_group(rank, world, port)
    from codehunt.reranker.config import RerankerTrainConfig
    from codehunt.reranker.train import RerankerTrainingRun

    run = RerankerTrainingRun(RerankerTrainConfig.from_json(config_json))
    before = torch.cat([p.detach().flatten() for p in run.model.parameters()]).clone()
    run.train()
    weights = torch.cat([p.detach().flatten() for p in run.model.parameters()])
    report = {"world": run.world, "rows": [[int(r) for r in run.order.rows(m, rank)] for m in range(2)],
              "weights_sum": float(weights.double().sum()), "classifier": weights[-385:].tolist(),
              "moved": float((weights - before).abs().max())}
    write_report(report_dir, rank, report)
    run.accelerator.end_training()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_process_gloo_training_keeps_replicas_equal(shared_data: Path, tmp_path: Path) -> None:
    from codehunt.reranker.config import RerankerTrainConfig

    rows = [json.loads(line) for line in (shared_data / "cosqa" / "extra" / "qa_dev_pairs.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip()]
    positives = [r for r in rows if r["label"] == 1][:8]
    triples = tmp_path / "triples.jsonl"
    triples.write_text("".join(json.dumps({"anchor": r["query"], "positive": r["code"],
                                           "negative_1": positives[(i + 1) % 8]["code"]}) + "\n"
                               for i, r in enumerate(positives)), encoding="utf-8")
    config = RerankerTrainConfig(data=str(triples), output_dir=str(tmp_path / "model"), group_size=3, batch_size=2,
                                 steps=2, lr=1e-4, max_length=48, max_query_length=12, precision="fp32",
                                 checkpoint_every=2, cache_dir=str(tmp_path / "hf-cache"))
    reports = run_two_processes(_worker, config.to_json(), tmp_path)
    assert [r["world"] for r in reports] == [2, 2]
    shard0, shard1 = (set(sum(r["rows"], [])) for r in reports)
    assert not shard0 & shard1 and len(shard0 | shard1) == 8  # disjoint slices covering the data
    assert reports[0]["moved"] > 0
    assert reports[0]["classifier"] == reports[1]["classifier"]  # gradients were all-reduced
    assert reports[0]["weights_sum"] == pytest.approx(reports[1]["weights_sum"], rel=1e-9)
    checkpoint = config.checkpoint_path / "step-00000002"
    assert (checkpoint / "rng-0.safetensors").is_file() and (checkpoint / "rng-1.safetensors").is_file()
    assert (tmp_path / "model" / "model.safetensors").is_file()
