"""The structure signal of issue localization: callers and callees of the best candidates, on a real indexed repo."""
from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from codehunt.index.errors import BadInputError
from codehunt.localize import LocalizeConfig, localize_issue, revision_index
from codehunt.localize.config import candidate_filter
from codehunt.localize.structure import MAX_DEFINITIONS, constructor_votes, module_votes, structure_votes
from codehunt.localize.units import UnitTable

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}
MANY = MAX_DEFINITIONS + 1
FILES = {
    "shop/checkout.py": (
        "from shop.pricing import cart_total\n\n\n"
        "def checkout(cart, card):\n    \"\"\"Charge the card for the cart at checkout and print a receipt.\"\"\"\n"
        "    amount = cart_total(cart)\n    if (amount):\n        print_receipt(amount)\n    return reset(card)\n\n\n"
        "def print_receipt(amount):\n    \"\"\"Print the receipt of one checkout.\"\"\"\n    return f'paid {amount}'\n"
    ),
    "shop/pricing.py": (
        "def cart_total(cart):\n    \"\"\"Sum of prices.\"\"\"\n    return sum(item.price * item.quantity for item in cart)\n"
    ),
    "shop/stock.py": "def restock(name, count):\n    \"\"\"Order more of a product from the supplier.\"\"\"\n    return (name, count)\n",
    # `reset` is defined more than MAX_DEFINITIONS times: calling it links nothing.
    "shop/resets.py": "".join(f"class Reset{i}:\n    def reset(self):\n        return {i}\n\n\n" for i in range(MANY)),
    "shop/ledger.py": (
        "class Ledger:\n    precision = 2\n\n    def __init__(self, currency):\n        self.currency = currency\n        self.entries = []\n\n"
        "    def record(self, amount):\n        \"\"\"Record one payment in the ledger.\"\"\"\n        self.entries.append(amount)\n\n"
        "    def balance(self):\n        \"\"\"Sum of the payments recorded in the ledger.\"\"\"\n        return sum(self.entries)\n"
    ),
    "shop/currency.py": (
        "import decimal\n\nDEFAULT_CURRENCY = 'EUR'\nRATES = {\n    'EUR': 1.0,\n    'USD': 1.08,\n    'GBP': 0.86,\n}\n"
        "ROUNDING = decimal.ROUND_HALF_EVEN\n\n\n"
        "def convert(amount, currency):\n    \"\"\"Convert an amount from euros to another currency.\"\"\"\n"
        "    return amount * RATES[currency]\n"
    ),
    "tests/test_pricing.py": "def test_cart_total():\n    assert cart_total([]) == 0\n",
}


def git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("structure")
    git(root, "init", "-q", "-b", "main")
    for path, text in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Add the shop")
    return {"root": root, "cache": tmp_path_factory.mktemp("cache")}


@pytest.fixture(scope="module")
def table(shop: dict, default_encoder) -> UnitTable:  # noqa: ANN001
    config = LocalizeConfig(repo=shop["root"], cache_dir=shop["cache"], include_tests=True)
    return UnitTable(revision_index(shop["root"], None, config, default_encoder))


def unit(table: UnitTable, qualname: str) -> str:
    (found,) = table.by_qualname[qualname]
    return found


def test_callees_and_callers_by_name(table: UnitTable) -> None:
    graph = table.call_graph
    checkout, total = unit(table, "checkout"), unit(table, "cart_total")
    neighbours = graph.neighbours(checkout)
    # Its callees, each the one definition of its name; `if (` is a keyword, `reset` has too many definitions.
    assert neighbours == {total: 1.0, unit(table, "print_receipt"): 1.0}
    # cart_total is called by checkout and by a test.
    assert graph.neighbours(total) == {checkout: 1.0, unit(table, "test_cart_total"): 1.0}
    assert unit(table, "restock") not in graph.neighbours(checkout)


def test_votes_follow_rank_and_skip_test_files(table: UnitTable) -> None:
    keep = candidate_filter(LocalizeConfig())  # tests are left out, as in SWE-bench
    checkout, total, receipt = unit(table, "checkout"), unit(table, "cart_total"), unit(table, "print_receipt")
    votes = structure_votes(table.call_graph, [total, checkout], top=2, keep=keep)
    # cart_total (rank 1) votes 1 for itself and checkout (its test caller is skipped); checkout (rank 2) 1/2 for
    # itself, cart_total and print_receipt: 1.5, 1.5, 0.5, scaled to max 1.
    assert votes == pytest.approx({checkout: 1.0, total: 1.0, receipt: 1 / 3})
    # A lone candidate only votes for itself; beyond `top` nobody votes.
    assert structure_votes(table.call_graph, [unit(table, "restock")], top=1, keep=keep) == {unit(table, "restock"): 1.0}
    assert structure_votes(table.call_graph, [total, checkout], top=1, keep=keep) == {total: 1.0, checkout: 1.0}


def test_structure_weight_moves_the_callee_up(shop: dict, default_encoder) -> None:  # noqa: ANN001
    issue = "Checkout charges the card the wrong amount\n\nAt checkout the receipt shows more than the cart is worth."
    assert LocalizeConfig().structure_weight == 0.5, "on by default: the dev instances measured it"
    config = LocalizeConfig(repo=shop["root"], cache_dir=shop["cache"], structure_weight=0.0)
    plain = localize_issue(issue, config, encoder=default_encoder)
    assert plain.functions[0].qualname == "checkout"
    boosted = localize_issue(issue, LocalizeConfig(repo=shop["root"], cache_dir=shop["cache"], structure_weight=2.0),
                             encoder=default_encoder)
    plain_order = [hit.qualname for hit in plain.functions]
    boosted_order = [hit.qualname for hit in boosted.functions]
    # checkout's two callees share its vote and both rise above the unlinked restock.
    assert boosted_order.index("cart_total") < plain_order.index("cart_total")
    assert boosted_order.index("restock") > boosted_order.index("cart_total")
    assert all(not hit.path.startswith("tests/") for hit in boosted.functions)


