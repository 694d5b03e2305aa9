"""Fixtures for retriever tests: small training files built from real standard-library source."""
from __future__ import annotations

import inspect
import json
import base64
import calendar
import difflib
import fnmatch
import html
import shlex
import string
import textwrap
from pathlib import Path

import pytest

FUNCTIONS = [
    textwrap.dedent, textwrap.indent, textwrap.shorten, textwrap.wrap, shlex.quote, shlex.split, shlex.join,
    html.escape, html.unescape, fnmatch.fnmatch, fnmatch.translate, base64.b64encode, calendar.isleap,
    difflib.get_close_matches, string.capwords, json.dumps, json.loads, json.dump,
]


def stdlib_rows() -> list[dict[str, str]]:
    """(docstring first line, source) of real standard-library functions, with stable ids."""
    rows = []
    for function in FUNCTIONS:
        doc = (inspect.getdoc(function) or function.__name__).strip().splitlines()[0]
        rows.append({"id": f"{function.__module__}.{function.__qualname__}", "query": doc,
                     "code": inspect.getsource(function)})
    return rows


def write_triples(path: Path, negatives: int = 2) -> Path:
    """Mining-style triples: anchor, positive, negative_1..n with their ids (the next functions in the list)."""
    rows = stdlib_rows()
    with path.open("w", encoding="utf-8") as handle:
        for i, row in enumerate(rows):
            record = {"anchor": row["query"], "positive": row["code"], "positive_id": row["id"]}
            for k in range(1, negatives + 1):
                other = rows[(i + k) % len(rows)]
                record[f"negative_{k}"], record[f"negative_{k}_id"], record[f"negative_{k}_score"] = other["code"], other["id"], 0.5
            handle.write(json.dumps(record) + "\n")
    return path


@pytest.fixture(scope="session")
def triples_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_triples(tmp_path_factory.mktemp("data") / "triples.jsonl")


@pytest.fixture(scope="session")
def pairs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    path.write_text("".join(json.dumps({"query": r["query"], "code": r["code"], "corpus_id": r["id"]}) + "\n"
                            for r in stdlib_rows()), encoding="utf-8")
    return path


def small_config(data: Path, out: Path, **overrides):  # noqa: ANN201 - RetrieverTrainConfig
    """A config that trains the real default model fast: fp32 (exact), batch 2, 64 tokens, tiny queue."""
    from codehunt.retriever.config import RetrieverTrainConfig

    settings = dict(data=str(data), output_dir=str(out), queue_size=8, batch_size=2, steps=2, max_seq_length=64,
                    precision="fp32", device="cpu", log_every=1, checkpoint_every=1000, cache_dir=str(out.parent / "hf-cache"),
                    warmup_ratio=0.0, lr=1e-4)
    settings.update(overrides)
    return RetrieverTrainConfig(**settings)


@pytest.fixture(scope="session")
def make_config():  # noqa: ANN201
    """``make_config(data, out, **overrides)``: see :func:`small_config`."""
    return small_config
