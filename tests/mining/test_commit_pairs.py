"""Commit message -> changed function pairs from a real git history built with real git commands."""
from __future__ import annotations

from pathlib import Path

import pytest

from codehunt.mining.commit_pairs import clean_message, is_formatting_only, message_problem
from codehunt.mining.diffs import parse_unified_diff
from codehunt.mining.pairs import PairsConfig, mine_pairs, read_pairs

BILLING_V1 = '''
def total(items):
    """Sum the item prices."""
    result = 0
    for item in items:
        result += item.price
    return result


def tax(amount, rate):
    value = amount * rate
    return round(value, 2)


class Invoice:
    def __init__(self, items):
        self.items = items

    def describe(self):
        lines = [str(item) for item in self.items]
        return "\\n".join(lines)
'''


def build_history(repo) -> dict[str, str]:
    shas = {}
    shas["add"] = repo.commit("Add billing module with invoice totals", {"billing.py": BILLING_V1})
    text = BILLING_V1.replace("value = amount * rate", "value = abs(amount) * rate")
    shas["fix"] = repo.commit("Fix rounding of tax for negative amounts", {"billing.py": text})
    text = text.replace("    result = 0\n", "    result = 0\n    items = list(items)\n").replace(
        "class Invoice:",
        "def discount(amount, loyal):\n    if loyal:\n        return amount * 0.9\n    return amount\n\n\nclass Invoice:",
    )
    shas["discount"] = repo.commit(
        "Add discount helper for loyal customers\n\nCustomers with a card get ten\npercent off.\n\n"
        "Signed-off-by: Ada <ada@example.com>",
        {"billing.py": text},
    )
    text = text.replace("value = abs(amount) * rate", "value = abs(amount)*rate")
    shas["reformat"] = repo.commit("Reformat billing code for style", {"billing.py": text})
    repo.commit(f'Revert "Fix rounding of tax"\n\nThis reverts commit {shas["fix"]}.', {"notes.py": "x = 1\n"})
    repo.commit("Bump version to 1.2.0", {"version.py": '__version__ = "1.2.0"\n'})
    repo.commit("Update README with usage examples", {"README.md": "# Billing\n"})
    repo.commit("wip", {"billing.py": text + "\n\ndef wip():\n    pass\n"})
    repo.commit(
        "Touch many files at once for the release",
        {"a.py": "def a():\n    return 1\n", "b.py": "def b():\n    return 2\n", "c.py": "def c():\n    return 3\n"},
    )
    # A merge commit: its own message never becomes a query (git log --no-merges).
    repo.git("checkout", "-q", "-b", "feature")
    shas["feature"] = repo.commit("Compute late fees from the due date", {"fees.py": "def late_fee(days):\n    return days * 2\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("Describe invoices with a header line", {"billing.py": text.replace(
        'lines = [str(item) for item in self.items]', 'lines = ["Invoice"] + [str(item) for item in self.items]'
    ) + "\n\ndef wip():\n    pass\n"})
    shas["describe"] = repo.git("rev-parse", "HEAD")
    repo.git("merge", "-q", "--no-ff", "-m", "Combine the feature branch into the main line", "feature")
    return shas


