"""Chunks per unit before and after a change to the long-unit split, on a real codebase, without embedding.

For each revision of ``index/corpus.py`` named (``--before-rev``, read from git history) and the working tree,
splits the same units with the real default tokenizer and reports chunks, chunks per unit, parts whose encoder
input (the first ``max_length`` tokens) is identical to another part's, and the size corpus.jsonl would have.

    python benchmarks/chunk_split.py /path/to/fastapi-checkout [more dirs] --before-rev 2d8618a
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from codehunt.index import corpus as current
from codehunt.index.encoder import EncoderConfig, SentenceTransformerEncoder

ROOT = Path(__file__).resolve().parents[1]


def corpus_module_at(rev: str):  # noqa: ANN201 - a module
    source = subprocess.run(["git", "show", f"{rev}:index/corpus.py"], cwd=ROOT, capture_output=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / f"corpus_{rev}.py"
    path.write_bytes(source.replace(b"from index.", b"from codehunt.index."))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument("--before-rev", action="append", default=[], help="git revision of index/corpus.py to compare")
    args = parser.parse_args()
    encoder = SentenceTransformerEncoder(EncoderConfig(model="default"))
    tokenizer = encoder.tokenizer

    def count(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]] if texts else []

    versions = [(rev, corpus_module_at(rev)) for rev in args.before_rev] + [("working tree", current)]
    print("| source | version | units | chunks | chunks/unit | encoder-identical parts | corpus.jsonl MB | split s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for source in args.sources:
        units = current.read_codebase(source).chunks
        for name, module in versions:
            started = time.perf_counter()
            chunks = module.split_long_chunks(units, count, encoder.max_length - 2)
            seconds = time.perf_counter() - started
            seen: set[tuple[int, ...]] = set()
            identical = 0
            for chunk in chunks:
                key = tuple(tokenizer(current.embedding_text(chunk), truncation=True, max_length=encoder.max_length)["input_ids"])
                identical += key in seen
                seen.add(key)
            size = sum(len(json.dumps(chunk.to_json())) + 1 for chunk in chunks) / 1e6
            print(f"| {source.name} | {name} | {len(units)} | {len(chunks)} | {len(chunks) / len(units):.2f} | "
                  f"{identical} ({identical / len(chunks):.0%}) | {size:.1f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
