"""``codehunt mcp``: driven through the MCP SDK's own client over stdio, as an agent would, and checked
against ``Index.search``; plus the path rules (``../``, absolute paths, symlinks out of the tree)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from codehunt.index.errors import BadInputError
from codehunt.index.index import Index
from codehunt.mcp_server import MAX_RESULTS, CodeTools, PathOutsideRootError, resolve_inside

pytest.importorskip("mcp")

PARSER = '''
from datetime import datetime


def parse_iso_date(text):
    """Parse an ISO 8601 date string such as 2024-05-01 into a datetime."""
    return datetime.strptime(text, "%Y-%m-%d")


def format_timestamp(moment):
    """Format a datetime as an ISO 8601 timestamp with seconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S")
'''

MAILER = '''
def send_email(address, body):
    """Send an email message over SMTP."""
    import smtplib
    smtplib.SMTP("localhost").sendmail("me", [address], body)


def download_file(url, destination):
    """Download a URL over HTTP and save the response body to a local file."""
    import urllib.request
    with urllib.request.urlopen(url) as response, open(destination, "wb") as handle:
        handle.write(response.read())
'''

ADDED = '''

def compute_crc_checksum(data):
    """Compute the CRC-32 checksum of a byte string."""
    import zlib
    return zlib.crc32(data)