def test_commit_pairs_from_a_real_history(make_repo, tmp_path: Path) -> None:
    repo = make_repo("shop")
    shas = build_history(repo)
    output = tmp_path / "pairs.jsonl"
    result = mine_pairs(PairsConfig(source=repo.root, output=output, kind="commits", max_files_per_commit=2))
    pairs = read_pairs(output)
    got = sorted((p.query, p.qualname, p.rev) for p in pairs)
    describe_parent = repo.git("rev-parse", f"{shas['describe']}^")
    assert got == sorted(
        [
            # Root commit: everything is added, so the positives are at the commit itself.
            ("Add billing module with invoice totals", "total", shas["add"]),
            ("Add billing module with invoice totals", "tax", shas["add"]),
            ("Add billing module with invoice totals", "Invoice.__init__", shas["add"]),
            ("Add billing module with invoice totals", "Invoice.describe", shas["add"]),
            # A bug fix: the function as it was before the fix (at the parent).
            ("Fix rounding of tax for negative amounts", "tax", shas["add"]),
            # An insertion into total (old version at the parent) and a new function (at the commit).
            ("Add discount helper for loyal customers\nCustomers with a card get ten percent off.", "total", shas["fix"]),
            ("Add discount helper for loyal customers\nCustomers with a card get ten percent off.", "discount", shas["discount"]),
            ("Compute late fees from the due date", "late_fee", shas["feature"]),
            ("Describe invoices with a header line", "Invoice.describe", describe_parent),
        ]
    )
    fix = next(p for p in pairs if p.query.startswith("Fix rounding"))
    assert fix.positive == "def tax(amount, rate):\n    value = amount * rate\n    return round(value, 2)"
    assert fix.positive_id == f"billing.py::tax@{shas['add'][:12]}"
    assert (fix.source, fix.repo, fix.path) == ("commit", "shop", "billing.py")
    discount = next(p for p in pairs if p.qualname == "discount")
    assert discount.positive.startswith("def discount(amount, loyal):")
    describe = next(p for p in pairs if p.query.startswith("Describe invoices"))
    assert "Invoice" not in describe.positive.split("lines =")[1].split("\n")[0]  # the pre-change version
    assert describe.positive.startswith("def describe(self):")  # dedented method
    assert result.dropped == {
        "formatting-only": 1,
        "huge-commit": 1,
        "no-function-changed": 1,  # the README-only commit
        "revert": 1,
        "short-message": 1,
        "version-bump": 1,
    }


