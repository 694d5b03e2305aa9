"""Rewrite mined queries in the style of web search queries, for models meant for CoSQA-like users.

Docstring summaries ("Returns the number of items in the queue.") and Stack Overflow intents are
full, cased, punctuated sentences, often twice as long as what people type into a search box
("python count items in queue"). CoSQA's queries are such web queries (Huang et al., 2021: real
Bing queries that name Python), and a model fine-tuned only on docstring sentences learns to match
sentences — worse, when the positive keeps its docstring, to copy-match the query inside it. The
``web`` style closes that gap with deterministic rules (no model, nothing downloaded):

* keep the first sentence only, drop markup (backticks, quotes, brackets) and punctuation, lowercase;
* turn a leading third-person verb into its base form ("returns" -> "return", "matches" -> "match"),
  then say it as a searcher does ("return X" -> "get X", "return true if X" -> "check if X"), and drop
  filler words a searcher leaves out ("the", "this", "given", "specified");
* cut to ``max_words`` words;
* name the language the way searchers do: ``python X``, ``X python``, ``X in python`` or
  ``how to X in python``, chosen by a seed derived from the pair, so a re-run writes the same file.
  The language is the pair's own (``ruby get number of items`` for a Ruby pair; see
  :func:`query_language`), else ``WebQueryStyle.language``.

The ``identifier`` style builds the query from the positive's name instead of its docstring, as
searchers who know roughly what a function is called type it: ``_Feature.getOptionalRelease`` ->
``python get optional release``, ``Queue.put`` -> ``queue put in python`` (the class's words come in
only when the name alone has fewer than two). A pair whose name says too little (``run``, a dunder)
keeps the web-style rewrite of its docstring. ``mixed`` takes the identifier query for
``WebQueryStyle.identifier_share`` of the pairs (chosen by the pair's id) and the web style for the rest,
so one file teaches both ways of asking.

It is query augmentation by rule, in the spirit of the synthetic-query step of code retrievers
trained without labelled search logs; the rewritten pair keeps its provenance.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from codehunt.index.chunking.languages import language_for_path
from codehunt.index.errors import ConfigError

QUERY_STYLES = ("as-is", "web", "identifier", "mixed")

_MARKUP = re.compile(r"[`'\"“”‘’\[\]{}()<>*_#|]")
_SENTENCE_END = re.compile(r"(?<=[A-Za-z0-9)\]`'\"])[.!?;:](?:\s|$)")
_NON_WORD = re.compile(r"[^a-z0-9+.\-/ ]+")
_STRAY_DOTS = re.compile(r"(?<![a-z0-9])[.\-/]+|[.\-/]+(?![a-z0-9])")
_FILLER = frozenset({"the", "this", "that", "given", "specified", "supplied", "provided", "passed"})
# Leading words that end in "s" but are not third-person verbs.
_NOT_VERBS = frozenset({"is", "has", "was", "does", "this", "its", "as", "us", "always", "alias", "class", "process",
                        "access", "address", "pass", "bypass", "focus", "status", "parse", "analysis", "bus"})


@dataclass(frozen=True)
class WebQueryStyle:
    """How a query is rewritten; the defaults follow CoSQA's dev queries (all name python, mean 6.6 words)."""

    language: str = "python"
    max_words: int = 10
    # Shares of the four ways the language is named (prefix, suffix, "in <lang>", "how to ... in <lang>").
    prefix_share: float = 0.45
    suffix_share: float = 0.15
    in_language_share: float = 0.2
    identifier_share: float = 0.5
    """``mixed``: the share of pairs whose query comes from the positive's name."""

    def __post_init__(self) -> None:
        if not self.language.strip() or len(self.language.split()) != 1:
            raise ConfigError(f"the query language must be one word (python, ruby, c++), got {self.language!r}")
        if self.max_words < 1:
            raise ConfigError(f"max_words must be at least 1, got {self.max_words}")
        shares = (self.prefix_share, self.suffix_share, self.in_language_share)
        if any(not 0.0 <= share <= 1.0 for share in shares) or sum(shares) > 1.0 + 1e-9:
            raise ConfigError(f"the language-naming shares must lie in [0, 1] and sum to at most 1, got {shares}")
        if not 0.0 <= self.identifier_share <= 1.0:
            raise ConfigError(f"identifier_share must lie in [0, 1], got {self.identifier_share}")


SEARCHER_NAMES = {"cpp": "c++", "tsx": "typescript"}
"""Chunker language names that searchers spell differently; every other name is typed as it is."""


