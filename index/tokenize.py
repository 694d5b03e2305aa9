"""Identifier-aware tokenisation of source code for BM25.

Code search queries say "parse http response" where the code says ``parseHTTPResponse`` or
``parse_http_response``; splitting identifiers into their words lets BM25 match both (the
identifier splitting used by code-search baselines such as CodeSearchNet's BM25 and
Sourcerer). One compiled regex does all the work, so it keeps up with hundreds of
thousands of functions.
"""
from __future__ import annotations

import re

# A "lower" letter is any Unicode letter except ASCII A-Z; camelCase is only split on ASCII
# capitals, so non-ASCII words (comments, strings) stay whole instead of being cut at each
# accented capital.
_UPPER = "A-Z"
_LOWER = r"[^\W\d_A-Z]"
_TOKEN = re.compile(
    rf"[{_UPPER}]+(?=[{_UPPER}]{_LOWER})"  # acronym before a capitalised word: HTTP in HTTPResponse
    rf"|[{_UPPER}]?{_LOWER}+"  # a word, optionally capitalised: parse, Response
    rf"|[{_UPPER}]+"  # a trailing or standalone acronym: HTTP, ID
    r"|\d+"  # digits, always separate from letters: utf8 -> utf, 8
)


def tokenize_code(text: str) -> list[str]:
    """Split ``text`` into lowercase identifier words.

    Splits on every non-alphanumeric character (so ``snake_case`` and ``a.b(c)`` break
    apart), on camelCase / PascalCase boundaries, before the last capital of an acronym
    that starts a word (``parseHTTPResponse2`` -> ``parse``, ``http``, ``response``,
    ``2``), and between letters and digits. Nothing is dropped: no stop words, no
    stemming, no minimum length.
    """
    if not text:
        return []
    # Lowercasing one joined string is faster than calling .lower() per token; tokens
    # contain no whitespace, so the split is exact.
    return " ".join(_TOKEN.findall(text)).lower().split()
