"""The web and identifier query styles: each rule on real docstring summaries and names, determinism, the fallbacks."""
from __future__ import annotations

from collections import Counter

import pytest

from codehunt.index.errors import ConfigError
from codehunt.mining.query_style import (
    WebQueryStyle,
    base_form,
    first_sentence,
    identifier_query,
    identifier_words,
    query_language,
    styled_query,
    web_style_query,
)

NO_LANGUAGE_CHOICE = WebQueryStyle(prefix_share=1.0, suffix_share=0.0, in_language_share=0.0)


@pytest.mark.parametrize(("verb", "base"), [
    ("returns", "return"), ("matches", "match"), ("applies", "apply"), ("pushes", "push"),
    ("process", "process"), ("is", "is"), ("class", "class"), ("get", "get"), ("gets", "get"),
])
def test_base_form_of_leading_verbs(verb: str, base: str) -> None:
    assert base_form(verb) == base


def test_first_sentence_stops_at_the_first_sentence_end_but_not_inside_a_dotted_name() -> None:
    assert first_sentence("Parse os.path values. Then more.") == "Parse os.path values"
    assert first_sentence("Open the pty; acquire the terminal") == "Open the pty"
    assert first_sentence("Fetch the URL. Then more.") == "Fetch the URL"
    assert first_sentence("no end here") == "no end here"


@pytest.mark.parametrize(("docstring", "expected"), [
    ("Returns the number of items in the queue.", "python get number of items in queue"),
    ("Return True if the path is a mount point.", "python check if path is a mount point"),
    ("Return whether the `frame` is hidden.", "python check if frame is hidden"),
    ("Matches the given pattern against 'text'. Raises ValueError.", "python match pattern against text"),
    ("Construct a date from the ISO year, week number and weekday.", "python construct a date from iso year week number and weekday"),
])
def test_docstring_summaries_become_search_box_queries(docstring: str, expected: str) -> None:
    assert web_style_query(docstring, "key", NO_LANGUAGE_CHOICE) == expected


def test_queries_are_cut_to_max_words_and_never_name_the_language_twice() -> None:
    style = WebQueryStyle(max_words=4, prefix_share=1.0, suffix_share=0.0, in_language_share=0.0)
    assert web_style_query("Read a Python file from the disk and parse every line", "k", style) == "python read a file from"


def test_the_same_key_gives_the_same_rewrite_and_keys_spread_over_every_form() -> None:
    query = "Remove duplicate lines from a file."
    assert web_style_query(query, "doc-1") == web_style_query(query, "doc-1")
    forms = Counter()
    for number in range(400):
        rewritten = web_style_query(query, f"doc-{number}")
        if rewritten.startswith("how to "):
            forms["how to"] += 1
        elif rewritten.startswith("python "):
            forms["prefix"] += 1
        elif rewritten.endswith(" in python"):
            forms["in python"] += 1
        else:
            assert rewritten.endswith(" python")
            forms["suffix"] += 1
    assert set(forms) == {"how to", "prefix", "in python", "suffix"}
    assert 0.35 < forms["prefix"] / 400 < 0.55  # the configured share is 0.45


def test_a_query_with_too_little_left_is_kept_as_it_was() -> None:
    assert web_style_query("`x`.", "k") == "`x`."
    assert web_style_query("The python.", "k") == "The python."


@pytest.mark.parametrize(("language", "path", "named"), [
    ("", "lib/queue.rb", "ruby"), ("", "src/Main.java", "java"), ("", "core/list.hpp", "c++"), ("cpp", "", "c++"),
    ("ruby", "x.py", "ruby"), ("text", "app/view.tsx", "typescript"), ("", "README", ""), ("", "", ""),
])
def test_the_query_language_comes_from_the_pair(language: str, path: str, named: str) -> None:
    assert query_language(language, path) == named