def query_language(language: str = "", path: str = "") -> str:
    """The language a search-box query for this code names: ``language`` (a chunker name such as
    ``ruby`` or ``cpp``), else the one ``path``'s extension tells, as searchers spell it (``c++``);
    ``""`` when neither says (the caller's default applies)."""
    name = (language or "").strip().lower()
    if (not name or name == "text") and path:
        name = language_for_path(path) or ""
    return SEARCHER_NAMES.get(name, name)


def base_form(verb: str) -> str:
    """``returns`` -> ``return``, ``matches`` -> ``match``, ``applies`` -> ``apply``; other words unchanged."""
    if verb in _NOT_VERBS or len(verb) <= 3 or not verb.endswith("s") or verb.endswith("ss"):
        return verb
    if verb.endswith("ies"):
        return verb[:-3] + "y"
    if verb.endswith(("ches", "shes", "sses", "xes", "zes")):
        return verb[:-2]
    return verb[:-1]


def first_sentence(text: str) -> str:
    """The text up to its first sentence end (a period, ``?``, ``!``, ``;`` or ``:`` followed by a space)."""
    match = _SENTENCE_END.search(text)
    return text[: match.start()] if match else text


def _choice(key: str) -> float:
    """A number in [0, 1) that depends only on ``key``: the same rewrite in every run and process."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little") / 2**64


def web_style_query(query: str, key: str, style: WebQueryStyle = WebQueryStyle(), language: str = "") -> str:
    """``query`` rewritten as a search-box query; ``key`` (e.g. the positive's id) picks how the language is named.

    ``language`` is the language to name (see :func:`query_language`); empty: ``style.language``.
    Returns the query unchanged when the rewrite would leave fewer than two words.
    """
    text = _MARKUP.sub(" ", first_sentence(" ".join(query.split()))).lower()
    text = _STRAY_DOTS.sub(" ", _NON_WORD.sub(" ", text))
    words = [word for word in text.split() if word not in _FILLER]
    if words:
        words[0] = base_form(words[0])
    if words[:3] in (["return", "true", "if"], ["return", "true", "when"]):
        words = ["check", "if", *words[3:]]
    elif words[:2] == ["return", "whether"]:
        words = ["check", "if", *words[2:]]
    elif words[:1] == ["return"]:
        words[0] = "get"
    language = (language or style.language).lower()
    words = [word for word in words if word != language][: style.max_words]
    if len(words) < 2:
        return query
    return _name_language(" ".join(words), language, _choice(key), style)


_CAMEL_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def identifier_words(name: str) -> list[str]:
    """``getOptionalRelease`` -> get optional release, ``_read_HTTP_header2`` -> read http header 2."""
    return [part.lower() for piece in name.split("_") for part in _CAMEL_PARTS.findall(piece)]


def identifier_query(qualname: str, key: str, style: WebQueryStyle = WebQueryStyle(), language: str = "") -> str | None:
    """A search-box query made of ``qualname``'s words (its last part; the class's words before them when the
    last part alone has fewer than two), naming the language as :func:`web_style_query` does; ``None`` for a
    dunder or a name that gives fewer than two words."""
    parts = [part for part in qualname.replace("::", ".").split(".") if part]
    if not parts or (parts[-1].startswith("__") and parts[-1].endswith("__")):
        return None
    words = identifier_words(parts[-1])
    if len(words) < 2 and len(parts) > 1:
        words = identifier_words(parts[-2]) + words
    language = (language or style.language).lower()
    words = [word for word in words if word != language][: style.max_words]
    if len(words) < 2:
        return None
    return _name_language(" ".join(words), language, _choice(key), style)


def styled_query(query: str, qualname: str, key: str, query_style: str, style: WebQueryStyle = WebQueryStyle(),
                 language: str = "") -> str:
    """``query`` in ``query_style`` (one of :data:`QUERY_STYLES`) for a positive named ``qualname``, id ``key``."""
    if query_style == "as-is":
        return query
    if query_style == "identifier" or (query_style == "mixed" and _choice(key + "#style") < style.identifier_share):
        named = identifier_query(qualname, key, style, language)
        if named is not None:
            return named
    return web_style_query(query, key, style, language)


def _name_language(core: str, language: str, draw: float, style: WebQueryStyle) -> str:
    """``core`` with the language named one of the four ways searchers do, picked by ``draw`` in [0, 1)."""
    if draw < style.prefix_share:
        return f"{language} {core}"
    draw -= style.prefix_share
    if draw < style.suffix_share:
        return f"{core} {language}"
    draw -= style.suffix_share
    if draw < style.in_language_share:
        return f"{core} in {language}"
    return f"how to {core} in {language}"
