"""mining.exclusions: the leakage rules drop pairs of excluded projects and refuse the evaluation corpora."""
from __future__ import annotations

import json

import pytest

from codehunt.index.errors import BadInputError
from codehunt.mining.config import PairsConfig
from codehunt.mining.exclusions import Exclusions, normalise_name
from codehunt.mining.pairs import mine_pairs
from codehunt.mining.records import Pair

RULES = """# projects never to mine
# Also never train on the evaluation corpora: data/cosqa/corpus.jsonl, data/csn_ruby/corpus.jsonl.
github psf/requests
github pallets/flask
pypi Zope.Interface
"""


@pytest.fixture()
def rules(tmp_path):
    data = tmp_path / "shared" / "data"
    (data / "cosqa").mkdir(parents=True)
    (data / "cosqa" / "corpus.jsonl").write_text('{"_id": "1", "text": "def f(): pass"}\n', encoding="utf-8")
    path = data / "training_exclusions.txt"
    path.write_text(RULES, encoding="utf-8")
    return path


def pair(repo: str = "", path: str = "") -> Pair:
    return Pair(query="q", positive="def g(x): return x", positive_id="x", source="docstring", repo=repo, path=path)


def test_names_and_reasons(rules):
    exclusions = Exclusions.read(rules)
    assert normalise_name("Zope_Interface.git") == "zope-interface"
    assert exclusions.repo_reason("psf/requests") == "excluded repository psf/requests"
    assert exclusions.repo_reason("psf__requests") == "excluded repository psf/requests"
    assert exclusions.repo_reason("flask") == "excluded project flask"  # a checkout folder named flask
    assert exclusions.repo_reason("attrs") is None and exclusions.repo_reason("") is None
    assert exclusions.pair_reason(pair(path="zope/interface.py")) is None
    assert exclusions.pair_reason(pair(path="zope.interface/x.py")) == "excluded package zope-interface"
    assert exclusions.pair_reason(pair(repo="site-packages", path="flask/app.py")) == "excluded package flask"
    assert [c.name for c in exclusions.corpora] == ["corpus.jsonl", "corpus.jsonl"]


def test_an_evaluation_corpus_is_refused(rules, tmp_path):
    exclusions = Exclusions.read(rules)
    corpus = rules.parent / "cosqa" / "corpus.jsonl"
    for source in (corpus, corpus.parent):
        with pytest.raises(BadInputError, match="evaluation corpus"):
            exclusions.check_source(source)
    exclusions.check_source(tmp_path)  # anything else is fine


def test_a_malformed_line_names_the_file_and_line(tmp_path):
    bad = tmp_path / "rules.txt"
    bad.write_text("github psf/requests\nnpm left-pad\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="rules.txt:2"):
        Exclusions.read(bad)


def test_mine_pairs_drops_and_counts_excluded_packages(rules, tmp_path):
    src = tmp_path / "site-packages"
    for package in ("flask", "mytool"):
        (src / package).mkdir(parents=True)
        (src / package / "core.py").write_text(
            f'def handle_{package}(request, options):\n    """Handle one request for {package} with the given options."""\n'
            "    value = request.get(options)\n    return value\n", encoding="utf-8")
    out = tmp_path / "pairs.jsonl"
    result = mine_pairs(PairsConfig(source=src, output=out, kind="docstring", exclusions=rules))
    kept = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [p["path"] for p in kept] == ["mytool/core.py"]
    assert result.dropped["excluded-project"] == 1
    with pytest.raises(BadInputError, match="evaluation corpus"):
        mine_pairs(PairsConfig(source=rules.parent / "cosqa", output=tmp_path / "p2.jsonl", kind="file", exclusions=rules))
    assert not (tmp_path / "p2.jsonl").exists()


def test_copies_of_evaluation_documents_and_import_names_are_dropped(rules, tmp_path):
    rules.write_text(RULES + "pypi scikit-learn\n", encoding="utf-8")
    corpus = rules.parent / "cosqa" / "corpus.jsonl"
    judged = 'def add_one(value):\n    """Add one."""\n    return value + 1\n'
    corpus.write_text(json.dumps({"_id": "1", "text": judged}) + "\n", encoding="utf-8")
    exclusions = Exclusions.read(rules)
    copy = Pair(query="q", positive="def add_one(value):\n  # the same function, reformatted, without its docstring\n"
                "  return value+1", positive_id="x", source="docstring", repo="mytool", path="mytool/m.py")
    assert exclusions.pair_reason(copy) == "copy of an evaluation-corpus document"
    other = Pair(query="q", positive="def add_two(value):\n    return value + 2\n", positive_id="y", source="docstring",
                 repo="mytool", path="mytool/m.py")
    assert exclusions.pair_reason(other) is None
    assert exclusions.pair_reason(pair(repo="site-packages", path="sklearn/base.py")) == "excluded package sklearn"
    assert exclusions.pair_reason(pair(repo="pip", path="_vendor/requests/utils.py")) == "excluded package requests"
    assert exclusions.pair_reason(pair(repo="ray", path="thirdparty/_flask/app.py")) == "excluded package flask"
    assert exclusions.pair_reason(pair(repo="ray", path="serve/request_router.py")) is None  # a file name is no project
    src = tmp_path / "src" / "mytool"
    src.mkdir(parents=True)
    (src / "m.py").write_text(
        'def add_one(value):\n    """Add one to the given value and return it."""\n    return value + 1\n\n\n'
        'def add_two(value):\n    """Add two to the given value and return it."""\n    return value + 2\n', encoding="utf-8")
    out = tmp_path / "pairs.jsonl"
    result = mine_pairs(PairsConfig(source=src.parent, output=out, kind="docstring", exclusions=rules, min_code_lines=1))
    assert [json.loads(line)["qualname"] for line in out.read_text(encoding="utf-8").splitlines()] == ["add_two"]
    assert result.dropped["evaluation-copy"] == 1


def test_a_linked_package_folder_is_judged_by_the_links_name(rules, tmp_path):
    """Docstring mining names pairs the way commit mining does: by the folder as linked, so a mirror stored under
    another name but linked as an excluded project is still refused."""
    real = tmp_path / "store" / "repo"
    (real / "lib").mkdir(parents=True)
    (real / "lib" / "core.py").write_text(
        'def handle(request, options):\n    """Handle one request with the given options."""\n'
        "    value = request.get(options)\n    return value\n", encoding="utf-8")
    (tmp_path / "pallets__flask").symlink_to(real)
    out = tmp_path / "pairs.jsonl"
    result = mine_pairs(PairsConfig(source=tmp_path / "pallets__flask", output=out, kind="docstring", exclusions=rules))
    assert result.pairs == 0 and result.dropped["excluded-project"] == 1
    mine_pairs(PairsConfig(source=real, output=out, kind="docstring", exclusions=rules))
    assert [json.loads(line)["repo"] for line in out.read_text(encoding="utf-8").splitlines()] == ["repo"]
