"""The whole data flow through the CLI on a real (small) package:
code -> pairs -> filtered pairs -> triples -> retriever + reranker -> index -> reranked search."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codehunt.cli import app

runner = CliRunner()

FUNCTIONS = {
    "parse_iso_date": ("Parse an ISO 8601 date string into a datetime object.", "from datetime import datetime\nreturn datetime.strptime(text, '%Y-%m-%d')"),
    "read_json_file": ("Read a JSON file from disk and return the decoded data.", "import json\nwith open(text) as handle:\n    return json.load(handle)"),
    "send_email": ("Send an email message through an SMTP server.", "import smtplib\nserver = smtplib.SMTP('localhost')\nserver.sendmail('me', [text], 'hi')"),
    "compress_bytes": ("Compress a byte string with zlib at the best level.", "import zlib\ndata = text.encode()\nreturn zlib.compress(data, 9)"),
    "list_directory": ("List the names of the files inside a directory.", "import os\nnames = os.listdir(text)\nreturn sorted(names)"),
    "hash_password": ("Hash a password with a random salt using PBKDF2.", "import hashlib, os\nsalt = os.urandom(16)\nreturn hashlib.pbkdf2_hmac('sha256', text.encode(), salt, 1000)"),
    "reverse_words": ("Reverse the order of the words in a sentence.", "words = text.split()\nwords.reverse()\nreturn ' '.join(words)"),
    "count_lines": ("Count the number of lines in a text file.", "with open(text) as handle:\n    total = sum(1 for _ in handle)\nreturn total"),
}


def write_package(root: Path) -> None:
    source = []
    for name, (doc, body) in FUNCTIONS.items():
        source.append(f'def {name}(text):\n    """{doc}"""\n{textwrap.indent(body, "    ")}\n')
    (root / "tools.py").write_text("\n\n".join(source), encoding="utf-8")


def invoke(*args: str) -> None:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, f"codehunt {' '.join(args)} failed:\n{result.output}"


@pytest.mark.slow
def test_mine_train_index_and_rerank_through_the_cli(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_package(src)
    pairs, filtered, triples = tmp_path / "pairs.jsonl", tmp_path / "pairs.filtered.jsonl", tmp_path / "triples.jsonl"
    invoke("mine", "pairs", str(src), "--kind", "docstring", "-o", str(pairs))
    mined = [json.loads(line) for line in pairs.open(encoding="utf-8")]
    assert {p["qualname"] for p in mined} == set(FUNCTIONS)
    assert all('"""' not in p["positive"] for p in mined)  # docstring removed from the positive

    invoke("mine", "filter", str(pairs), "-o", str(filtered))
    kept = [json.loads(line) for line in filtered.open(encoding="utf-8")]
    assert len(kept) >= 6  # these docstrings describe their code: the default model keeps most of them

    invoke("mine", "negatives", str(filtered), "-o", str(triples), "--num-negatives", "2", "--rank-start", "1",
           "--margin", "2.0")
    rows = [json.loads(line) for line in triples.open(encoding="utf-8")]
    assert rows and all(row["negative_1"] != row["positive"] for row in rows)

    retriever = tmp_path / "retriever"
    invoke("train", "retriever", str(triples), "-o", str(retriever), "--steps", "2", "--batch-size", "4",
           "--queue-size", "8", "--max-seq-length", "64", "--precision", "fp32")
    reranker = tmp_path / "reranker"
    invoke("train", "reranker", str(triples), "-o", str(reranker), "--steps", "2", "--batch-size", "2",
           "--group-size", "3", "--max-length", "96", "--max-query-length", "32", "--precision", "fp32")

    index = tmp_path / "idx"
    invoke("index", "build", str(src), "-o", str(index), "--model", str(retriever))
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["encoder"]["name"] == str(retriever)

    result = runner.invoke(app, ["search", "parse a date string", "-i", str(index), "--json", "--rerank", str(reranker),
                                 "--rerank-depth", "5", "-k", "5"])
    assert result.exit_code == 0, result.output
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(hits) == 5 and len({h["doc_id"] for h in hits}) == 5
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]

    # a heavy first-stage weight in the fusion keeps the first stage's order among the reranked candidates
    plain = runner.invoke(app, ["search", "parse a date string", "-i", str(index), "--json", "-k", "5"])
    fused = runner.invoke(app, ["search", "parse a date string", "-i", str(index), "--json", "--rerank", str(reranker),
                                "--rerank-depth", "5", "-k", "5", "--rerank-fusion", "100"])
    assert plain.exit_code == 0 and fused.exit_code == 0, fused.output
    order = [[json.loads(line)["doc_id"] for line in r.stdout.splitlines()] for r in (plain, fused)]
    assert order[0] == order[1]


@pytest.mark.slow
def test_web_style_pairs_with_their_docstrings_train_a_retriever_directly(tmp_path):
    from sentence_transformers import SentenceTransformer

    src = tmp_path / "src"
    src.mkdir()
    write_package(src)
    pairs = tmp_path / "pairs.jsonl"
    invoke("mine", "pairs", str(src), "--kind", "docstring", "--keep-docstring", "--query-style", "web", "-o", str(pairs))
    mined = {p["qualname"]: p for p in map(json.loads, pairs.open(encoding="utf-8"))}
    assert set(mined) == set(FUNCTIONS)
    assert '"""Parse an ISO 8601 date string' in mined["parse_iso_date"]["positive"]
    assert "parse an iso 8601 date string into a datetime object" in mined["parse_iso_date"]["query"]
    assert all(p["query"] == p["query"].lower() and "python" in p["query"].split() for p in mined.values())

    retriever = tmp_path / "retriever"  # the mined pairs.jsonl, unfiltered, is training data as it stands
    invoke("train", "retriever", str(pairs), "-o", str(retriever), "--steps", "2", "--batch-size", "4",
           "--queue-size", "0", "--max-seq-length", "64", "--precision", "fp32")
    assert SentenceTransformer(str(retriever), device="cpu").encode(["python parse date"]).shape == (1, 384)
