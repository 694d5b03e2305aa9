"""Retriever training throughput: the trainer before (one padded pass per batch) vs length-grouped sub-batches.

    flock /tmp/codehunt-heavy.lock python benchmarks/training_throughput.py --data triples.jsonl [--steps 10]

``--data`` is a mined triples file (``codehunt mine negatives``; the retriever recipe's
``benchmarks/retriever_recipe.py`` writes one from the standard library + CoNaLa). For each variant —
in-batch negatives only, + momentum queue, + queue and mined hard negatives — it trains the same
number of steps from the same seed on the same rows twice: ``--sub-batch 0`` (every text of a batch
padded to the batch's longest, the trainer before) and ``--sub-batch 8`` (texts grouped by length, 8 per
forward pass). The last rows train the new trainer only: with ``--no-negative-grad`` (negatives embedded
without gradients), which is faster but learns differently, and with one hard negative per pair instead of three,
with and without the queue. Each run is its own process (clean peak RSS). It prints pairs/s
(training steps only, queue warm-up excluded), the speed-up, peak RSS, and the loss of every step of
both runs side by side. Sub-batching computes the same loss on the same batches, so those curves must
agree up to dropout noise; dropping the negatives' gradient changes the updates, and what that does to
the dev sets is measured by ``benchmarks/retriever_recipe.py``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

VARIANTS = {
    "in-batch": {"queue_size": 0, "hard_negatives": 0},
    "+ queue": {"queue_size": 1024, "hard_negatives": 0},
    "+ queue + hard negatives (3)": {"queue_size": 1024, "hard_negatives": 3},
    "+ queue + hard negatives (3), negatives without gradient": {"queue_size": 1024, "hard_negatives": 3, "negative_grad": False},
    "+ queue + hard negatives (1)": {"queue_size": 1024, "hard_negatives": 1},
    "in-batch + hard negatives (1), no queue": {"queue_size": 0, "hard_negatives": 1},
}
HARD = "+ queue + hard negatives (3)"
TRAINERS = {
    "before (one padded pass)": {"sub_batch": 0},
    "now (sub-batches of 8 by length)": {"sub_batch": 8},
}
ONLY_NOW = {"+ queue + hard negatives (3), negatives without gradient", "+ queue + hard negatives (1)",
            "in-batch + hard negatives (1), no queue"}
"""Variants whose "before" run would repeat another row's: trained with the new trainer only (its own setting wins)."""


def one_run(settings: dict) -> dict:
    """Train per ``settings`` (RetrieverTrainConfig fields) in this process; the published summary."""
    from codehunt.retriever.config import RetrieverTrainConfig
    from codehunt.retriever.model import TRAINING_INFO
    from codehunt.retriever.train import train_retriever

    output = train_retriever(RetrieverTrainConfig(**settings))
    return json.loads((output / TRAINING_INFO).read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="triples.jsonl to train on")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration (JSON) and print its summary
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(json.loads(args.one))))
        return
    if args.data is None or not args.data.is_file():
        parser.error(f"--data {args.data}: pass a triples.jsonl made by `codehunt mine negatives`")
    figures: dict[str, dict[str, dict]] = {}
    run_number = itertools.count()
    with tempfile.TemporaryDirectory(prefix="codehunt-throughput-") as work:
        for variant, extra in VARIANTS.items():
            for label, trainer in TRAINERS.items():
                if variant in ONLY_NOW and label == next(iter(TRAINERS)):
                    continue
                settings = {"data": str(args.data), "output_dir": str(Path(work) / f"run-{next(run_number)}"),
                            "steps": args.steps, "batch_size": args.batch_size, "max_seq_length": args.max_seq_length,
                            "log_every": 1, "checkpoint_every": 10**9, "seed": 42, **trainer, **extra}
                print(f"{variant}, {label} ...", file=sys.stderr)
                done = subprocess.run([sys.executable, __file__, "--one", json.dumps(settings)], capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(f"{variant}, {label} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
                summary = json.loads(done.stdout.strip().splitlines()[-1])
                figures.setdefault(variant, {})[label] = {
                    "pairs_per_second": summary["pairs_per_second"], "peak_rss_mb": summary["peak_rss_mb"],
                    "losses": [record["loss"] for record in summary["history"]], "bf16": summary["bf16"],
                }
    print(f"\n### Retriever training throughput ({args.data.name}, batch {args.batch_size}, window {args.max_seq_length}, "
          f"{args.steps} steps, seed 42, {os.cpu_count()} CPUs)\n")
    print("(speed-up: against the same variant's old trainer; rows trained only now: against the old trainer's "
          f"{HARD})\n")
    print("| variant | trainer | pairs/s | speed-up | peak RSS MB | bf16 |")
    print("|---|---|---:|---:|---:|---|")
    before, now = TRAINERS
    for variant, runs in figures.items():
        base = runs.get(before, figures[HARD][before])["pairs_per_second"]
        for label, run in runs.items():
            print(f"| {variant} | {label} | {run['pairs_per_second']:.1f} | {run['pairs_per_second'] / base:.2f}x | "
                  f"{run['peak_rss_mb']:.0f} | {run['bf16']} |")
    inbatch = figures["in-batch"][now]["pairs_per_second"]
    for variant in (HARD, *(name for name in VARIANTS if name in ONLY_NOW)):
        print(f"\nper-pair cost of {variant} vs in-batch (new trainer): {inbatch / figures[variant][now]['pairs_per_second']:.2f}x")
    print("\n### Loss per step (same seed, same batches): before / now; rows trained only now show their own loss\n")
    print("| step | " + " | ".join(VARIANTS) + " |")
    print("|---:|" + "---|" * len(VARIANTS))
    for step in range(args.steps):
        cells = []
        for variant in VARIANTS:
            runs = figures[variant]
            loss = runs[now]["losses"][step]
            cells.append(f"{runs[before]['losses'][step]:.4f} / {loss:.4f}" if before in runs else f"{loss:.4f}")
        print(f"| {step + 1} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
