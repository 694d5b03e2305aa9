"""Build throughput, search latency, peak memory and cold start, side by side with plain sentence-transformers.

    python benchmarks/build_speed.py [--sample 2000] [--queries 100] [--workdir /tmp/codehunt-bench]

1. Throughput: codehunt's ``Index.build_from_corpus`` (splitting, embedding, FAISS, BM25, writing) on a
   seeded sample of chunks from the installed Python standard library, against plain
   ``SentenceTransformer.encode`` (fp32, its defaults) counted two ways, both in the same run:
   - *the sampled chunks*: plain encode of each chunk's text, which it truncates to the window;
   - *the same texts*: plain encode of exactly the texts the build embeds (each function's split parts
     beyond the window, and the docstring-summary texts), captured from the build's encoder calls.
   The build runs once per ``--batch-size`` (a fresh index each time, so nothing comes from a store).
2. A full build of the standard library (tests included, so it reaches ~50k chunks) in a child
   process: functions/s and peak RSS.
3. In-process search latency p50/p95 for dense, bm25 and hybrid over real CoSQA queries.
4. Cold start: wall time of one ``codehunt search`` process, hybrid and bm25.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


def token_count(tokenizer, texts: list[str], window: int) -> int:  # noqa: ANN001 - a transformers tokenizer
    """Tokens the encoder sees: each text's special-token-wrapped ids, cut at the window."""
    return sum(len(ids) for ids in tokenizer(texts, truncation=True, max_length=window)["input_ids"])


