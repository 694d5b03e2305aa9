"""bf16 against fp32 indexes: build speed and retrieval quality on the dev sets, side by side in one run.

    flock /tmp/codehunt-heavy.lock python benchmarks/precision_quality.py [--workdir /tmp/codehunt-precision]

``--precision auto`` (the default of ``codehunt index build``) embeds in bf16 where the CPU multiplies bf16 fast
(AVX512-BF16 or AMX, ``index.precision``) and in fp32 elsewhere. This measures what that choice costs in quality
and gains in speed on such a CPU: per dev set of ``../shared/data`` (cosqa, csn_ruby), an index built at each
precision from the same corpus (the queries are encoded at the index's precision, as a search does), dense and
hybrid nDCG@10, and the bf16 - fp32 difference with a paired-bootstrap 95% interval. Build seconds include
chunking, embedding, FAISS, BM25 and writing. On a CPU without fast bf16 the bf16 row is slower (emulated)
and says so; the quality comparison still holds.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from codehunt.beir import load_beir
from codehunt.evaluate import run_queries
from codehunt.index.encoder import EncoderConfig
from codehunt.index.index import Index, IndexConfig
from codehunt.index.metrics import evaluate_run, paired_bootstrap
from codehunt.index.precision import cpu_has_fast_bf16

SETS = ("cosqa", "csn_ruby")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/codehunt-precision"))
    parser.add_argument("--rebuild", action="store_true", help="build the indexes again instead of reusing them")
    args = parser.parse_args()
    shared = Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
    if not (shared / "cosqa" / "corpus.jsonl").is_file():
        sys.exit(f"{shared} holds no dev sets: this benchmark reads ../shared/data (or $CODEHUNT_SHARED/data)")
    print(f"CPU with fast bf16 (AVX512-BF16 or AMX): {cpu_has_fast_bf16()}; {os.cpu_count()} CPUs\n")
    print("| dev set | precision | build s | chunks/s | dense nDCG@10 | hybrid nDCG@10 |\n|---|---|---:|---:|---:|---:|")
    differences = []
    for name in SETS:
        data = load_beir(shared / name, "dev")
        reports: dict[tuple[str, str], object] = {}
        for precision in ("fp32", "bf16"):
            path = args.workdir / f"{name}-{precision}.idx"
            seconds = float("nan")
            if args.rebuild or not (path / "manifest.json").is_file():
                shutil.rmtree(path, ignore_errors=True)
                started = time.perf_counter()
                Index.build(data.corpus_path, path, IndexConfig(encoder=EncoderConfig(precision=precision)))
                seconds = time.perf_counter() - started
            index = Index.load(path)
            scores = []
            for mode in ("dense", "hybrid"):
                reports[(precision, mode)] = evaluate_run(data.qrels, run_queries(index, data.queries, mode))
                scores.append(reports[(precision, mode)].aggregate["ndcg_at_10"])
            rate = index.manifest.document_count / seconds if seconds == seconds else float("nan")
            print(f"| {name} | {precision} | {seconds:.1f} | {rate:.1f} | {scores[0]:.4f} | {scores[1]:.4f} |", flush=True)
        for mode in ("dense", "hybrid"):
            delta = paired_bootstrap(reports[("fp32", mode)], reports[("bf16", mode)])
            differences.append(f"| {name} | {mode} | {delta.delta:+.4f} | [{delta.low:+.4f}, {delta.high:+.4f}] | {delta.wins}/{delta.losses} |")
    print("\n| dev set | mode | bf16 - fp32 nDCG@10 | 95% interval | queries won/lost |\n|---|---|---:|---|---|")
    print("\n".join(differences))


if __name__ == "__main__":
    main()