def test_a_ruby_pair_names_ruby_not_python(tmp_path) -> None:
    """Docstring pairs mined from a Ruby file (its leading comment is the docstring) name ruby in every web query;
    --query-language overrides the pair's own language."""
    from codehunt.mining.pairs import PairsConfig, mine_pairs, read_pairs

    source = tmp_path / "gem"
    (source / "lib").mkdir(parents=True)
    (source / "lib" / "queue.rb").write_text(
        "class Queue\n"
        "  # Returns the number of items waiting in the queue.\n"
        "  def length\n    items = @items\n    items.size\n  end\n\n"
        "  # Removes every item from the queue and returns them.\n"
        "  def drain\n    drained = @items.dup\n    @items.clear\n    drained\n  end\nend\n",
        encoding="utf-8",
    )
    web = tmp_path / "web.jsonl"
    mine_pairs(PairsConfig(source=source, output=web, query_style="web"))
    pairs = {pair.qualname: pair for pair in read_pairs(web)}
    assert set(pairs) == {"Queue.length", "Queue.drain"}
    for pair in pairs.values():
        assert "ruby" in pair.query.split() and "python" not in pair.query.split(), pair.query
    assert "get number of items waiting in queue" in pairs["Queue.length"].query
    forced = tmp_path / "forced.jsonl"
    mine_pairs(PairsConfig(source=source, output=forced, query_style="web", query_language="python"))
    assert all("python" in pair.query.split() and "ruby" not in pair.query.split() for pair in read_pairs(forced))


@pytest.mark.parametrize("name, words", [
    ("getOptionalRelease", ["get", "optional", "release"]),
    ("_read_HTTP_header2", ["read", "http", "header", "2"]),
    ("parse_iso_date", ["parse", "iso", "date"]),
    ("XMLParser", ["xml", "parser"]),
])
def test_identifier_words_split_snake_and_camel_case(name: str, words: list[str]) -> None:
    assert identifier_words(name) == words


def test_identifier_queries_come_from_the_name_and_fall_back_where_it_says_too_little() -> None:
    forms = {identifier_query("_Feature.getOptionalRelease", f"k{n}") for n in range(40)}
    assert {form.replace("python", "").replace("how to", "").replace(" in ", " ").split() == ["get", "optional", "release"]
            for form in forms} == {True}
    assert all("python" in form.split() for form in forms)
    assert len(forms) == 4  # the language is named the four ways web queries name it
    assert "queue put" in identifier_query("Queue.put", "k")  # one word: the class's words come first
    assert identifier_query("Queue.__len__", "k") is None and identifier_query("run", "k") is None
    assert identifier_query("Queue.length", "k", language="ruby").split().count("ruby") == 1


def test_styled_query_mixes_identifier_and_web_queries_by_the_pair_id() -> None:
    docstring, name = "Returns the number of items waiting in the queue.", "Queue.count_waiting_items"
    assert styled_query(docstring, name, "k", "as-is") == docstring
    assert "count waiting items" in styled_query(docstring, name, "k", "identifier")
    assert styled_query(docstring, "Queue.__len__", "k", "identifier") == web_style_query(docstring, "k")
    mixed = [styled_query(docstring, name, f"k{n}", "mixed") for n in range(200)]
    from_name = sum("count waiting items" in query for query in mixed)
    assert 70 <= from_name <= 130  # identifier_share 0.5 of 200, drawn by the pair id
    assert all(("count waiting items" in query) != ("number of items waiting" in query) for query in mixed)
    assert mixed == [styled_query(docstring, name, f"k{n}", "mixed") for n in range(200)]  # the same on a re-run
    with pytest.raises(ConfigError):
        WebQueryStyle(identifier_share=1.5)


def test_mine_pairs_with_identifier_queries(tmp_path) -> None:
    """``mine pairs --query-style identifier`` asks by the function's name, not by its docstring."""
    from codehunt.mining.pairs import PairsConfig, mine_pairs, read_pairs

    source = tmp_path / "lib"
    source.mkdir()
    (source / "dates.py").write_text(
        "def parse_iso_date(text):\n    \"\"\"Turn an ISO 8601 string into a datetime.\"\"\"\n"
        "    from datetime import datetime\n    value = datetime.fromisoformat(text)\n    return value\n",
        encoding="utf-8",
    )
    out = tmp_path / "pairs.jsonl"
    mine_pairs(PairsConfig(source=source, output=out, query_style="identifier"))
    (pair,) = read_pairs(out)
    assert "parse iso date" in pair.query and "python" in pair.query.split() and "datetime" not in pair.query
