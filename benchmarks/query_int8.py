"""Tried and not used: int8 dynamic quantisation of the query encoder (documents stay fp32), speed and quality.

    flock /tmp/codehunt-heavy.lock python benchmarks/query_int8.py

``torch.ao.quantization.quantize_dynamic`` on the transformer's Linear layers (deprecated in torch 2.13 in favour
of torchao). Per dev set of ``../shared/data`` (cosqa, csn_ruby): encode p50 over 200 queries on one thread for the
traced fp32 path ``serve`` uses and for int8, the cosine between their query vectors, and dense nDCG@10 with each,
with a paired-bootstrap interval. Prints lines, not a table: it is a record of an experiment.
"""
import copy, statistics, sys, time
from pathlib import Path
import numpy as np, torch
from codehunt.index.beir import load_beir
from codehunt.evaluate import open_or_build_index, run_queries
from codehunt.index.metrics import evaluate_run, paired_bootstrap
from codehunt.index.encoder import FastQueryEncoder, SentenceTransformerEncoder

base = SentenceTransformerEncoder()
fast = FastQueryEncoder(base)
q8_model = copy.deepcopy(base.model)
q8_model[0].model = torch.ao.quantization.quantize_dynamic(q8_model[0].model, {torch.nn.Linear}, dtype=torch.qint8)

class Int8Queries:
    def __init__(self):
        self.name, self.dimension, self.encoder = base.name, base.dimension, base
    def fingerprint(self): return base.fingerprint()
    def encode(self, texts, kind, show_progress=False):
        assert kind == "query"
        out = []
        torch.set_num_threads(1)
        with torch.inference_mode():
            for t in texts:
                f = q8_model.preprocess([t])
                e = torch.nn.functional.normalize(q8_model(f)["sentence_embedding"], p=2, dim=1)
                out.append(e.numpy())
        return np.concatenate(out).astype(np.float32)

int8 = Int8Queries()
for name in ("cosqa", "csn_ruby"):
    folder = Path(__file__).resolve().parents[1].parent / "shared" / "data" / name
    if not folder.is_dir():
        sys.exit(f"{folder} is missing: this benchmark reads the dev sets of ../shared")
    data = load_beir(folder, "dev")
    index = open_or_build_index(data.corpus_path, None, None)
    texts = list(data.queries.values())[:200]
    for label, enc in (("fp32 traced", fast), ("int8", int8)):
        for t in texts[:10]: enc.encode([t], "query")
        ts = []
        for t in texts:
            s = time.perf_counter(); enc.encode([t], "query"); ts.append((time.perf_counter() - s) * 1000)
        print(f"{name} {label} encode p50 {statistics.median(ts):.2f} ms", flush=True)
    a = fast.encode(texts[:100], "query"); b = int8.encode(texts[:100], "query")
    print(f"{name} cosine fp32 vs int8 query vectors: mean {np.mean(np.sum(a*b,1)):.4f} min {np.min(np.sum(a*b,1)):.4f}")
    reports = {}
    for label, enc in (("fp32", base), ("int8", int8)):
        index._encoder = enc
        run = run_queries(index, data.queries, "dense")
        reports[label] = evaluate_run(data.qrels, run)
        print(f"{name} dense {label} nDCG@10 {reports[label].aggregate['ndcg_at_10']:.4f}", flush=True)
    d = paired_bootstrap(reports["fp32"], reports["int8"])
    print(f"{name} int8 - fp32: {d.delta:+.4f} [{d.low:+.4f}, {d.high:+.4f}] won/lost {d.wins}/{d.losses}", flush=True)