def test_bad_structure_options_are_refused() -> None:
    with pytest.raises(BadInputError, match="structure_weight"):
        LocalizeConfig(structure_weight=-1.0)
    with pytest.raises(BadInputError, match="structure_top"):
        LocalizeConfig(structure_top=0)
    with pytest.raises(BadInputError, match="constructor_weight"):
        LocalizeConfig(constructor_weight=-0.5)
    with pytest.raises(BadInputError, match="module_weight"):
        LocalizeConfig(module_weight=-0.5)


def test_methods_vote_for_their_constructor(table: UnitTable) -> None:
    keep = candidate_filter(LocalizeConfig())
    record, balance, init = unit(table, "Ledger.record"), unit(table, "Ledger.balance"), unit(table, "Ledger.__init__")
    checkout = unit(table, "checkout")
    # Two methods of Ledger vote 1/1 + 1/3 for its __init__; a plain function votes for nothing.
    assert constructor_votes(table, [record, checkout, balance], top=3, keep=keep) == {init: 1.0}
    assert constructor_votes(table, [checkout, unit(table, "cart_total")], top=2, keep=keep) == {}
    # The constructor does not vote for itself, and candidates beyond `top` do not vote.
    assert constructor_votes(table, [init], top=1, keep=keep) == {}
    assert constructor_votes(table, [checkout, record], top=1, keep=keep) == {}


def test_the_class_vote_reaches_the_class_too(table: UnitTable) -> None:
    keep = candidate_filter(LocalizeConfig())
    record, balance = unit(table, "Ledger.record"), unit(table, "Ledger.balance")
    init, ledger = unit(table, "Ledger.__init__"), unit(table, "Ledger")
    votes = constructor_votes(table, [record, unit(table, "checkout"), balance], top=3, keep=keep, include_class=True)
    assert votes == {init: 1.0, ledger: 1.0}
    # The class unit among the candidates is no method: it votes for nothing, not even itself.
    assert constructor_votes(table, [ledger], top=1, keep=keep, include_class=True) == {}
    defaults = LocalizeConfig()
    assert defaults.constructor_class is True and defaults.constructor_weight == 0.25


def test_constructor_weight_lifts_the_constructor(shop: dict, default_encoder) -> None:  # noqa: ANN001
    issue = "Ledger balance is wrong after recording a payment\n\nrecord() then balance() returns the old sum."
    plain = localize_issue(issue, LocalizeConfig(repo=shop["root"], cache_dir=shop["cache"], k=20, constructor_weight=0.0),
                           encoder=default_encoder)
    lifted = localize_issue(issue, LocalizeConfig(repo=shop["root"], cache_dir=shop["cache"], k=20, constructor_weight=3.0,
                                                  constructor_class=False), encoder=default_encoder)
    plain_order = [hit.qualname for hit in plain.functions]
    lifted_order = [hit.qualname for hit in lifted.functions]
    assert plain_order.index("Ledger.__init__") > 0
    assert lifted_order.index("Ledger.__init__") < plain_order.index("Ledger.__init__")
    assert set(lifted_order) == set(plain_order), "the vote reorders candidates, it adds none here"
    with_class = localize_issue(issue, LocalizeConfig(repo=shop["root"], cache_dir=shop["cache"], k=20, constructor_weight=3.0),
                                encoder=default_encoder)
    class_order = [hit.qualname for hit in with_class.functions]
    if "Ledger" in plain_order:
        assert class_order.index("Ledger") < plain_order.index("Ledger"), "the class unit rises with its constructor"
    else:
        assert "Ledger" in class_order, "the class unit is pulled into the ranking by its methods' vote"


def test_candidates_vote_for_their_files_module_unit(table: UnitTable) -> None:
    keep = candidate_filter(LocalizeConfig())
    convert, checkout = unit(table, "convert"), unit(table, "checkout")
    modules = [u for units in table.by_path.values() for u in units if table.chunk(u).kind == "module"]
    assert [table.chunk(u).path for u in modules] == ["shop/currency.py"], "only currency.py has module-level code beyond imports"
    (module,) = modules
    # convert (rank 2) votes for its file's module unit; checkout's file has no module unit, so it votes for nothing.
    assert module_votes(table, [checkout, convert], top=2, keep=keep) == {module: 1.0}
    assert module_votes(table, [checkout, convert], top=1, keep=keep) == {}
    # The module unit does not vote for itself.
    assert module_votes(table, [module], top=1, keep=keep) == {}
    assert LocalizeConfig().module_weight == 1.0


def test_module_weight_lifts_the_module_unit(shop: dict, default_encoder) -> None:  # noqa: ANN001
    issue = "convert() gives the wrong amount for dollars\n\nConverting 100 euros to USD returns 100."
    base = LocalizeConfig(repo=shop["root"], cache_dir=shop["cache"], k=20, module_weight=0.0)
    plain = [hit.qualname for hit in localize_issue(issue, base, encoder=default_encoder).functions]
    lifted = [hit.qualname for hit in localize_issue(issue, replace(base, module_weight=3.0), encoder=default_encoder).functions]
    assert plain[0] == "convert" and plain.index("<module>") > 1
    assert lifted.index("<module>") < plain.index("<module>"), "the vote lifts the module unit of the best file"
    assert set(lifted) == set(plain), "the vote reorders candidates, it adds none here"