def test_max_commits_and_revision_range(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    shas = build_history(repo)
    output = tmp_path / "pairs.jsonl"
    mine_pairs(PairsConfig(source=repo.root, output=output, kind="commits", rev=f"{shas['add']}..{shas['discount']}"))
    assert sorted({p.query.split("\n")[0] for p in read_pairs(output)}) == [
        "Add discount helper for loyal customers",
        "Fix rounding of tax for negative amounts",
    ]
    result = mine_pairs(PairsConfig(source=repo.root, output=output, kind="commits", max_commits=1))
    # One commit: either tip of the merge (same-second dates), each changing one function.
    assert result.pairs == 1


def test_not_a_repository(tmp_path: Path) -> None:
    from codehunt.index.errors import BadInputError

    (tmp_path / "plain").mkdir()
    with pytest.raises(BadInputError, match="not a git repository"):
        mine_pairs(PairsConfig(source=tmp_path / "plain", output=tmp_path / "p.jsonl", kind="commits"))


@pytest.mark.parametrize(
    "message, problem",
    [
        ("Fix off-by-one in the pager", None),
        ('Revert "Add cache"\n\nThis reverts commit 0123456789abcdef.', "revert"),
        ("Bump version to 2.0.1", "version-bump"),
        ("Release 3.4", "version-bump"),
        ("v1.2.3", "version-bump"),
        ("Bump requests from 2.31.0 to 2.32.0", "version-bump"),
        ("Update changelog", "version-bump"),
        ("Merge branch 'dev' into main", "merge-message"),
        ("typo", "short-message"),
        ("Handle version 2 of the protocol", None),
    ],
)
def test_message_problem(message: str, problem: str | None, tmp_path: Path) -> None:
    assert message_problem(message, PairsConfig(source=tmp_path, output=tmp_path / "x")) == problem


def test_clean_message_drops_trailers() -> None:
    message = "Fix parser\n\nHandle empty\ninput.\n\nSigned-off-by: A <a@b.c>\nCo-authored-by: B <b@c.d>\n"
    assert clean_message(message) == "Fix parser\nHandle empty input."


def test_formatting_only() -> None:
    reformat = parse_unified_diff("--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,3 @@\n-x = f(a,b)\n-y=1\n+x = f(a,\n+      b)\n+y = 1\n")
    change = parse_unified_diff("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-x = f(a, b)\n+x = f(b, a)\n")
    assert is_formatting_only(reformat) is True
    assert is_formatting_only(change) is False
    assert is_formatting_only([]) is False


def test_unknown_revision_is_a_clear_error(make_repo, tmp_path: Path) -> None:
    from codehunt.index.errors import BadInputError

    repo = make_repo()
    repo.commit("Add a function that doubles numbers", {"m.py": "def double(x):\n    return 2 * x\n"})
    with pytest.raises(BadInputError, match="no-such-branch"):
        mine_pairs(PairsConfig(source=repo.root, output=tmp_path / "p.jsonl", kind="commits", rev="no-such-branch"))


def test_a_linked_checkout_is_named_by_its_link(make_repo, tmp_path: Path) -> None:
    """Mirrors are often stored as ``.../owner+name/repo`` and linked as ``owner__name``: the pairs (and the
    leakage rules) must see the link's name, not the target folder's ``repo``."""
    repo = make_repo("repo")
    build_history(repo)
    links = tmp_path / "links"
    links.mkdir()
    (links / "acme__shop").symlink_to(repo.root)
    (links / "psf__requests").symlink_to(repo.root)
    output = tmp_path / "pairs.jsonl"
    mine_pairs(PairsConfig(source=links / "acme__shop", output=output, kind="commits"))
    assert {p.repo for p in read_pairs(output)} == {"acme__shop"}
    rules = tmp_path / "training_exclusions.txt"
    rules.write_text("github psf/requests\n", encoding="utf-8")
    result = mine_pairs(PairsConfig(source=links / "psf__requests", output=tmp_path / "excluded.jsonl", kind="commits", exclusions=rules))
    assert result.pairs == 0 and result.dropped["excluded-project"] > 0


def test_control_characters_in_a_diff_do_not_split_commits(make_repo, tmp_path: Path) -> None:
    """``git log``'s record separator (0x1e) inside a text file's diff (terminal-escape tests do this) must not be
    read as the start of another commit."""
    repo = make_repo("escapes")
    first = repo.commit("Add the escape table for terminal output", {"codes.py": 'def separator():\n    return "\x1e"\n\n\ndef unit():\n    return "\x1f"\n'})
    second = repo.commit("Use a record separator that terminals ignore", {"codes.py": 'def separator():\n    return "\x1e;"\n\n\ndef unit():\n    return "\x1f"\n'})
    output = tmp_path / "pairs.jsonl"
    mine_pairs(PairsConfig(source=repo.root, output=output, kind="commits"))
    got = sorted((p.query, p.qualname, p.rev) for p in read_pairs(output))
    assert got == [
        ("Add the escape table for terminal output", "separator", first),
        ("Add the escape table for terminal output", "unit", first),
        ("Use a record separator that terminals ignore", "separator", first),
    ]
    assert second


def test_test_code_is_left_out_unless_asked(make_repo, tmp_path: Path) -> None:
    repo = make_repo("withtests")
    repo.commit("Add a parser for version strings and its tests", {
        "pkg/version.py": "def parse_version(text):\n    parts = text.split('.')\n    return tuple(int(p) for p in parts)\n",
        "tests/test_version.py": "def test_parse_version():\n    assert parse_version('1.2') == (1, 2)\n",
        "pkg/checks.py": "def test_connection(host):\n    return host is not None\n",
    })
    output = tmp_path / "pairs.jsonl"
    result = mine_pairs(PairsConfig(source=repo.root, output=output, kind="commits"))
    assert [p.qualname for p in read_pairs(output)] == ["parse_version"]
    assert result.dropped["test-code"] == 2
    mine_pairs(PairsConfig(source=repo.root, output=output, kind="commits", include_tests=True))
    assert sorted(p.qualname for p in read_pairs(output)) == ["parse_version", "test_connection", "test_parse_version"]
