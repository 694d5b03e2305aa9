"""Query latency of a warm service vs. in-process search, where the dense side's time goes, and what the
load-time integrity check costs.

On a real index (default: the Python standard library, built as in DEVELOPERS.md / the serve issue), with
real natural-language queries (the CoSQA dev queries in ``../shared/data``, else a built-in list), it reports,
all in one run:

1. **Dense side, component by component** (warm, per query): the tokenizer (``preprocess``), the model
   forward (fp32 on 1 thread, bf16 autocast on 1 thread, fp32 on all threads), the whole
   ``SentenceTransformerEncoder.encode`` (the current in-process path), the fast single-query path
   (``FastQueryEncoder``), FAISS at the search's fetch depth, BM25 ``top_k``.
2. **Warm search, p50/p95** per mode (dense, bm25, hybrid): the current in-process path (``Index.search``
   with the sentence-transformers encoder), the fast path (``FastQueryEncoder``, torch threads set once),
   and over HTTP to ``codehunt serve``'s app (uvicorn on loopback, one keep-alive connection, and a fresh
   connection per query as ``codehunt search`` opens). Each row also at ~50k units, by replicating the index's
   units with perturbed vectors (a synthetic scale-up: same texts, so BM25 posting lengths grow too).
3. **Integrity**: ``check_fast_checksums`` (size + CRC-32 of every file) vs sha256 over the same files, and
   ``Index.load`` with and without ``verify``.
4. **Cold** ``codehunt search --mode bm25`` wall time (a new process each run): in-process, and through a
   running ``codehunt serve``.

    flock /tmp/codehunt-heavy.lock python benchmarks/serve_latency.py --index /tmp/stdlib.idx --json /tmp/serve_latency.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FALLBACK_QUERIES = [
    "parse an http header", "read a zip file", "compute the hash of a file", "format a date as an iso string",
    "retry a socket connection", "decode base64 text", "walk a directory tree", "show the differences of two sequences",
    "send an email over smtp", "parse command line arguments", "escape html characters", "read a csv file into rows",
    "create a temporary directory", "compress data with gzip", "find the longest common prefix", "convert a string to title case",
]


def _default_threads() -> int:
    import torch

    return torch.get_num_threads()


default_threads = 1  # torch's default in this process, read in main() before anything changes it


def queries(count: int) -> list[str]:
    shared = Path(os.environ.get("CODEHUNT_SHARED", REPO.parent / "shared")) / "data" / "cosqa" / "queries.jsonl"
    texts: list[str] = []
    if shared.is_file():
        with shared.open(encoding="utf-8") as handle:
            texts = [json.loads(line)["text"] for line in handle if line.strip()]
    texts = texts or FALLBACK_QUERIES
    return [texts[i % len(texts)] for i in range(count)]


def percentiles(times_ms: list[float]) -> dict[str, float]:
    ordered = sorted(times_ms)
    return {"p50": round(statistics.median(ordered), 2), "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
            "n": len(ordered)}


def timed(run: Callable[[str], Any], texts: list[str], warm: int = 10) -> dict[str, float]:
    for text in texts[:warm]:
        run(text)
    times = []
    for text in texts:
        started = time.perf_counter()
        run(text)
        times.append((time.perf_counter() - started) * 1000)
    return percentiles(times)


def components(index: Any, texts: list[str]) -> dict[str, dict]:
    import torch

    from codehunt.index.dense import search_dense_index
    from codehunt.index.encoder import FastQueryEncoder
    from codehunt.index.tokenize import tokenize_code

    encoder = torch_only(index.encoder)
    model = encoder.model
    fast = FastQueryEncoder(encoder)
    onnx = FastQueryEncoder(index.encoder)
    fetch = 2 * max(index.search_config.depth, 10)
    vector = fast.encode_query(texts[0])
    all_threads = default_threads

    def forward(text: str, bf16: bool = False) -> Any:
        features = model.preprocess([text])
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(features)

    rows: dict[str, dict] = {}
    torch.set_num_threads(1)
    rows["tokenizer (preprocess)"] = timed(lambda t: model.preprocess([t]), texts)
    rows["model forward, fp32, 1 thread"] = timed(forward, texts)
    rows["model forward, bf16 autocast, 1 thread"] = timed(lambda t: forward(t, True), texts)
    torch.set_num_threads(all_threads)
    rows[f"model forward, fp32, {all_threads} threads"] = timed(forward, texts)
    rows["SentenceTransformerEncoder.encode, torch"] = timed(lambda t: encoder.encode([t], "query"), texts)
    torch.set_num_threads(1)
    rows["FastQueryEncoder.encode_query, torch (1 thread; the seventh session's path)"] = timed(fast.encode_query, texts)
    if onnx.encoder.onnx_query_pipeline() is not None:
        rows["FastQueryEncoder.encode_query, ONNX Runtime (1 thread; now)"] = timed(onnx.encode_query, texts)
    rows[f"FAISS search, fetch {fetch}"] = timed(lambda t: search_dense_index(index.dense, vector, fetch), texts)
    rows[f"BM25 top_k, fetch {fetch}"] = timed(lambda t: index.bm25.top_k(tokenize_code(t), fetch), texts)
    rows.update(traced_forward(model, texts))
    torch.set_num_threads(all_threads)
    return rows


def torch_only(encoder: Any) -> Any:
    """The same model and settings with every query on torch (``onnx_queries=False``): the path before ONNX Runtime."""
    from codehunt.index.encoder import SentenceTransformerEncoder

    base = encoder if isinstance(encoder, SentenceTransformerEncoder) else encoder.encoder
    return SentenceTransformerEncoder(base.config, model=base.model, fingerprint=base.fingerprint(), onnx_queries=False)


def traced_forward(model: Any, texts: list[str]) -> dict[str, dict]:
    """Measured, not used: the Hugging Face model under ``torch.jit.trace`` (1 thread), against its eager forward.

    It is not in ``FastQueryEncoder`` because it would have to stand in for the model inside
    sentence-transformers' ``Transformer`` module (its kwargs filtering and output naming change between
    versions) and a trace bakes data-dependent branches (the attention-mask shortcut) in; the row says
    what it would buy and whether it stays bit-identical on these queries.
    """
    import warnings

    import torch

    hf = getattr(model[0], "auto_model", None)
    if hf is None:
        return {}

    def inputs(text: str) -> tuple[Any, Any]:
        features = model.preprocess([text])
        return features["input_ids"], features["attention_mask"]

    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(hf, inputs(texts[0]), strict=False, check_trace=False)
        same = all(torch.equal(hf(input_ids=i, attention_mask=m).last_hidden_state, _first(traced(i, m)))
                   for i, m in map(inputs, texts[:20]))

    def eager(text: str) -> Any:
        with torch.inference_mode():
            return hf(*inputs(text))

    def jit(text: str) -> Any:
        with torch.inference_mode():
            return traced(*inputs(text))

    return {"HF model forward, eager, 1 thread": timed(eager, texts),
            f"HF model forward, torch.jit.trace, 1 thread (not used; bit-identical on 20 queries: {same})": timed(jit, texts)}


def _first(output: Any) -> Any:
    return output["last_hidden_state"] if isinstance(output, dict) else output[0]


def scaled(index: Any, target_units: int, seed: int = 0) -> Any:
    """A synthetic index of about ``target_units`` units: copies of every chunk (ids suffixed ``@copyN``),
    vectors perturbed by N(0, 0.05) and renormalised, BM25 rebuilt over the copies' texts."""
    import faiss
    import numpy as np

    from codehunt.index.bm25 import BM25Index
    from codehunt.index.corpus import bm25_text, is_summary
    from codehunt.index.index import Index
    from codehunt.index.tokenize import tokenize_code

    copies = max(1, -(-target_units // max(index.manifest.unit_count, 1)))
    vectors = index.dense.reconstruct_n(0, index.dense.ntotal)  # (n, dim)
    rng = np.random.default_rng(seed)
    summary = [is_summary(chunk) for chunk in index.chunks]
    chunks, blocks = [], []
    for wanted in (False, True):  # code chunks of every copy first (BM25 ids are their positions), then summaries
        rows = [i for i, flag in enumerate(summary) if flag == wanted]
        for copy in range(copies):
            suffix = "" if copy == 0 else f"@copy{copy}"
            for i in rows:
                chunk = index.chunks[i]
                chunks.append(dataclasses.replace(chunk, doc_id=chunk.doc_id + suffix, unit_id=chunk.unit + suffix,
                                                  path=chunk.path if copy == 0 else f"copy{copy}/{chunk.path}"))
            block = vectors[rows]
            if copy:
                block = block + rng.normal(0, 0.05, block.shape).astype(np.float32)
            blocks.append(block / np.linalg.norm(block, axis=1, keepdims=True))
    dense = faiss.IndexFlatIP(vectors.shape[1])
    dense.add(np.ascontiguousarray(np.concatenate(blocks), dtype=np.float32))
    bm25 = BM25Index.build([tokenize_code(bm25_text(chunk)) for chunk in chunks if not is_summary(chunk)])
    manifest = dataclasses.replace(index.manifest, document_count=len(chunks), unit_count=len({c.unit for c in chunks}))
    big = Index(index.path, manifest, chunks, dense, bm25, index._encoder)
    big.search_config = index.search_config
    return big


def search_rows(index: Any, texts: list[str], label: str) -> dict[str, dict]:
    import torch

    from codehunt.index.encoder import FastQueryEncoder, SentenceTransformerEncoder

    base = index.encoder if isinstance(index.encoder, SentenceTransformerEncoder) else index.encoder.encoder
    rows = {}
    torch.set_num_threads(default_threads)  # as a fresh process has it; every path encodes a query on one thread
    index._encoder = torch_only(base)
    for mode in ("dense", "bm25", "hybrid"):
        rows[f"{label} {mode}: in-process, sentence-transformers encode (torch)"] = timed(lambda t: index.search(t, 10, mode), texts)
    index._encoder = FastQueryEncoder(torch_only(base))
    for mode in ("dense", "bm25", "hybrid"):
        rows[f"{label} {mode}: in-process, fast path, torch (seventh session)"] = timed(lambda t: index.search(t, 10, mode), texts)
    if base.onnx_query_pipeline() is not None:
        index._encoder = FastQueryEncoder(base)
        for mode in ("dense", "bm25", "hybrid"):
            rows[f"{label} {mode}: in-process, fast path, ONNX Runtime (now)"] = timed(lambda t: index.search(t, 10, mode), texts)
    index._encoder = base
    return rows


def http_rows(index_path: Path, encoder: Any, texts: list[str]) -> dict[str, dict]:
    import torch
    import uvicorn

    from codehunt.serve.app import bind_socket, create_app
    from codehunt.serve.discovery import open_connection
    from codehunt.serve.service import IndexService

    torch.set_num_threads(default_threads)
    service = IndexService([index_path], encoder=encoder)
    service.warm_up()
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="error", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    host, port = sock.getsockname()[:2]
    rows = {}
    try:
        def ask(connection: Any, text: str, mode: str) -> None:
            connection.request("POST", "/search", body=json.dumps({"query": text, "k": 10, "mode": mode}).encode(),
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status

        def fresh(text: str, mode: str) -> None:
            connection = open_connection(host, port)
            try:
                ask(connection, text, mode)
            finally:
                connection.close()

        for mode in ("dense", "bm25", "hybrid"):
            keep = open_connection(host, port)  # one per row: uvicorn closes a connection idle for 5 s (timeout_keep_alive)
            rows[f"stdlib {mode}: HTTP, keep-alive"] = timed(lambda t: ask(keep, t, mode), texts)
            keep.close()
            rows[f"stdlib {mode}: HTTP, new connection"] = timed(lambda t: fresh(t, mode), texts)
        import http.client

        nagle = http.client.HTTPConnection(host, port, timeout=60)  # a client that leaves Nagle on
        rows["stdlib bm25: HTTP, keep-alive, plain http.client"] = timed(lambda t: ask(nagle, t, "bm25"), texts[:40], warm=3)
        nagle.close()
    finally:
        server.should_exit = True
        thread.join(30)
    return rows


def integrity_rows(index_path: Path) -> dict[str, Any]:
    from codehunt.index.index import Index
    from codehunt.index.manifest import IndexManifest, check_fast_checksums
    from codehunt.index.storage import sha256_file

    manifest = IndexManifest.read(index_path)
    total = sum((index_path / name).stat().st_size for name in manifest.files)
    rows: dict[str, Any] = {"bytes checked": total, "fast hash recorded": bool(manifest.fast_files)}

    def best_of(run: Callable[[], Any], times: int = 5) -> float:
        run()  # page cache warm
        spans = []
        for _ in range(times):
            started = time.perf_counter()
            run()
            spans.append(time.perf_counter() - started)
        return round(min(spans) * 1000, 1)

    rows["check_fast_checksums ms (size + CRC-32)"] = best_of(lambda: check_fast_checksums(index_path, manifest)) if manifest.fast_files else None
    rows["sha256 of the same files ms"] = best_of(lambda: [sha256_file(index_path / name) for name in manifest.files])
    rows["Index.load ms, verify=True"] = best_of(lambda: Index.load(index_path, verify=True), 3)
    rows["Index.load ms, verify=False"] = best_of(lambda: Index.load(index_path, verify=False), 3)
    rows["Index.load ms, load_dense=False (a cold bm25 search)"] = best_of(lambda: Index.load(index_path, load_dense=False), 3)
    rows["Index.load ms + parse every chunk (what load did before chunks were read lazily)"] = best_of(
        lambda: list(Index.load(index_path).chunks), 3)
    return rows


def cold_rows(index_path: Path, runs: int) -> dict[str, Any]:
    """Wall time of `codehunt search --mode bm25` in a new process: in-process, then through `codehunt serve`."""
    from codehunt.serve.discovery import find_service

    command = [sys.executable, "-m", "codehunt", "search", "parse an http header", "-i", str(index_path), "--mode", "bm25"]
    # a user's Python caches compiled modules; PYTHONDONTWRITEBYTECODE (set in some sandboxes) would recompile
    # codehunt's ~60 modules on every start (~120 ms), so the child processes run without it
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(__file__).resolve().parents[1])], env=env,
                   capture_output=True)

    def wall(extra: list[str]) -> list[float]:
        spans = []
        for _ in range(runs):
            started = time.perf_counter()
            result = subprocess.run([*command, *extra], capture_output=True, text=True, env=env)
            spans.append(time.perf_counter() - started)
            assert result.returncode == 0, result.stderr
        return spans

    rows: dict[str, Any] = {}
    local = wall(["--service", "off"])
    rows["cold bm25, in-process: median s"] = round(statistics.median(local), 3)
    rows["cold bm25, in-process: runs"] = [round(s, 3) for s in local]
    imports = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import codehunt.cli"], check=True, env=env)
        imports.append(time.perf_counter() - started)
    rows["python -c 'import codehunt.cli': median s"] = round(statistics.median(imports), 3)
    server = subprocess.Popen([sys.executable, "-m", "codehunt", "serve", "-i", str(index_path), "--port", "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            info = find_service(index_path)
            if info is not None and info.pid == server.pid:
                break
            if server.poll() is not None:
                raise RuntimeError(f"serve exited: {server.stderr.read()}")
            time.sleep(0.2)
        remote = wall([])
        rows["cold bm25, through codehunt serve: median s"] = round(statistics.median(remote), 3)
        rows["cold bm25, through codehunt serve: runs"] = [round(s, 3) for s in remote]
    finally:
        server.terminate()
        server.wait(60)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=Path("/tmp/stdlib.idx"))
    parser.add_argument("--queries", type=int, default=200, help="timed queries per row")
    parser.add_argument("--scale-units", type=int, default=50_000, help="units of the synthetic scaled index (0: skip)")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--sections", nargs="+", default=["components", "search", "integrity", "cold"],
                        choices=["components", "search", "integrity", "cold"], help="which parts to run (default: all)")
    args = parser.parse_args()

    import torch

    from codehunt.index.index import Index

    global default_threads
    default_threads = _default_threads()
    texts = queries(args.queries)
    report: dict[str, Any] = {"index": str(args.index), "cpu_count": os.cpu_count(), "load_average_at_start": os.getloadavg(),
                              "torch": torch.__version__, "torch_threads": default_threads, "queries": len(texts)}
    index = Index.load(args.index)
    report["units"] = index.manifest.unit_count
    report["chunks"] = index.manifest.document_count
    report["components"] = components(index, texts) if "components" in args.sections else {}
    report["search"] = {}
    if "search" in args.sections:
        report["search"] = search_rows(index, texts, "stdlib")
        report["search"].update(http_rows(args.index, index.encoder, texts))
        if args.scale_units:
            big = scaled(index, args.scale_units)
            report["scaled_units"] = big.manifest.unit_count
            report["search"].update(search_rows(big, texts, f"{big.manifest.unit_count // 1000}k"))
            del big
    report["integrity"] = integrity_rows(args.index) if "integrity" in args.sections else {}
    report["cold"] = cold_rows(args.index, args.cold_runs) if "cold" in args.sections else {}
    report["load_average_at_end"] = os.getloadavg()

    print(f"index {args.index}: {report['units']} units, {report['chunks']} chunks; {len(texts)} queries per row; "
          f"{report['cpu_count']} CPUs, load average {report['load_average_at_start'][0]:.1f} at start")
    for section in ("components", "search"):
        print(f"\n{section}")
        for name, row in report[section].items():
            print(f"  {name:52s} p50 {row['p50']:8.2f} ms   p95 {row['p95']:8.2f} ms")
    for section in ("integrity", "cold"):
        print(f"\n{section}")
        for name, value in report[section].items():
            print(f"  {name:52s} {value}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
