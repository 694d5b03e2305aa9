"""The CLI on real inputs: exit codes, grep-like and JSON output, and eval reproduced by pytrec_eval."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codehunt.cli import app

runner = CliRunner()

CODE = '''
def parse_iso_date(text):
    """Parse an ISO 8601 date string into a datetime."""
    from datetime import datetime
    return datetime.strptime(text, "%Y-%m-%d")


def send_email(address, body):
    """Send an email message over SMTP."""
    import smtplib
    smtplib.SMTP("localhost").sendmail("me", [address], body)
'''


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("src")
    (root / "util.py").write_text(CODE, encoding="utf-8")
    out = tmp_path_factory.mktemp("idx") / "idx"
    result = runner.invoke(app, ["index", "build", str(root), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_search_prints_grep_like_hits(cli_index):
    result = runner.invoke(app, ["search", "parse an ISO 8601 date", "-i", str(cli_index), "-k", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("util.py:2: parse_iso_date")


def test_search_json_has_every_field(cli_index):
    result = runner.invoke(app, ["search", "send an email", "-i", str(cli_index), "--json", "--mode", "dense"])
    assert result.exit_code == 0, result.output
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert hits[0]["qualname"] == "send_email"
    assert set(hits[0]) == {"rank", "score", "doc_id", "path", "start_line", "end_line", "qualname", "language", "snippet"}
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))


def test_search_level_file_prints_one_line_per_file(cli_index):
    result = runner.invoke(app, ["search", "send an email", "-i", str(cli_index), "--level", "file"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("util.py  ") and lines[0].endswith("send_email at line 8")
    as_json = runner.invoke(app, ["search", "send an email", "-i", str(cli_index), "--level", "both", "--json"])
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [r["level"] for r in records] == ["function", "function", "file"]
    assert records[-1]["path"] == "util.py" and records[-1]["units"] == 2 and records[-1]["best"]["qualname"] == "send_email"


def test_search_fusion_override_and_index_info_shows_the_search_config(cli_index):
    from codehunt.index.index import Index

    rrf = runner.invoke(app, ["search", "send an email", "-i", str(cli_index), "--fusion", "rrf", "--dense-weight", "0.3", "--json"])
    assert rrf.exit_code == 0, rrf.output
    index = Index.load(cli_index)
    index.search_config = index.search_config.with_fusion("rrf", 0.3)
    expected = [hit.to_json() for hit in index.search("send an email")]
    assert [json.loads(line) for line in rrf.stdout.splitlines()] == expected
    from codehunt.index.fusion import FusionConfig
    from codehunt.pipeline import search_index

    used, _ = search_index(cli_index, "send an email", fusion="rrf", dense_weight=0.3)
    assert used.search_config.fusion == FusionConfig("rrf", 0.3)
    info = json.loads(runner.invoke(app, ["index", "info", str(cli_index)]).stdout)
    assert info["search"]["fusion"] == {"method": "minmax", "dense_weight": 0.8, "code_dense_weight": 0.5, "rrf_k": 60}
    assert info["config"]["search"]["file_aggregation"] == "top3"


def test_zero_hits_is_exit_code_0(cli_index):
    result = runner.invoke(app, ["search", "zzqqxx", "-i", str(cli_index), "--mode", "bm25"])
    assert result.exit_code == 0
    assert result.stdout == ""


def test_index_info_and_verify(cli_index):
    info = runner.invoke(app, ["index", "info", str(cli_index)])
    assert info.exit_code == 0 and json.loads(info.stdout)["encoder"]["dimension"] == 384
    assert runner.invoke(app, ["index", "verify", str(cli_index)]).exit_code == 0


def test_verify_detects_a_modified_file(cli_index, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cli_index, copy)
    with (copy / "corpus.jsonl").open("a", encoding="utf-8") as handle:
        handle.write("\n")
    result = runner.invoke(app, ["index", "verify", str(copy)])
    assert result.exit_code == 1
    assert "corpus.jsonl: checksum mismatch" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["index", "build", "/nonexistent/path", "-o", "{tmp}/o"], "does not exist"),
        (["index", "build", "{src}", "-o", "{tmp}/o", "--model", "/no/such/model"], "model path /no/such/model does not exist"),
        (["search", "x", "-i", "{tmp}/missing-index"], "not an index directory"),
    ],
    ids=["missing-source", "wrong-model-path", "missing-index"],
)
def test_bad_input_is_one_line_and_exit_code_1(args, message, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("def a():\n    return 1\n", encoding="utf-8")
    args = [a.format(tmp=tmp_path, src=src) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_usage_error_is_exit_code_2():
    result = subprocess.run([sys.executable, "-m", "codehunt", "search"], capture_output=True, text=True)
    assert result.returncode == 2


# Every command with at least one option value it must refuse before doing any work. {tmp} paths need not exist:
# the options are checked (and the configs built) before any file is read.
BAD_OPTIONS = [
    (["search", "", "-i", "{tmp}/idx"], "the query is empty"),
    (["search", "   ", "-i", "{tmp}/idx"], "the query is empty"),
    (["search", "q", "-i", "{tmp}/idx", "-k", "0"], "-k must be at least 1, got 0"),
    (["search", "q", "-i", "{tmp}/idx", "-k", "-3"], "-k must be at least 1, got -3"),
    (["search", "q", "-i", "{tmp}/idx", "--mode", "fuzzy"], "unknown --mode 'fuzzy'"),
    (["search", "q", "-i", "{tmp}/idx", "--rerank-depth", "0"], "--rerank-depth must be at least 1"),
    (["search", "q", "-i", "{tmp}/idx", "--level", "module"], "unknown --level 'module'"),
    (["search", "q", "-i", "{tmp}/idx", "--fusion", "mean"], "unknown --fusion 'mean'"),
    (["search", "q", "-i", "{tmp}/idx", "--dense-weight", "1.5"], "--dense-weight must be between 0 and 1"),
    (["index", "build", "{tmp}", "-o", "{tmp}/o", "--fusion", "mean"], "unknown fusion 'mean'"),
    (["eval", "{tmp}/beir", "--mode", "fuzzy"], "unknown --mode 'fuzzy'"),
    (["eval", "beir", "{tmp}/beir", "--rerank-fusion", "-1"], "--rerank-fusion must be >= 0"),
    (["eval", "{tmp}/beir", "--split", ""], "--split is empty"),
    (["localize", "{tmp}/issue.md", "--repo", "{tmp}", "-k", "0"], "k and depth must be >= 1"),
    (["localize", "{tmp}/issue.md", "--repo", "{tmp}", "--mode", "fuzzy"], "mode must be dense, bm25 or hybrid"),
    (["eval", "localize", "{tmp}/i.jsonl", "--gold", "{tmp}/g.jsonl", "--repos", "{tmp}", "--depth", "-1"],
     "k and depth must be >= 1"),
    (["index", "build", "{tmp}", "-o", "{tmp}/o", "--index-type", "annoy"], "unknown index type 'annoy'"),
    (["index", "build", "{tmp}", "-o", "{tmp}/o", "--precision", "fp16"], "unknown precision 'fp16'"),
    (["index", "build", "{tmp}", "-o", "{tmp}/o", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["index", "build", "{tmp}", "-o", "{tmp}/o", "--max-file-bytes", "-1"], "--max-file-bytes must be at least 1"),
    (["index", "update", "{tmp}/o", "--rev", " "], "--rev is empty"),
    (["mine", "pairs", "{tmp}", "-o", "{tmp}/o", "--kind", "bogus"], "unknown pair source 'bogus'"),
    (["mine", "pairs", "{tmp}", "-o", "{tmp}/o", "--limit", "0"], "--limit must be positive"),
    (["mine", "pairs", "{tmp}", "-o", "{tmp}/o", "--max-query-words", "0"], "--max-query-words must be at least 1"),
    (["mine", "filter", "{tmp}/p.jsonl", "-o", "{tmp}/o", "--top-k", "0"], "--top-k must be at least 1"),
    (["mine", "negatives", "{tmp}/p.jsonl", "-o", "{tmp}/o", "--num-negatives", "0"], "--num-negatives must be at least 1"),
    (["mine", "negatives", "{tmp}/p.jsonl", "-o", "{tmp}/o", "--pool", "all"], "unknown candidate pool 'all'"),
    (["mine", "teacher", "{tmp}/t.jsonl", "-o", "{tmp}/o", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["train", "retriever", "{tmp}/t.jsonl", "-o", "{tmp}/o", "--steps", "0"], "--steps must be >= 1"),
    (["train", "reranker", "{tmp}/t.jsonl", "-o", "{tmp}/o", "--group-size", "1"], "--group-size must be >= 2"),
    (["train", "rerank-weight", "{tmp}/ce", "--dev", "{tmp}/beir", "--rerank-depth", "0"], "--rerank-depth must be at least 1"),
    (["serve", "-i", "{tmp}/idx", "--port", "70000"], "--port must be between 0 and 65535"),
    (["index", "merge", "{tmp}/s0", "-o", "{tmp}/s0"], "is one of the shards"),
    (["mcp", "-i", "{tmp}/idx", "--threads", "-1"], "--threads must be 0 (torch's default) or more"),
    (["train", "rerank-weight", "{tmp}/ce", "--dev", "{tmp}/beir", "--mode", "fuzzy"], "unknown --mode 'fuzzy'"),
    (["train", "rerank-weight", "{tmp}/ce", "--dev", "{tmp}/beir", "--objective", "median"], "--objective must be one of worst, mean"),
    (["train", "interpolate", "{tmp}/tuned", "-o", "{tmp}/mix", "--alpha", "-0.5"], "--alpha must be between 0"),
    (["train", "export", "{tmp}/run.checkpoints", "-o", "{tmp}/run.checkpoints/model"], "is inside the checkpoint folder"),
]


@pytest.mark.parametrize("args, message", BAD_OPTIONS, ids=[" ".join(a[:2]) + f" {a[-2]} {a[-1]!r}" for a, _ in BAD_OPTIONS])
def test_bad_option_values_are_one_line_and_exit_code_2(args, message, tmp_path):
    args = [a.format(tmp=tmp_path) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "o").exists()


def test_every_command_has_a_bad_option_case():
    """BAD_OPTIONS covers every leaf command the CLI registers (a new command needs a row)."""
    import typer.main

    def leaves(command, prefix: tuple[str, ...] = ()) -> set[str]:  # noqa: ANN001 - a (typer-vendored) click command
        subcommands = getattr(command, "commands", None)
        if subcommands:
            return {leaf for name, sub in subcommands.items() for leaf in leaves(sub, (*prefix, name))}
        return {" ".join(prefix)}

    registered = leaves(typer.main.get_command(app)) - {"index info", "index verify"}  # they take only a path
    covered = set()
    for args, _ in BAD_OPTIONS:
        words = [a for a in args if not a.startswith(("-", "{")) and a]
        name = " ".join(words[:2]) if " ".join(words[:2]) in registered else words[0]
        covered.add("eval beir" if name == "eval" else name)
    assert registered <= covered, sorted(registered - covered)


def test_a_config_error_past_the_options_is_exit_code_1(tmp_path):
    """A ConfigError raised after the command line was accepted (options that only conflict at run time,
    a config read back from a file) is one line and exit code 1, not a traceback."""
    result = runner.invoke(app, ["mine", "negatives", str(tmp_path / "p.jsonl"), "-o", str(tmp_path / "o"),
                                 "--cross-encoder-threshold", "0.5"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert lines == ["error: --cross-encoder-threshold needs a cross-encoder: pass --cross-encoder DIR as well"]


def test_a_bad_config_inside_an_index_is_exit_code_1(cli_index, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cli_index, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["config"]["dense"]["index_type"] = "annoy"
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = runner.invoke(app, ["search", "parse a date", "-i", str(copy)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown index type 'annoy'" in lines[0] and "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["bm25", "dense"])
def test_eval_metrics_are_reproduced_by_pytrec_eval(mode, shared_data, tmp_path):
    """`codehunt eval` on a 400-document slice of CoSQA dev: pytrec_eval on our run file gives our numbers."""
    import pytrec_eval

    from codehunt.index.trec import read_qrels_tsv

    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    qrels_all = read_qrels_tsv(shared_data / "cosqa" / "qrels" / "dev.tsv")
    qids = list(qrels_all)[:60]
    wanted_docs = {d for q in qids for d in qrels_all[q]}
    lines = (shared_data / "cosqa" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    docs = [line for line in lines if json.loads(line)["_id"] in wanted_docs] + lines[:340]
    (beir / "corpus.jsonl").write_text("\n".join(dict.fromkeys(docs)) + "\n", encoding="utf-8")
    queries = [line for line in (shared_data / "cosqa" / "queries.jsonl").read_text(encoding="utf-8").splitlines() if json.loads(line)["_id"] in qids]
    (beir / "queries.jsonl").write_text("\n".join(queries) + "\n", encoding="utf-8")
    (beir / "qrels" / "dev.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q in qids for d in qrels_all[q]), encoding="utf-8"
    )
    run_file = tmp_path / "run.trec"
    result = runner.invoke(app, ["eval", str(beir), "--split", "dev", "--mode", mode, "--json", "--run", str(run_file),
                                 "-i", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout.strip().splitlines()[-1])
    with run_file.open(encoding="utf-8") as handle:
        run = pytrec_eval.parse_run(handle)
    qrels = {q: {d: 1 for d in qrels_all[q]} for q in qids}
    theirs = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10", "map"}).evaluate(run)
    assert len(theirs) == len(qids)  # every query answered, so the averages agree
    for ours_name, trec_name in (("ndcg_at_10", "ndcg_cut_10"), ("recall_at_10", "recall_10"), ("map", "map")):
        expected = sum(theirs[q][trec_name] for q in qids) / len(qids)
        assert ours[ours_name] == pytest.approx(expected, abs=1e-12)
    assert 0.2 < ours["ndcg_at_10"] <= 1.0
    assert (tmp_path / "run.per_query.jsonl").is_file()


def test_localize_command_on_a_real_git_repository(tmp_path):
    """`codehunt localize ISSUE --repo R --rev REV` indexes the revision and ranks the function a traceback names."""
    import os

    repo = tmp_path / "repo"
    (repo / "shop").mkdir(parents=True)
    (repo / "shop" / "cart.py").write_text(
        "def total(prices):\n    \"\"\"Sum the prices in the cart.\"\"\"\n    return sum(prices) - 1\n\n\n"
        "def add_item(cart, item):\n    cart.append(item)\n    return cart\n", encoding="utf-8")
    (repo / "shop" / "tax.py").write_text("def vat(amount):\n    return amount * 0.2\n", encoding="utf-8")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "shop"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    issue = tmp_path / "issue.md"
    issue.write_text("Cart total is off by one\n\nThe total of the cart is one less than the sum of the prices.\n", encoding="utf-8")
    result = runner.invoke(app, ["localize", str(issue), "--repo", str(repo), "--rev", "HEAD", "-k", "3", "--json",
                                 "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    functions = [r for r in records if r.get("qualname")]
    assert functions[0]["qualname"] == "total" and functions[0]["path"] == "shop/cart.py"
    missing = runner.invoke(app, ["localize", str(tmp_path / "nope.md"), "--repo", str(repo)])
    assert missing.exit_code == 1 and "does not exist" in missing.stderr


def _run_python(code: str) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout.strip()


def test_library_code_leaves_the_progress_bars_alone(tmp_path):
    """Loading a model and reading a pair file through datasets changes no process-wide switch."""
    pairs = tmp_path / "p.jsonl"
    pairs.write_text('{"query": "add two numbers", "code": "def add(a, b): return a + b"}\n', encoding="utf-8")
    code = (
        "from codehunt.index.encoder import load_sentence_transformer\n"
        "from codehunt.mining.pair_files import _load_json\n"
        "import pathlib, transformers, datasets\n"
        "load_sentence_transformer('default', 'cpu')\n"
        f"_load_json(pathlib.Path({str(pairs)!r}))\n"
        "print(transformers.utils.logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled())\n"
    )
    assert _run_python(code) == "True True"


def test_the_cli_quiets_the_libraries_at_start_up():
    """The CLI's one explicit call: libraries imported later, and ones already imported, draw no bars."""
    code = (
        "import datasets\n"
        "from typer.testing import CliRunner\n"
        "from codehunt.cli import app\n"
        "CliRunner().invoke(app, ['index', 'info', '/nonexistent'])\n"
        "import transformers\n"
        "print(transformers.utils.logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled())\n"
    )
    assert _run_python(code) == "False False"


def test_index_build_batch_size_defaults_to_the_encoder_config():
    """The CLI passes no batch of its own unless asked, and its help names the encoder's default: a CLI build and an
    ``Index.build`` with default settings embed in the same batches (a sharded build once disagreed)."""
    from codehunt.index.encoder import EncoderConfig

    result = runner.invoke(app, ["index", "build", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    assert f"(default {EncoderConfig().batch_size}," in " ".join(result.output.split())
