"""Each soft-augmentation operator really changes real code (CoCoSoDa's released operators often do not)."""
from __future__ import annotations

import inspect
import math
import shlex
import textwrap

import numpy as np
import pytest

from codehunt.retriever.augment import OPERATORS, TOKEN, CodeAugmenter, delete_statements, mask_tokens, replace_with_types

PYTHON = inspect.getsource(textwrap.indent)
JAVASCRIPT = """function add(a, b) {
  const total = a + b * 2;
  console.log("sum", total);
  return total;
}"""
ONE_LINER = "r = int(''.join(map(str, x)))"


@pytest.mark.parametrize("name", sorted(OPERATORS))
@pytest.mark.parametrize("code", [PYTHON, JAVASCRIPT, inspect.getsource(shlex.quote)])
def test_every_operator_changes_its_input(name: str, code: str) -> None:
    for seed in range(5):
        assert OPERATORS[name](code, 0.15, np.random.default_rng(seed), "[MASK]") != code


def test_mask_replaces_rate_of_tokens() -> None:
    n = len(list(TOKEN.finditer(JAVASCRIPT)))
    out = mask_tokens(JAVASCRIPT, 0.2, np.random.default_rng(0), "[MASK]")
    assert out.count("[MASK]") == math.ceil(0.2 * n)
    assert mask_tokens(ONE_LINER, 0.01, np.random.default_rng(0), "<mask>").count("<mask>") == 1  # at least one


def test_type_replacement_uses_syntactic_types_and_keeps_keywords() -> None:
    out = replace_with_types(JAVASCRIPT, 1.0, np.random.default_rng(0))
    assert out == """function identifier(identifier, identifier) {
  const identifier = identifier + identifier * number;
  identifier.identifier(string, identifier);
  return identifier;
}"""
    assert replace_with_types("return None", 1.0, np.random.default_rng(0)) == "return None"  # nothing to replace


def test_statement_deletion_keeps_at_least_one_statement() -> None:
    out = delete_statements(JAVASCRIPT, 1.0, np.random.default_rng(0))
    assert len([line for line in out.splitlines() if line.strip()]) == 1
    assert delete_statements("x = 1; y = 2; z = 3", 0.3, np.random.default_rng(0)).count("=") == 2
    assert delete_statements(ONE_LINER, 0.5, np.random.default_rng(0)) == ONE_LINER  # one statement: cannot apply


def test_augmenter_is_dynamic_seeded_and_falls_back_to_an_applicable_operator() -> None:
    first, second = CodeAugmenter(("mask", "type", "delete"), 0.15, seed=3), CodeAugmenter(("mask", "type", "delete"), 0.15, seed=3)
    views = [first(PYTHON) for _ in range(6)]
    assert views == [second(PYTHON) for _ in range(6)]  # same seed, same draws
    assert len(set(views)) > 1 and PYTHON not in views  # redrawn every time, always changed
    state = first.state()
    again = first(PYTHON)
    first.set_state(state)
    assert first(PYTHON) == again
    only_delete_then_mask = CodeAugmenter(("delete", "mask"), 0.15, seed=0)
    assert "[MASK]" in only_delete_then_mask(ONE_LINER)  # delete cannot apply to one statement, mask can


def test_default_tokenizer_reads_the_mask_token_as_one_token(default_encoder) -> None:
    tokenizer = default_encoder.tokenizer
    masked = mask_tokens(ONE_LINER, 0.3, np.random.default_rng(0), tokenizer.mask_token)
    assert tokenizer(masked)["input_ids"].count(tokenizer.mask_token_id) == masked.count(tokenizer.mask_token) >= 1
