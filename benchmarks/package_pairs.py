"""Training pairs at scale from code a user can install: Python packages and Debian's Ruby packages.

    python benchmarks/package_pairs.py --work /tmp/codehunt-packages [--python numpy scipy ...] [--ruby ruby-thor ...]

1. Python: every package named by ``--python`` that is installed beside codehunt (its ``site-packages``),
   mined for docstring pairs with web-style queries (``python <what it does>``, as CoSQA's are) whose positives
   keep their docstrings (CoSQA's code does; the retriever recipe measured it better on cosqa than without).
2. Ruby: the Debian packages named by ``--ruby`` (the Ruby standard library is ``libruby3.1``), downloaded
   once with ``apt-get download`` into ``WORK/debs`` and unpacked into ``WORK/ruby/<package>`` (later runs reuse
   them), mined for leading-comment pairs with the comment's first sentence as the query (CodeSearchNet style).
3. All of it through ``codehunt mine pairs`` with the leakage rules of ``../shared/data/training_exclusions.txt``
   (excluded projects, also vendored inside another package, and copies of evaluation-corpus functions are dropped
   and counted), then one pass over the concatenation that drops positives seen twice (vendored copies across
   packages). Prints the pairs per source and the drop counts; ``WORK/pairs.jsonl`` is the result, ready for
   ``codehunt mine filter`` and ``codehunt train retriever``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

PYTHON = (
    "numpy", "scipy", "pandas", "torch", "transformers", "networkx", "datasets", "huggingface_hub",
    "accelerate", "jinja2", "pygments", "rich", "attr", "dateutil", "jsonschema", "markdown_it", "pyarrow",
    "ray", "setuptools", "pip", "cryptography", "fsspec", "yaml", "joblib", "psutil", "anyio", "h11",
    "httpcore", "idna", "packaging", "pathspec", "typer", "mcp", "safetensors", "narwhals", "filelock",
    "cloudpickle", "dill", "multiprocess", "sentence_transformers", "tokenizers", "google", "referencing",
    "msgpack", "shellingham", "markupsafe",
)
RUBY = (
    "libruby3.1", "rake", "ruby-thor", "ruby-i18n", "ruby-concurrent", "ruby-addressable", "ruby-mime-types",
    "ruby-tzinfo", "ruby-faraday", "ruby-builder", "ruby-public-suffix", "ruby-tilt", "ruby-rspec-core",
    "ruby-rspec-expectations", "ruby-rspec-mocks", "ruby-nokogiri", "ruby-net-http-persistent",
    "ruby-coderay", "ruby-kramdown", "ruby-rouge", "ruby-redcarpet", "ruby-mocha", "ruby-minitest",
    "ruby-test-unit", "ruby-json", "ruby-diff-lcs", "ruby-erubi", "ruby-excon", "ruby-gettext",
    "ruby-highline", "ruby-httpclient", "ruby-liquid", "ruby-mustache", "ruby-oj", "ruby-sass", "ruby-sequel",
    "ruby-slop", "ruby-zip", "ruby-simplecov", "ruby-haml", "ruby-grape", "ruby-hashie", "ruby-dry-core",
    "ruby-sidekiq",
)


def mine(source: Path, output: Path, exclusions: Path, *options: str) -> dict:
    """``codehunt mine pairs SOURCE`` (docstring pairs) with the leakage rules; its report line as counts."""
    command = [sys.executable, "-m", "codehunt", "mine", "pairs", str(source), "-o", str(output),
               "--exclusions", str(exclusions), *options]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return {"pairs": sum(1 for _ in output.open(encoding="utf-8")), "report": done.stderr.strip().splitlines()[-1]}


def ruby_sources(work: Path, packages: "list[str] | tuple[str, ...]") -> dict[str, Path]:
    """Each Debian package unpacked under ``work/ruby/<package>`` (downloaded once into ``work/debs``)."""
    debs, unpacked = work / "debs", work / "ruby"
    debs.mkdir(parents=True, exist_ok=True)
    unpacked.mkdir(parents=True, exist_ok=True)
    sources = {}
    for package in packages:
        target = unpacked / package
        if not target.is_dir():
            if not list(debs.glob(f"{package}_*.deb")):
                fetched = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True, check=False)
                if fetched.returncode != 0:
                    print(f"  {package}: not downloadable here ({fetched.stderr.strip().splitlines()[-1:]}), skipped",
                          file=sys.stderr)
                    continue
            staging = target.with_name(target.name + ".partial")
            shutil.rmtree(staging, ignore_errors=True)  # left by a killed run
            subprocess.run(["dpkg-deb", "-x", str(next(debs.glob(f"{package}_*.deb"))), str(staging)], check=True)
            staging.rename(target)  # a half-unpacked package is never taken for a whole one
        sources[package] = target
    return sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/codehunt-packages"))
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data")
    parser.add_argument("--python", nargs="*", default=PYTHON, help="installed packages to mine (import names)")
    parser.add_argument("--ruby", nargs="*", default=RUBY, help="Debian packages of Ruby code to mine")
    args = parser.parse_args()
    exclusions = args.data / "training_exclusions.txt"
    if not exclusions.is_file():
        sys.exit(f"{exclusions} is missing: the leakage rules are required to mine training data")
    parts = args.work / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    site = Path(sysconfig.get_paths()["purelib"])
    report: dict[str, dict] = {}
    for package in args.python:
        if (site / package).is_dir():
            report[f"python {package}"] = mine(site / package, parts / f"py-{package}.jsonl", exclusions,
                                               "--kind", "docstring", "--query-style", "web", "--keep-docstring")
            print(f"python {package}: {report[f'python {package}']['pairs']} pairs", file=sys.stderr)
    for package, source in ruby_sources(args.work, args.ruby).items():
        report[f"ruby {package}"] = mine(source, parts / f"rb-{package}.jsonl", exclusions, "--kind", "docstring")
        print(f"ruby {package}: {report[f'ruby {package}']['pairs']} pairs", file=sys.stderr)
    raw = args.work / "pairs.raw.jsonl"
    with raw.open("w", encoding="utf-8") as handle:
        for name in report:
            language, package = name.split(" ", 1)
            handle.write((parts / f"{'py' if language == 'python' else 'rb'}-{package}.jsonl").read_text(encoding="utf-8"))
    final = mine(raw, args.work / "pairs.jsonl", exclusions)  # across packages: duplicates (vendored copies) dropped
    by_language = {language: sum(r["pairs"] for n, r in report.items() if n.startswith(language)) for language in ("python", "ruby")}
    print(json.dumps({"sources": report, "raw_pairs": by_language, "after_dedupe": final}, indent=2))


if __name__ == "__main__":
    main()
