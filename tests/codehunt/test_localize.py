"""Issue localization on a real git repository with a real bug-fix commit, and its metrics by hand."""
from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from codehunt.issue_text import extract_evidence, normalise_path, path_match_length, split_issue
from codehunt.localize import (
    Gold,
    GoldItem,
    LocalizeConfig,
    UnitTable,
    aggregate_metrics,
    evaluate_localization,
    is_test_path,
    localization_metrics,
    localize_issue,
    rank_files,
    read_issue,
    resolve_gold,
    revision_index,
)
from codehunt.index.errors import BadInputError

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}

CART_BUGGY = '''
class Cart:
    """A shopping cart holding (item, unit price, quantity) lines."""

    def __init__(self):
        self.lines = []

    def add_item(self, name, price, quantity=1):
        """Put ``quantity`` units of an item in the cart."""
        self.lines.append((name, price, quantity))

    def remove_item(self, name):
        """Take every line of an item out of the cart."""
        self.lines = [line for line in self.lines if line[0] != name]

    def total(self):
        """The amount to pay for everything in the cart."""
        amount = 0
        for name, price, quantity in self.lines:
            amount += price
        return amount

    def apply_discount(self, percent):
        """Lower every price by ``percent`` per cent."""
        self.lines = [(n, p * (100 - percent) / 100, q) for n, p, q in self.lines]
'''

FILES = {
    "shop/__init__.py": '"""A tiny shop."""\n',
    "shop/inventory.py": '''
STOCK = {}
RESERVED = {}
LOW_STOCK_WARNING = 5


def stock_level(name):
    """How many units of an item are in the warehouse."""
    return STOCK.get(name, 0)


def reserve(name, count):
    """Hold ``count`` units of an item for an order; fails when the warehouse has too few."""
    available = STOCK.get(name, 0)
    if available < count:
        raise ValueError(f"only {available} of {name} left")
    STOCK[name] = available - count


def release(name, count):
    """Give reserved units back to the warehouse."""
    STOCK[name] = STOCK.get(name, 0) + count
''',
    "shop/money.py": '''
def format_price(cents):
    """Render an amount of cents as a string such as '12.50 EUR'."""
    return f"{cents // 100}.{cents % 100:02d} EUR"


def parse_price(text):
    """Read '12.50' or '12,50' into cents."""
    whole, _, frac = text.replace(",", ".").partition(".")
    return int(whole) * 100 + int(frac or 0)
''',
    "shop/checkout.py": '''
from shop.inventory import reserve


def checkout(cart, customer):
    """Reserve stock for every line of the cart and send the customer an invoice."""
    for name, price, quantity in cart.lines:
        reserve(name, quantity)
    return {"customer": customer, "lines": list(cart.lines)}


def send_invoice(order, mailer):
    """E-mail the order summary to the customer."""
    mailer.send(order["customer"], str(order["lines"]))
''',
    "tests/test_cart.py": '''
from shop.cart import Cart


def test_total_counts_quantity_of_each_item_in_the_cart():
    """The cart total multiplies the unit price by the quantity of every item."""
    cart = Cart()
    cart.add_item("apple", 2, quantity=3)
    assert cart.total() == 6
''',
}

ISSUE = """Cart total ignores item quantity

When I put three apples at 2 each in my cart, the cart total is 2 instead of 6: the amount
to pay only counts the unit price once, whatever the quantity.
"""

TRACEBACK_ISSUE = """Invoice e-mail never sent to the customer

After the customer pays, no invoice e-mail arrives and the order summary is lost.

```
Traceback (most recent call last):
  File "/home/bob/app/main.py", line 8, in <module>
    deliver(order)
  File "/home/bob/.venv/lib/python3.11/site-packages/shop/inventory.py", line 14, in reserve
    raise Oops(msg)
Oops: 0
```
"""


