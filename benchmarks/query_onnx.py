"""What the ONNX Runtime query path changes in ranking: every dev query searched one at a time, as a user's are.

    flock /tmp/codehunt-heavy.lock python benchmarks/query_onnx.py

Per dev set of ``../shared/data`` (cosqa, csn_ruby), over the index ``codehunt eval`` builds (bf16 documents where
the CPU has bf16): each query is searched alone through ``Index.search`` with the torch single-query path
(``onnx_queries=False``: bf16 autocast or fp32, as the index's precision says) and with ONNX Runtime (fp32), for
dense and hybrid. Prints the largest per-component difference of the two query vectors, their mean cosine,
nDCG@10 of each and the paired-bootstrap interval of the difference, and the search p50 of each path.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from codehunt.evaluate import open_or_build_index
    from codehunt.index.beir import load_beir
    from codehunt.index.encoder import FastQueryEncoder, SentenceTransformerEncoder
    from codehunt.index.metrics import evaluate_run, paired_bootstrap

    for name in ("cosqa", "csn_ruby"):
        folder = REPO.parent / "shared" / "data" / name
        if not folder.is_dir():
            sys.exit(f"{folder} is missing: this benchmark reads the dev sets of ../shared")
        data = load_beir(folder, "dev")
        index = open_or_build_index(data.corpus_path, None, None)
        base = index.encoder if isinstance(index.encoder, SentenceTransformerEncoder) else index.encoder.encoder
        torch_path = FastQueryEncoder(SentenceTransformerEncoder(base.config, model=base.model, fingerprint=base.fingerprint(), onnx_queries=False))
        onnx_path = FastQueryEncoder(base)
        if base.onnx_query_pipeline() is None:
            sys.exit("the ONNX query path is not available here (pip install 'codehunt[fast]')")
        texts = list(data.queries.values())
        a = np.concatenate([torch_path.encode_query(t) for t in texts])
        b = np.concatenate([onnx_path.encode_query(t) for t in texts])
        print(f"{name}: {len(texts)} queries, index precision {index.manifest.encoder.precision}; ONNX vs torch query "
              f"vectors: max |difference| {np.abs(a - b).max():.2e}, mean cosine {np.mean(np.sum(a * b, 1)):.6f}", flush=True)
        for mode in ("dense", "hybrid"):
            reports, p50 = {}, {}
            for label, encoder in (("torch", torch_path), ("onnx", onnx_path)):
                index._encoder = encoder
                run, times = {}, []
                for qid, text in data.queries.items():
                    started = time.perf_counter()
                    hits = index.search(text, 100, mode)
                    times.append((time.perf_counter() - started) * 1000)
                    run[qid] = {hit.doc_id: float(len(hits) - position) for position, hit in enumerate(hits)}  # as run_queries
                reports[label] = evaluate_run(data.qrels, run)
                p50[label] = statistics.median(times)
            d = paired_bootstrap(reports["torch"], reports["onnx"])
            print(f"{name} {mode}: nDCG@10 torch {reports['torch'].aggregate['ndcg_at_10']:.4f} (p50 {p50['torch']:.1f} ms), "
                  f"onnx {reports['onnx'].aggregate['ndcg_at_10']:.4f} (p50 {p50['onnx']:.1f} ms); onnx - torch "
                  f"{d.delta:+.4f} [{d.low:+.4f}, {d.high:+.4f}] won/lost {d.wins}/{d.losses}", flush=True)


if __name__ == "__main__":
    main()
