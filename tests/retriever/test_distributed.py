"""Data parallelism: two CPU processes on the gloo backend (accelerate + torch DDP).

Each process trains on its own shard; keys are all-gathered before they are enqueued, so both
processes end with the same queues holding both shards' keys, and DDP keeps the weights equal.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from codehunt.retriever.data import stable_id
from tests.distributed import join_process_group, run_two_processes, write_report


def _worker(rank: int, world: int, port: int, config_json: dict, report_dir: str) -> None:
    join_process_group(rank, world, port)
    from codehunt.retriever.config import RetrieverTrainConfig
    from codehunt.retriever.train import TrainingRun

    run = TrainingRun(RetrieverTrainConfig.from_json(config_json))
    run.train()
    embeddings, doc_ids, text_ids = run.queues["code"].oldest_first()
    weights = torch.cat([p.detach().flatten() for p in run.model.parameters()])
    report = {"world": run.world, "doc_ids": doc_ids.tolist(), "queue_sum": float(embeddings.double().sum()),
              "weights_sum": float(weights.double().sum()), "weights_head": weights[:64].tolist(),
              "rows": [[int(r) for r in run.order.rows(m, rank)] for m in range(2)]}
    write_report(report_dir, rank, report)
    run.accelerator.end_training()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_process_gloo_training_gathers_keys(triples_file: Path, make_config, tmp_path: Path) -> None:
    config = make_config(triples_file, tmp_path / "model", queue_size=8, steps=2, queue_warmup=False, hard_negatives=1,
                         checkpoint_every=2, mochi="4,1,1")
    reports = run_two_processes(_worker, config.to_json(), tmp_path)
    assert [r["world"] for r in reports] == [2, 2]
    rows0, rows1 = reports[0]["rows"], reports[1]["rows"]
    assert not set(sum(rows0, [])) & set(sum(rows1, []))  # the shards are disjoint
    # the queue holds, oldest first: step 1 of rank 0, step 1 of rank 1, step 2 of rank 0, step 2 of rank 1
    import datasets

    ids = datasets.load_dataset("json", data_files=str(triples_file), split="train", cache_dir=str(tmp_path / "c"))["positive_id"]
    expected = [stable_id(ids[r]) for m in range(2) for rows in (rows0[m], rows1[m]) for r in rows]
    assert reports[0]["doc_ids"] == reports[1]["doc_ids"] == expected
    assert reports[0]["queue_sum"] == reports[1]["queue_sum"]
    assert reports[0]["weights_head"] == reports[1]["weights_head"]  # gradients were all-reduced
    assert reports[0]["weights_sum"] == pytest.approx(reports[1]["weights_sum"], rel=1e-9)
    checkpoint = config.checkpoint_path / "step-00000002"
    assert (checkpoint / "rng-0.safetensors").is_file() and (checkpoint / "rng-1.safetensors").is_file()
    assert (config.output_dir and Path(config.output_dir, "model.safetensors").is_file())