'''


@pytest.fixture(scope="module")
def tree(tmp_path_factory, default_encoder) -> tuple[Path, Path, Path]:
    """(source root, index, a secret file outside the root that a symlink inside points to)."""
    base = tmp_path_factory.mktemp("mcp")
    root = base / "repo"
    (root / "app").mkdir(parents=True)
    (root / "app" / "dates.py").write_text(PARSER, encoding="utf-8")
    (root / "app" / "mail.py").write_text(MAILER, encoding="utf-8")
    secret = base / "secret.txt"
    secret.write_text("password = hunter2\n", encoding="utf-8")
    index = base / "idx"
    Index.build(root, index, encoder=default_encoder)
    os.symlink(secret, root / "app" / "leak.py")  # planted after indexing: points out of the tree
    os.symlink(base, root / "up")  # a directory link out of the tree
    return root, index, secret


def call(client, name: str, arguments: dict):  # noqa: ANN001, ANN201
    return client.call_tool(name, arguments)


def text_of(result) -> str:  # noqa: ANN001
    return "".join(block.text for block in result.content if getattr(block, "type", "") == "text")


def test_an_agent_drives_the_server_over_stdio(tree, tmp_path):
    """One session, as an agent runs it: list tools, search, localize, read, status, reindex."""
    import anyio
    from mcp import Client, StdioServerParameters

    root, index, secret = tree
    work = tmp_path / "idx"
    import shutil

    shutil.copytree(index, work)  # reindex publishes into it: keep the module's index as it is
    reference = Index.load(index)
    params = StdioServerParameters(command=sys.executable, args=["-m", "codehunt", "mcp", "-i", str(work)],
                                   env={"PYTHONUNBUFFERED": "1"})

    async def session() -> None:
        async with Client(params, read_timeout_seconds=300) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert set(tools) == {"search_code", "localize_issue", "read_code", "index_status", "reindex"}
            assert "max_results" in tools["search_code"].input_schema["properties"]

            for query, mode, k in [("parse an ISO date", "hybrid", 3), ("send an email", "dense", 2), ("download_file", "bm25", 4)]:
                result = await client.call_tool("search_code", {"query": query, "mode": mode, "max_results": k})
                assert not result.is_error, text_of(result)
                text = text_of(result)
                assert "\n" not in text.replace("\\n", "")  # one line of compact JSON
                answer = json.loads(text)["results"]
                expected = reference.search(query, k, mode)
                assert [(r["path"], r["line"], r["end"], r["name"]) for r in answer] == \
                       [(h.path, h.start_line, h.end_line, h.qualname) for h in expected]
                assert [r["score"] for r in answer] == [round(h.score, 4) for h in expected]
                assert set(answer[0]) == {"path", "line", "end", "name", "score", "snippet"}

            files = json.loads(text_of(await client.call_tool("search_code", {"query": "smtp email", "level": "file", "max_results": 1})))
            assert files["files"][0]["path"] == "app/mail.py" and len(files["files"]) == 1

            scoped = json.loads(text_of(await client.call_tool("search_code", {"query": "date", "path": "app/mail.py"})))
            assert scoped["results"] and {r["path"] for r in scoped["results"]} == {"app/mail.py"}

            localized = json.loads(text_of(await client.call_tool(
                "localize_issue", {"issue": "send_email crashes\n\nsend_email raises SMTPException on every call", "max_results": 2})))
            assert localized["functions"][0]["name"] == "send_email" and localized["files"][0]["path"] == "app/mail.py"

            read = json.loads(text_of(await client.call_tool("read_code", {"path": "app/dates.py", "start_line": 5, "end_line": 6})))
            assert read["text"] == PARSER.split("\n")[4] + "\n" + PARSER.split("\n")[5] and read["start"] == 5

            for name, arguments in [
                ("read_code", {"path": "../secret.txt"}),
                ("read_code", {"path": str(secret)}),
                ("read_code", {"path": "app/leak.py"}),
                ("read_code", {"path": "up/secret.txt"}),
                ("search_code", {"query": "password", "path": "../"}),
                ("search_code", {"query": "password", "path": "/etc"}),
            ]:
                refused = await client.call_tool(name, arguments)
                assert refused.is_error, (name, arguments, text_of(refused))
                assert "outside the indexed root" in text_of(refused)
                assert "hunter2" not in text_of(refused)

            bad = await client.call_tool("search_code", {"query": "  "})
            assert bad.is_error and "query is empty" in text_of(bad)

            status = json.loads(text_of(await client.call_tool("index_status", {})))
            assert status["units"] == reference.manifest.unit_count and status["root"] == str(root.resolve())
            assert status["generation"] == 1 and status["updating"] is False

            (root / "app" / "crc.py").write_text(ADDED, encoding="utf-8")
            try:
                done = json.loads(text_of(await client.call_tool("reindex", {})))
                assert done["generation"] == 2
                after = json.loads(text_of(await client.call_tool("search_code", {"query": "crc32 checksum of bytes", "max_results": 1})))
                assert after["results"][0]["name"] == "compute_crc_checksum"
            finally:
                (root / "app" / "crc.py").unlink()

    anyio.run(session)


# --------------------------------------------------------------------------- the path rules, without MCP
def test_resolve_inside_accepts_paths_in_the_tree(tree):
    root, _, _ = tree
    real = root.resolve()
    assert resolve_inside(real, "app/dates.py") == "app/dates.py"
    assert resolve_inside(real, "./app/../app/dates.py") == "app/dates.py"
    assert resolve_inside(real, str(real / "app" / "mail.py")) == "app/mail.py"  # absolute, inside
    assert resolve_inside(real, "app") == "app" and resolve_inside(real, ".") == "."


@pytest.mark.parametrize("path", ["..", "../secret.txt", "app/../../secret.txt", "/etc/passwd", "app/leak.py", "up", "up/secret.txt"])
def test_resolve_inside_refuses_paths_out_of_the_tree(tree, path):
    root, _, _ = tree
    with pytest.raises(PathOutsideRootError, match="outside the indexed root"):
        resolve_inside(root.resolve(), path)


def test_resolve_inside_without_a_root_takes_only_plain_relative_paths():
    assert resolve_inside(None, "a/b.py") == "a/b.py"
    for path in ("../a.py", "/abs/a.py"):
        with pytest.raises(PathOutsideRootError):
            resolve_inside(None, path)
    with pytest.raises(BadInputError, match="path is empty"):
        resolve_inside(None, "")


def test_results_whose_file_leads_out_of_the_tree_are_withheld(tree, tmp_path, default_encoder):
    """A file replaced by a symlink out of the tree after indexing is not returned, and the count says so."""
    from codehunt.serve.service import IndexService

    root, index, secret = tree
    copy_root = tmp_path / "repo"
    import shutil

    shutil.copytree(root, copy_root, symlinks=True)
    built = tmp_path / "idx"
    Index.build(copy_root, built, encoder=default_encoder)
    (copy_root / "app" / "mail.py").unlink()
    os.symlink(secret, copy_root / "app" / "mail.py")
    tools = CodeTools(IndexService([built], encoder=default_encoder))
    answer = tools.search_code("send an email over smtp", max_results=5)
    assert all(result["path"] != "app/mail.py" for result in answer["results"])
    ranked = Index.load(built).search("send an email over smtp", 5)
    assert answer["withheld"] == sum(hit.path == "app/mail.py" for hit in ranked) >= 2  # send_email, download_file, ...
    assert [r["name"] for r in answer["results"]] == [hit.qualname for hit in ranked if hit.path != "app/mail.py"]
    with pytest.raises(PathOutsideRootError):
        tools.read_code("app/mail.py")


def test_max_results_is_capped_and_snippets_are_short(tree, default_encoder):
    from codehunt.serve.service import IndexService

    _, index, _ = tree
    tools = CodeTools(IndexService([index], encoder=default_encoder))
    answer = tools.search_code("date", max_results=10_000)
    assert len(answer["results"]) <= MAX_RESULTS
    assert all(len(line) <= 160 for result in answer["results"] for line in result["snippet"].split("\n"))
    assert all(result["snippet"].count("\n") <= 1 for result in answer["results"])