class RecordingEncoder:
    """The build's encoder, unchanged, keeping a list of every text it was asked to embed.

    ``encoder`` is the attribute the embedding store reads the model's window and precision through."""

    def __init__(self, encoder) -> None:  # noqa: ANN001 - a SentenceTransformerEncoder
        self.encoder, self.texts = encoder, []

    def __getattr__(self, name: str):  # noqa: ANN204 - name, dimension, fingerprint, ...: the wrapped encoder's
        return getattr(self.encoder, name)

    def encode(self, texts, kind, show_progress: bool = False):  # noqa: ANN001, ANN201 - the Encoder protocol
        self.texts.extend(texts)
        return self.encoder.encode(texts, kind, show_progress)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=2000, help="chunks in the side-by-side throughput run")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/codehunt-bench"))
    parser.add_argument("--skip-full", action="store_true", help="skip the full standard-library build")
    parser.add_argument("--index", type=Path, help="measure latency and cold start on this existing index instead")
    parser.add_argument("--batch-size", type=int, nargs="+", default=None,
                        help="encoder batch sizes to build with, one build each (default: the EncoderConfig default)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    stdlib = Path(sysconfig.get_paths()["stdlib"])

    from sentence_transformers import SentenceTransformer

    from codehunt.index.corpus import Corpus, embedding_text, read_codebase
    from codehunt.index.encoder import EncoderConfig, SentenceTransformerEncoder, resolve_model_path
    from codehunt.index.index import Index, IndexConfig

    started = time.perf_counter()
    corpus = read_codebase(stdlib)
    chunk_seconds = time.perf_counter() - started
    print(f"chunked {stdlib}: {len(corpus.chunks)} chunks in {chunk_seconds:.1f}s", file=sys.stderr)
    sample = random.Random(0).sample(corpus.chunks, min(args.sample, len(corpus.chunks)))

    timings: list[tuple[int, float]] = []
    rows: list[tuple[str, str]] = []
    plain = SentenceTransformer(resolve_model_path("default"), device="cpu")
    texts = [embedding_text(chunk) for chunk in sample]
    started = time.perf_counter()
    plain.encode(texts)
    plain_seconds = time.perf_counter() - started
    rows.append((f"plain SentenceTransformer.encode, {len(sample)} sampled chunks (fp32, truncated to the window)",
                 f"{len(sample) / plain_seconds:.1f} chunks/s"))
    built_texts: list[str] = []
    for batch_size in args.batch_size or [EncoderConfig().batch_size]:
        shutil.rmtree(args.workdir / "sample.idx", ignore_errors=True)  # nothing from an earlier run's store
        encoder = RecordingEncoder(SentenceTransformerEncoder(EncoderConfig(batch_size=batch_size)))
        started = time.perf_counter()
        Index.build_from_corpus(Corpus(sample, []), args.workdir / "sample.idx", IndexConfig(encoder=EncoderConfig(batch_size=batch_size)),
                                encoder=encoder)
        ours_seconds = time.perf_counter() - started
        built_texts = built_texts or encoder.texts
        precision = "bf16" if encoder.encoder.use_bf16() else "fp32"
        rows += [
            (f"codehunt Index.build, same chunks (precision={precision}, batch {batch_size}; {len(encoder.texts)} texts embedded)",
             f"{len(sample) / ours_seconds:.1f} chunks/s"),
            (f"  speed-up over the sampled chunks, batch {batch_size}", f"{plain_seconds / ours_seconds:.2f}x"),
        ]
        shutil.rmtree(args.workdir / "sample.idx", ignore_errors=True)
        timings.append((batch_size, ours_seconds))
    started = time.perf_counter()
    plain.encode(built_texts)
    same_seconds = time.perf_counter() - started
    tokens = token_count(plain.tokenizer, texts, plain.max_seq_length), token_count(plain.tokenizer, built_texts, plain.max_seq_length)
    rows += [
        (f"plain SentenceTransformer.encode of the build's {len(built_texts)} texts (fp32)", f"{len(built_texts) / same_seconds:.1f} texts/s"),
        ("tokens: sampled chunks truncated / the build's texts", f"{tokens[0]:,} / {tokens[1]:,}"),
    ]
    rows += [(f"  speed-up on the same texts, batch {batch_size}", f"{same_seconds / seconds:.2f}x") for batch_size, seconds in timings]

    full = args.workdir / "stdlib-full.idx"
    if not args.skip_full:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "codehunt", "index", "build", str(stdlib), "-o", str(full)], check=True,
                       stderr=subprocess.DEVNULL)
        build_seconds = time.perf_counter() - started
        peak_mb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
        manifest = json.loads((full / "manifest.json").read_text(encoding="utf-8"))
        rows += [
            (f"full build: {manifest['unit_count']} units / {manifest['document_count']} chunks", f"{build_seconds:.0f} s, "
             f"{manifest['unit_count'] / build_seconds:.1f} functions/s"),
            ("full build peak RSS", f"{peak_mb:.0f} MB"),
        ]
    index = Index.load(args.index or (full if full.is_dir() else args.workdir / "sample.idx"))
    shared = Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    queries_file = shared / "data" / "cosqa" / "queries.jsonl"
    queries = [json.loads(line)["text"] for line in queries_file.open(encoding="utf-8")][: args.queries] if queries_file.is_file() \
        else ["parse an ISO 8601 date", "read a json file", "open a socket"] * (args.queries // 3)
    index.search("warm up", 10, "hybrid")
    for mode in ("dense", "bm25", "hybrid"):
        latencies = []
        for query in queries:
            started = time.perf_counter()
            index.search(query, 10, mode)  # type: ignore[arg-type]
            latencies.append(time.perf_counter() - started)
        rows.append((f"{mode} search on {index.manifest.document_count} chunks, p50 / p95", f"{percentile(latencies, 50):.1f} / {percentile(latencies, 95):.1f} ms"))
    for mode in ("hybrid", "bm25"):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "codehunt", "search", "parse an ISO 8601 date", "-i", str(index.path), "--mode", mode],
                       check=True, capture_output=True)
        rows.append((f"cold start: one `codehunt search --mode {mode}` process", f"{time.perf_counter() - started:.2f} s"))

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"codehunt speed ({os.cpu_count()} CPUs)")
    table.add_column("measurement")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