def git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A work tree with two commits: the buggy shop (base) and the fix of Cart.total (HEAD)."""
    root = tmp_path_factory.mktemp("shop")
    git(root, "init", "-q", "-b", "main")
    write(root, {**FILES, "shop/cart.py": CART_BUGGY})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "shop")
    base = git(root, "rev-parse", "HEAD")
    write(root, {"shop/cart.py": CART_BUGGY.replace("amount += price\n", "amount += price * quantity\n")})
    git(root, "commit", "-q", "-am", "Count the quantity in Cart.total")
    return {"root": root, "base": base, "fix": git(root, "rev-parse", "HEAD"), "cache": tmp_path_factory.mktemp("cache")}


@pytest.fixture(scope="module")
def encoder(shop, default_encoder):  # noqa: ANN001, ANN201
    from codehunt.index.embedding_cache import CachedEncoder

    return CachedEncoder(default_encoder, Path(shop["cache"]) / "embeddings")


def config_for(shop, **changes) -> LocalizeConfig:  # noqa: ANN001
    fields = {"repo": Path(shop["root"]), "rev": str(shop["base"]), "cache_dir": Path(shop["cache"]), **changes}
    return LocalizeConfig(**fields)


def changed_lines(root: Path, base: str, fix: str) -> dict[str, set[int]]:
    """Base-side line numbers each file's diff touches (from the real commit's hunk headers)."""
    diff = git(root, "diff", "-U0", base, fix)
    changed: dict[str, set[int]] = {}
    path = None
    for line in diff.split("\n"):
        if line.startswith("--- a/"):
            path = line[6:]
        match = re.match(r"@@ -(\d+)(?:,(\d+))? \+", line)
        if match and path:
            start, count = int(match.group(1)), int(match.group(2) or 1)
            changed.setdefault(path, set()).update(range(start, start + max(count, 1)))
    return changed


def test_the_function_the_fix_changed_ranks_first(shop, encoder) -> None:  # noqa: ANN001
    lines = changed_lines(Path(shop["root"]), str(shop["base"]), str(shop["fix"]))
    assert list(lines) == ["shop/cart.py"]
    for boosts in (True, False):
        result = localize_issue(ISSUE, config_for(shop, boosts=boosts), encoder=encoder)
        top = result.functions[0]
        assert (top.path, top.qualname) == ("shop/cart.py", "Cart.total")
        assert any(top.start_line <= line <= top.end_line for line in lines["shop/cart.py"])  # the fix is inside it
        assert result.files[0][0] == "shop/cart.py"
        assert [hit.rank for hit in result.functions] == list(range(1, len(result.functions) + 1))
        assert len({path for path, _ in result.files}) == len(result.files)


def test_index_is_reused_for_the_same_revision_and_other_revisions_reuse_embeddings(shop, encoder) -> None:  # noqa: ANN001
    config = config_for(shop)
    first = revision_index(Path(shop["root"]), str(shop["base"]), config, encoder)
    again = revision_index(Path(shop["root"]), str(shop["base"]), config, encoder)
    assert again.path == first.path and again.manifest.created_at == first.manifest.created_at
    misses = encoder.misses
    fixed = revision_index(Path(shop["root"]), str(shop["fix"]), config, encoder)
    assert fixed.path != first.path
    assert encoder.misses - misses == 1  # only Cart.total changed between the revisions
    assert fixed.manifest.source["rev"] == shop["fix"]


def test_traceback_naming_a_file_moves_the_framed_function_up(shop, encoder) -> None:  # noqa: ANN001
    plain = localize_issue(TRACEBACK_ISSUE, config_for(shop, boosts=False), encoder=encoder)
    boosted = localize_issue(TRACEBACK_ISSUE, config_for(shop), encoder=encoder)
    plain_rank = [hit.qualname for hit in plain.functions].index("reserve") + 1
    assert plain_rank > 1
    assert (boosted.functions[0].path, boosted.functions[0].qualname) == ("shop/inventory.py", "reserve")
    assert boosted.files[0][0] == "shop/inventory.py"
    assert boosted.evidence["paths"] == ["home/bob/app/main.py", "shop/inventory.py"]


def test_test_files_are_left_out_unless_asked_for(shop, encoder) -> None:  # noqa: ANN001
    issue = "test_total_counts_quantity_of_each_item_in_the_cart: the cart total test multiplies unit price by quantity"
    default = localize_issue(issue, config_for(shop, k=20), encoder=encoder)
    assert default.functions and not any(is_test_path(hit.path) for hit in default.functions)
    assert not any(is_test_path(path) for path, _ in default.files)
    with_tests = localize_issue(issue, config_for(shop, k=20, include_tests=True), encoder=encoder)
    assert with_tests.functions[0].qualname == "test_total_counts_quantity_of_each_item_in_the_cart"
    assert with_tests.files[0][0] == "tests/test_cart.py"


def test_level_and_bad_input(shop, encoder) -> None:  # noqa: ANN001
    files_only = localize_issue(ISSUE, config_for(shop, level="file", k=2), encoder=encoder)
    assert files_only.functions == [] and len(files_only.files) == 2
    with pytest.raises(BadInputError, match="empty"):
        localize_issue("  \n", config_for(shop), encoder=encoder)
    with pytest.raises(BadInputError, match="either --repo"):
        localize_issue(ISSUE, LocalizeConfig(), encoder=encoder)
    with pytest.raises(BadInputError, match="level"):
        LocalizeConfig(level="module")
    with pytest.raises(BadInputError, match="rerank_fusion"):
        LocalizeConfig(rerank_fusion=-0.5)
    with pytest.raises(BadInputError):
        localize_issue(ISSUE, config_for(shop, rev="no-such-rev"), encoder=encoder)


def test_evaluation_end_to_end(shop, encoder, tmp_path: Path) -> None:  # noqa: ANN001
    repos = tmp_path / "repos"
    repos.mkdir()
    (repos / "acme__shop").symlink_to(Path(shop["root"]))
    instances = tmp_path / "instances.jsonl"
    rows = [
        {"repo": "acme/shop", "instance_id": "acme__shop-1", "base_commit": shop["base"], "problem_statement": ISSUE},
        {"repo": "acme/shop", "instance_id": "acme__shop-2", "base_commit": shop["base"], "problem_statement": TRACEBACK_ISSUE},
        {"repo": "other/gone", "instance_id": "other__gone-1", "base_commit": shop["base"], "problem_statement": ISSUE},
    ]
    instances.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    gold = tmp_path / "gold.jsonl"
    gold_rows = [
        {"instance_id": "acme__shop-1", "file": "shop/cart.py", "change": "modified",
         "units": [{"qualname": "Cart.total", "kind": "method", "parent": "Cart"}]},
        {"instance_id": "acme__shop-2", "file": "shop/inventory.py", "change": "modified",
         "units": [{"qualname": "reserve", "kind": "function", "parent": None}]},
        {"instance_id": "acme__shop-2", "file": "setup.cfg", "change": "modified", "units": [{"qualname": "<module>", "kind": "hunk", "parent": None}]},
        {"instance_id": "other__gone-1", "file": "x.py", "change": "modified", "units": []},
    ]
    gold.write_text("".join(json.dumps(r) + "\n" for r in gold_rows), encoding="utf-8")
    report = evaluate_localization(instances, gold, repos, LocalizeConfig(cache_dir=Path(shop["cache"])), encoder=encoder)
    assert [r.instance_id for r in report.per_instance] == ["acme__shop-1", "acme__shop-2"]
    assert report.skipped == [("other__gone-1", f"repository {repos / 'other__gone'} not found")]
    assert report.aggregate["instances"] == 2
    assert report.aggregate["file_acc_at_1"] == 1.0 and report.aggregate["function_acc_at_5"] == 1.0
    second = report.per_instance[1]
    assert second.gold_files == ["shop/inventory.py"] and second.dropped == ["setup.cfg (not-at-base)"]
    assert json.loads(json.dumps(report.to_json()))["aggregate"]["function_mrr"] == 1.0


# ----------------------------------------------------------------------------------- by hand
def _gold(files: list[str], items: list[tuple[str, tuple[str, ...]]]) -> Gold:
    return Gold(tuple(files), tuple(GoldItem(p, p, "function", units) for p, units in items))


def test_metrics_on_a_hand_made_case() -> None:
    ranked_files = ["a.py", "b.py", "c.py", "d.py", "e.py", "f.py"]
    ranked_units = [f"u{i}" for i in range(1, 13)]  # u1 .. u12
    # gold files at ranks 2 and 4; gold items at ranks 3 and 7 (u7 or u30: the best alternative counts), and one never ranked
    gold = _gold(["b.py", "d.py"], [("x", ("u3",)), ("y", ("u30", "u7")), ("z", ("u99",))])
    m = localization_metrics(ranked_files, ranked_units, gold)
    assert (m["file_acc_at_1"], m["file_acc_at_3"], m["file_acc_at_5"]) == (0.0, 0.0, 1.0)
    assert (m["file_recall_at_1"], m["file_recall_at_3"], m["file_recall_at_5"]) == (0.0, 0.5, 1.0)
    assert m["file_mrr"] == 0.5
    assert (m["function_acc_at_5"], m["function_acc_at_10"], m["function_acc_at_20"]) == (0.0, 0.0, 0.0)
    assert m["function_recall_at_5"] == pytest.approx(1 / 3) and m["function_recall_at_10"] == pytest.approx(2 / 3)
    assert m["function_mrr"] == pytest.approx(1 / 3)
    # all items found within 10 -> acc@10 is 1 but acc@5 is 0
    both = localization_metrics(ranked_files, ranked_units, _gold(["a.py"], [("x", ("u3",)), ("y", ("u7",))]))
    assert (both["function_acc_at_5"], both["function_acc_at_10"], both["file_acc_at_1"], both["file_mrr"]) == (0.0, 1.0, 1.0, 1.0)
    # a level with no gold is not reported, and the average runs over the instances that have it
    files_only = localization_metrics(ranked_files, ranked_units, _gold(["f.py"], []))
    assert "function_mrr" not in files_only and files_only["file_mrr"] == pytest.approx(1 / 6)
    from codehunt.localize import InstanceResult

    results = [InstanceResult(str(i), "r", metrics, [], [], [], [], [], 0.0) for i, metrics in enumerate([m, both, files_only])]
    agg = aggregate_metrics(results)
    assert (agg["instances"], agg["file_instances"], agg["function_instances"]) == (3.0, 3.0, 2.0)
    assert agg["file_mrr"] == pytest.approx((0.5 + 1.0 + 1 / 6) / 3)
    assert agg["function_acc_at_10"] == pytest.approx(0.5)
    assert agg["file_acc_at_5"] == pytest.approx(2 / 3)
    assert localization_metrics([], [], _gold(["a.py"], [("x", ("u1",))]))["file_mrr"] == 0.0


def test_file_ranking_from_unit_ranking(shop, encoder) -> None:  # noqa: ANN001
    table = UnitTable(revision_index(Path(shop["root"]), str(shop["base"]), config_for(shop), encoder))
    units = [("shop/money.py::format_price", 0.9), ("shop/cart.py::Cart.total", 0.8), ("shop/cart.py::Cart.add_item", 0.7),
             ("shop/cart.py::Cart.remove_item", 0.6), ("shop/money.py::parse_price", 0.1)]
    assert rank_files(units, table, "max", 10) == [("shop/money.py", 0.9), ("shop/cart.py", 0.8)]
    by_sum = rank_files(units, table, "rrf", 10)
    assert [path for path, _ in by_sum] == ["shop/cart.py", "shop/money.py"]
    assert by_sum[0][1] == pytest.approx(1 / 12 + 1 / 13 + 1 / 14) and by_sum[1][1] == pytest.approx(1 / 11 + 1 / 15)


def test_reranker_rescores_the_head_with_the_query_asked_for(shop, encoder) -> None:  # noqa: ANN001
    """--rerank-query issue hands the reranker the issue as written; code hands it the title + identifiers (the BM25
    query). Only the top rerank_depth units are reordered, and the rest keep their order below them."""
    import dataclasses

    from codehunt.localize import rank_issue

    class Reverses:
        """A stand-in cross-encoder: records what it was asked and reverses the head it is given."""

        def __init__(self) -> None:
            self.queries: list[str] = []

        def rescore(self, query, hits, texts=None):  # noqa: ANN001, ANN201
            self.queries.append(query)
            return [dataclasses.replace(hit, rank=rank, score=float(len(hits) - rank))
                    for rank, hit in enumerate(reversed(hits), start=1)]

    table = UnitTable(revision_index(Path(shop["root"]), str(shop["base"]), config_for(shop), encoder))
    issue = "Cart total ignores quantity\n\nCalling `Cart.total()` after `add_item('apple', 2, 3)` returns 2."
    plain = [unit for unit, _ in rank_issue(table, issue, config_for(shop)).units]
    rescorer = Reverses()
    reranked = [unit for unit, _ in rank_issue(table, issue, config_for(shop, rerank_depth=3), rescorer).units]
    assert reranked[:3] == plain[:3][::-1] and reranked[3:] == plain[3:]
    rank_issue(table, issue, config_for(shop, rerank_depth=3, rerank_query="code"), rescorer)
    asked_issue, asked_code = rescorer.queries
    assert asked_issue == issue
    assert asked_code.startswith("Cart total ignores quantity ") and "add_item" in asked_code and "Calling" not in asked_code
    with pytest.raises(BadInputError, match="rerank_query"):
        LocalizeConfig(rerank_query="title")


def test_gold_resolution_rules(shop, encoder) -> None:  # noqa: ANN001
    table = UnitTable(revision_index(Path(shop["root"]), str(shop["base"]), config_for(shop), encoder))
    rows = [
        {"file": "shop/cart.py", "change": "modified", "units": [
            {"qualname": "Cart.total", "kind": "method"},
            {"qualname": "Cart.total.helper", "kind": "function"},  # nested: its enclosing unit
            {"qualname": "add_item", "kind": "hunk"},  # hunk header: last name
        ]},
        {"file": "shop/inventory.py", "change": "modified", "units": [{"qualname": "<module>", "kind": "module"}]},
        {"file": "shop/money.py", "change": "modified", "units": [{"qualname": "<module>", "kind": "module"}]},
        {"file": "shop/new.py", "change": "added", "units": []},
        {"file": "README.md", "change": "modified", "units": []},
        {"file": "tests/test_cart.py", "change": "modified", "units": []},
        {"file": "shop/checkout.py", "change": "modified", "units": [{"qualname": "gone", "kind": "function"}]},
    ]
    present = {"shop/cart.py", "shop/inventory.py", "shop/money.py", "README.md", "tests/test_cart.py", "shop/checkout.py"}
    gold = resolve_gold(rows, table, present, include_tests=False)
    assert gold.files == ("shop/cart.py", "shop/inventory.py", "shop/money.py", "shop/checkout.py")
    assert dict(gold.dropped_files) == {"shop/new.py": "not-at-base", "README.md": "not-source", "tests/test_cart.py": "test-file"}
    units = {(i.path, i.qualname): i.units for i in gold.items}
    assert units[("shop/cart.py", "Cart.total")] == ("shop/cart.py::Cart.total",)
    assert units[("shop/cart.py", "Cart.total.helper")] == ("shop/cart.py::Cart.total",)
    assert units[("shop/cart.py", "add_item")] == ("shop/cart.py::Cart.add_item",)
    assert units[("shop/inventory.py", "<module>")] == ("shop/inventory.py::<module>",)  # 3 module-level lines
    assert units[("shop/checkout.py", "gone")] == ()  # kept, counts as missed
    assert gold.dropped_items == (("shop/money.py::<module>", "no-module-unit"),)
    with_tests = resolve_gold(rows, table, present, include_tests=True)
    assert "tests/test_cart.py" in with_tests.files


# ------------------------------------------------------------------------------- issue text
def test_evidence_from_tracebacks_links_and_code() -> None:
    text = textwrap.dedent("""\
        `Dataset.to_array` fails, see https://github.com/pydata/xarray/blob/abc123/xarray/core/dataset.py#L40-L44

        ```
          File "C:\\Users\\me\\env\\Lib\\site-packages\\xarray\\core\\merge.py", line 12, in merge_core
        src/_pytest/runner.py:217: in <lambda>
        ```
        Calling xarray.core.variable.Variable.copy(deep=True) also breaks; the docs say nothing.
        """)
    evidence = extract_evidence(text)
    assert [(f.path, f.line, f.function) for f in evidence.frames] == [
        ("xarray/core/merge.py", 12, "merge_core"), ("src/_pytest/runner.py", 217, "<lambda>")]
    assert evidence.paths[:3] == ("xarray/core/merge.py", "src/_pytest/runner.py", "xarray/core/dataset.py")
    assert ("xarray/core/dataset.py", 40) in evidence.path_lines
    assert "xarray.core.variable.Variable.copy" in evidence.dotted
    assert {"to_array", "Dataset", "merge_core", "copy", "Variable"} <= evidence.identifiers
    assert "docs" not in evidence.identifiers and "the" not in evidence.identifiers


def test_paths_and_passages() -> None:
    assert normalise_path("/usr/lib/python3.8/site-packages/requests/models.py") == "requests/models.py"
    assert normalise_path("./src/a.py") == "src/a.py"
    assert path_match_length("_pytest/python.py", "src/_pytest/python.py") == 2
    assert path_match_length("models.py", "requests/models.py") == 1
    assert path_match_length("foo/models.py", "requests/models.py") == 0
    assert path_match_length("lib/x/setup.py", "setup.py") == 1
    text = "Title line\n" + "\n".join(f"line {i} " + "x" * 80 for i in range(40)) + "\n" + "y" * 2500
    passages = split_issue(text, max_chars=500, max_passages=8)
    assert len(passages) == 8
    assert passages[0].startswith("Title line\nline 0 ")
    assert all(p.startswith("Title line\n") for p in passages[1:])
    assert all(len(p) <= 500 + len("Title line\n") for p in passages)
    assert passages[-1].endswith("y" * 10)  # the last passage is kept when long reports are cut
    assert split_issue("   ") == []
    assert is_test_path("pkg/tests/test_a.py") and is_test_path("conftest.py") and is_test_path("a_test.py")
    assert not is_test_path("src/_pytest/python.py") and not is_test_path("xarray/testing.py")
    assert split_issue("one line") == ["one line"]


def test_output_lines_and_json(shop, encoder) -> None:  # noqa: ANN001
    from codehunt.localize import format_localization

    result = localize_issue(ISSUE, config_for(shop, k=3), encoder=encoder)
    lines = format_localization(result)
    assert lines[0] == "# functions" and lines[4] == "# files" and len(lines) == 8
    top = result.functions[0]
    assert lines[1] == f"{top.path}:{top.start_line}: {top.qualname}  ({top.score:.4f})"
    records = [json.loads(line) for line in format_localization(result, as_json=True)]
    assert [r["level"] for r in records] == ["function"] * 3 + ["file"] * 3
    assert records[3]["rank"] == 1 and records[3]["path"] == result.files[0][0]


def test_excluded_paths_are_neither_indexed_nor_ranked(shop, encoder) -> None:  # noqa: ANN001
    index = revision_index(Path(shop["root"]), str(shop["base"]), config_for(shop, exclude=("shop/cart.py",)), encoder)
    assert index.path != revision_index(Path(shop["root"]), str(shop["base"]), config_for(shop), encoder).path
    assert not any(chunk.path == "shop/cart.py" for chunk in index.chunks)
    result = localize_issue(ISSUE, config_for(shop, exclude=("shop/cart.py",)), encoder=encoder)
    assert result.functions and all(hit.path != "shop/cart.py" for hit in result.functions)


def test_a_revision_missing_a_blob_is_indexed_without_it(tmp_path: Path, encoder) -> None:  # noqa: ANN001
    root = tmp_path / "partial"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, {"shop/money.py": FILES["shop/money.py"], "shop/inventory.py": FILES["shop/inventory.py"]})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "shop")
    blob = git(root, "rev-parse", "HEAD:shop/inventory.py")
    (root / ".git" / "objects" / blob[:2] / blob[2:]).unlink()  # what a size-capped snapshot leaves: no object
    assert "BAD" in git(root, "ls-tree", "-r", "--long", "HEAD")
    index = revision_index(root, "HEAD", LocalizeConfig(cache_dir=tmp_path / "cache"), encoder)
    assert {chunk.path for chunk in index.chunks} == {"shop/money.py"}
    skipped = [json.loads(line) for line in (index.path / "skipped.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {"path": "shop/inventory.py", "reason": "too-large", "detail": "0 bytes"} in skipped


def test_test_files_the_globs_cannot_name_are_left_out_of_the_index_too(tmp_path: Path, encoder) -> None:  # noqa: ANN001
    root = tmp_path / "rules"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    code = "def helper(value):\n    \"\"\"Return the value.\"\"\"\n    return value\n"
    write(root, {"shop/money.py": FILES["shop/money.py"], "test_money.py": code, "Tests/helpers.py": code,
                 "test_data/fixtures.py": code})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "rules")
    config = LocalizeConfig(cache_dir=tmp_path / "cache")
    # test_money.py (a file-name prefix) and Tests/ (a capitalised directory) are tests; test_data/ is not
    index = revision_index(root, "HEAD", config, encoder)
    assert {chunk.path for chunk in index.chunks} == {"shop/money.py", "test_data/fixtures.py"}
    with_tests = revision_index(root, "HEAD", LocalizeConfig(cache_dir=tmp_path / "cache", include_tests=True), encoder)
    assert {chunk.path for chunk in with_tests.chunks} == {"shop/money.py", "test_money.py", "Tests/helpers.py", "test_data/fixtures.py"}


def test_read_issue_from_a_file_or_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    issue = tmp_path / "issue.md"
    issue.write_text("Cart total is wrong\n\nIt ignores the quantity.\n", encoding="utf-8")
    assert read_issue(issue) == "Cart total is wrong\n\nIt ignores the quantity.\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    assert read_issue("-") == "from stdin\n"
    with pytest.raises(BadInputError, match="nope.md does not exist"):
        read_issue(tmp_path / "nope.md")
    with pytest.raises(BadInputError, match="is not a file"):
        read_issue(tmp_path)
