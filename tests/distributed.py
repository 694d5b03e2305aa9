"""Two CPU processes on the gloo backend, for the trainers' data-parallel tests.

Each test supplies a ``worker(rank, world, port, config_json, report_dir)`` that calls
:func:`join_process_group` first, trains, and writes its report with :func:`write_report`;
:func:`run_two_processes` spawns two of them and returns their reports in rank order.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any, Callable


def join_process_group(rank: int, world: int, port: int) -> None:
    """The environment accelerate reads to join a local process group; one thread per process on 2 cores."""
    import torch

    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": str(world),
                       "RANK": str(rank), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(world)})
    torch.set_num_threads(1)


def write_report(report_dir: str, rank: int, report: dict[str, Any]) -> None:
    Path(report_dir, f"rank-{rank}.json").write_text(json.dumps(report), encoding="utf-8")


def run_two_processes(worker: Callable[..., None], config_json: dict, report_dir: Path) -> list[dict[str, Any]]:
    """Spawn ``worker`` on ranks 0 and 1 with a free local port; their reports, rank 0 first."""
    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    mp.spawn(worker, args=(2, port, config_json, str(report_dir)), nprocs=2, join=True)
    return [json.loads((report_dir / f"rank-{rank}.json").read_text(encoding="utf-8")) for rank in range(2)]
