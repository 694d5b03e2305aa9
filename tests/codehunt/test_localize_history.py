"""The history signal of issue localization on a real git repository: earlier similar commits vote for their files."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from codehunt.index.errors import BadInputError
from codehunt.localize import LocalizeConfig, localize_issue
from codehunt.localize.history import file_votes, history_votes, read_history

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}

FILES = {
    "shop/invoice.py": "def invoice_total(lines):\n    \"\"\"Sum of an order's lines.\"\"\"\n    return sum(lines)\n",
    "shop/mail.py": "def send_mail(to, body):\n    \"\"\"Send one message through SMTP.\"\"\"\n    return (to, body)\n",
    "shop/stock.py": "def stock_level(name):\n    \"\"\"How many items of a product are left.\"\"\"\n    return 0\n",
}


def git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def commit(root: Path, files: dict[str, str], message: str) -> str:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """History: initial files; an invoice rounding fix; an SMTP fix; a 30-file reformat; base; then the fix after base."""
    root = tmp_path_factory.mktemp("history")
    git(root, "init", "-q", "-b", "main")
    first = commit(root, FILES, "Add the shop")
    rounding = commit(root, {"shop/invoice.py": FILES["shop/invoice.py"].replace("sum(lines)", "round(sum(lines), 2)")},
                      "Fix rounding of invoice totals\n\nTotals of invoices with many lines were rounded wrong.")
    smtp = commit(root, {"shop/mail.py": FILES["shop/mail.py"].replace("(to, body)", "(to, body, 30)")},
                  "Fix SMTP timeout when sending mail")
    reformat = commit(root, {f"docs/page{i}.txt": f"invoice totals rounding page {i}\n" for i in range(30)},
                      "Reformat invoice totals rounding docs")
    base = commit(root, {"shop/stock.py": FILES["shop/stock.py"].replace("return 0", "return 1")}, "Count stock from one")
    fix = commit(root, {"shop/stock.py": FILES["shop/stock.py"].replace("return 0", "return 2")},
                 "Fix invoice totals rounding for stock items")
    return {"root": root, "first": first, "rounding": rounding, "smtp": smtp, "reformat": reformat, "base": base, "fix": fix,
            "cache": tmp_path_factory.mktemp("cache")}


def test_only_commits_strictly_before_the_revision_are_read(shop: dict) -> None:
    commits = read_history(shop["root"], shop["base"], max_commits=100, max_files=20)
    shas = [c.sha for c in commits]
    assert shop["fix"] not in shas, "the fix comes after the revision: it must never vote"
    assert shop["base"] not in shas, "the revision itself is not its own history"
    assert shop["reformat"] not in shas, "a commit changing 30 files is skipped"
    assert shas == [shop["smtp"], shop["rounding"], shop["first"]]  # newest first
    assert commits[1].files == ("shop/invoice.py",) and commits[1].message.startswith("Fix rounding of invoice totals")
    # the window counts the skipped reformat: two commits back reach the SMTP fix, one does not
    assert [c.sha for c in read_history(shop["root"], shop["base"], max_commits=2, max_files=20)] == [shop["smtp"]]
    assert read_history(shop["root"], shop["base"], max_commits=1, max_files=20) == []
    assert read_history(shop["root"], shop["first"], max_commits=100, max_files=20) == []


def test_similar_commits_vote_for_their_files(shop: dict) -> None:
    commits = read_history(shop["root"], shop["base"], max_commits=100, max_files=20)
    votes = file_votes("Invoice totals are rounded wrong for big orders", commits, depth=20)
    assert votes["shop/invoice.py"] == 1.0
    assert all(votes[path] < 1.0 for path in votes if path != "shop/invoice.py")
    assert "shop/mail.py" not in votes, "the SMTP commit shares no word with the issue"
    assert file_votes("SMTP timeout", commits, depth=20) == {"shop/mail.py": 1.0}
    assert file_votes("rounded invoice totals", commits, depth=20, known_paths={"shop/mail.py"}) == {}
    assert file_votes("", commits, depth=20) == {} and file_votes("invoice", [], depth=20) == {}


def test_history_weight_moves_the_voted_file_up_and_is_off_by_default(shop: dict, default_encoder) -> None:  # noqa: ANN001
    from codehunt.index.embedding_cache import CachedEncoder

    encoder = CachedEncoder(default_encoder, Path(shop["cache"]) / "embeddings")
    issue = "Wrong totals after rounding\n\nThe amounts on my documents are off by a cent."
    config = LocalizeConfig(repo=shop["root"], rev=shop["base"], cache_dir=shop["cache"])
    plain = localize_issue(issue, config, encoder=encoder)
    weighted = localize_issue(issue, LocalizeConfig(repo=shop["root"], rev=shop["base"], cache_dir=shop["cache"], history_weight=2.0),
                              encoder=encoder)
    assert history_votes(shop["root"], shop["base"], issue, config, {"shop/invoice.py"}) == {}, "weight 0 reads no history"
    assert weighted.files[0][0] == "shop/invoice.py"
    assert weighted.functions[0].qualname == "invoice_total"
    gain = {path: dict(weighted.files)[path] - dict(plain.files)[path] for path in FILES}
    votes = history_votes(shop["root"], shop["base"], issue, LocalizeConfig(history_weight=2.0), set(FILES))
    assert votes["shop/invoice.py"] == 1.0 and votes["shop/mail.py"] < 0.5  # "the" of "Add the shop" is its only link
    for path in FILES:  # each file's best unit gains weight x vote, in units of one RRF top rank
        assert gain[path] == pytest.approx(2.0 / 61 * votes.get(path, 0.0), abs=1e-9)


def test_bad_history_settings_are_refused() -> None:
    with pytest.raises(BadInputError, match="history_weight"):
        LocalizeConfig(history_weight=-1.0)
    with pytest.raises(BadInputError, match="history_commits"):
        LocalizeConfig(history_commits=0)
