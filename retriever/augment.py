"""Soft data augmentation of code (CoCoSoDa, Shi et al., 2023), at the level of lexical tokens.

Three operators, each of which really changes its input whenever it applies (in the released
CoCoSoDa code three of the four operators silently return the input unchanged):

* ``mask``   dynamic masking: a fraction of the tokens becomes the tokenizer's mask token;
* ``type``   identifiers and literals are replaced by their syntactic type
  (``identifier``, ``string``, ``number``);
* ``delete`` statement deletion: a fraction of the statements (non-blank lines, or the
  ``;``-separated parts of a one-line snippet) is removed, never all of them.

"Dynamic" means the choice is redrawn every time a text is augmented. The lexer is a
language-agnostic regular expression (strings, numbers, identifiers, single symbols) with a
keyword list covering the common languages; it does not parse, so a deleted line may leave
unbalanced brackets. That is fine for its purpose: a perturbed view of the same code.
"""
from __future__ import annotations

import math
import re
from typing import Callable

import numpy as np

TOKEN = re.compile(
    r'(?P<string>"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|`[^`]*`)'
    r"|(?P<number>\b(?:0[xXbBoO][0-9a-fA-F_]+|\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?)[jJlLfFuU]*\b)"
    r"|(?P<identifier>[A-Za-z_$][A-Za-z0-9_$]*)"
    r"|(?P<symbol>\S)"
)
KEYWORDS = frozenset(
    """and as assert async await break case catch class const continue def default defer del do elif else enum
    except export extends false final finally fn for foreach from func function go goto if impl implements import
    in instanceof interface is lambda let match module mut new nil nonlocal not null or package pass private
    protected pub public raise return self static struct super switch this throw throws true try type typeof
    unless until use var void when where while with yield None True False begin end elsif then""".split()
)

Operator = Callable[[str, float, np.random.Generator, str], str]


def _count(n: int, rate: float) -> int:
    """How many of ``n`` items a rate touches: at least one, so an applicable operator always changes something."""
    return max(1, min(n, math.ceil(rate * n)))


def _splice(code: str, spans: list[tuple[int, int, str]]) -> str:
    pieces, last = [], 0
    for start, end, replacement in sorted(spans):
        pieces.extend((code[last:start], replacement))
        last = end
    pieces.append(code[last:])
    return "".join(pieces)


def mask_tokens(code: str, rate: float, rng: np.random.Generator, mask_token: str = "[MASK]") -> str:
    """Replace ``ceil(rate * n)`` (at least one) of the n tokens by ``mask_token``; unchanged if n == 0."""
    tokens = list(TOKEN.finditer(code))
    if not tokens:
        return code
    chosen = rng.choice(len(tokens), size=_count(len(tokens), rate), replace=False)
    return _splice(code, [(tokens[i].start(), tokens[i].end(), mask_token) for i in chosen])


def replace_with_types(code: str, rate: float, rng: np.random.Generator, mask_token: str = "[MASK]") -> str:
    """Replace a fraction of identifiers and literals by their type name; keywords stay."""
    candidates = [
        (m.start(), m.end(), m.lastgroup) for m in TOKEN.finditer(code)
        if m.lastgroup in ("string", "number") or (m.lastgroup == "identifier" and m.group() not in KEYWORDS
                                                   and m.group() != m.lastgroup)
    ]
    if not candidates:
        return code
    chosen = rng.choice(len(candidates), size=_count(len(candidates), rate), replace=False)
    return _splice(code, [(candidates[i][0], candidates[i][1], str(candidates[i][2])) for i in chosen])


def delete_statements(code: str, rate: float, rng: np.random.Generator, mask_token: str = "[MASK]") -> str:
    """Delete a fraction of the statements, keeping at least one; unchanged when there is only one."""
    lines = code.split("\n")
    statements = [i for i, line in enumerate(lines) if line.strip()]
    if len(statements) >= 2:
        size = min(len(statements) - 1, _count(len(statements), rate))
        drop = set(rng.choice(statements, size=size, replace=False).tolist())
        return "\n".join(line for i, line in enumerate(lines) if i not in drop)
    parts = [part for part in code.split(";") if part.strip()]
    if len(parts) >= 2:
        keep = np.ones(len(parts), dtype=bool)
        keep[rng.choice(len(parts), size=min(len(parts) - 1, _count(len(parts), rate)), replace=False)] = False
        return ";".join(part for part, kept in zip(parts, keep) if kept).strip()
    return code


OPERATORS: dict[str, Operator] = {"mask": mask_tokens, "type": replace_with_types, "delete": delete_statements}


class CodeAugmenter:
    """Apply one operator, drawn at random among ``operators`` that can change the text, with its own RNG.

    The RNG state is exposed (``state`` / ``set_state``) so that checkpoints resume the same draws.
    """

    def __init__(self, operators: tuple[str, ...], rate: float, seed: int, mask_token: str = "[MASK]"):
        unknown = [name for name in operators if name not in OPERATORS]
        if unknown:
            raise ValueError(f"unknown augmentation operator(s) {unknown}; choose from {sorted(OPERATORS)}")
        self.operators, self.rate, self.mask_token = operators, rate, mask_token
        self.rng = np.random.default_rng(seed)

    def __call__(self, code: str) -> str:
        order = self.rng.permutation(len(self.operators))
        for i in order:
            changed = OPERATORS[self.operators[i]](code, self.rate, self.rng, self.mask_token)
            if changed != code:
                return changed
        return code

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state
