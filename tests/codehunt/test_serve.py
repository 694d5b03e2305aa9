"""``codehunt serve``: the warm service, ``codehunt search`` through it (byte for byte the in-process output),
updates without a gap, and bad input that the service answers and survives.

One real server process (``python -m codehunt serve``) is started per module, with the real default model;
the update semantics are tested on an in-process :class:`IndexService` sharing the session's model.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from codehunt.cli import app
from codehunt.index.errors import CodehuntError, CorruptIndexError
from codehunt.index.index import Index
from codehunt.serve.discovery import discovery_path, find_service, is_loopback, post_json
from codehunt.serve.service import IndexService, UnknownIndexError, UpdateInProgressError

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

runner = CliRunner()

DATES = '''
from datetime import datetime


def parse_iso_date(text):
    """Parse an ISO 8601 date string such as 2024-05-01 into a datetime."""
    return datetime.strptime(text, "%Y-%m-%d")


def format_timestamp(moment):
    """Format a datetime as an ISO 8601 timestamp with seconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S")
'''

NET = '''
import urllib.request


def download_file(url, destination):
    """Download a URL over HTTP and save the response body to a local file."""
    with urllib.request.urlopen(url) as response, open(destination, "wb") as handle:
        handle.write(response.read())


def send_email(address, body):
    """Send an email message over SMTP."""
    import smtplib
    smtplib.SMTP("localhost").sendmail("me", [address], body)


class RetryPolicy:
    """How often and how long to retry a failed request."""

    def backoff(self, attempt):
        """Seconds to wait before retry number ``attempt`` (exponential)."""
        return 2 ** attempt
'''

NEW_FUNCTION = '''

def compute_crc_checksum(data):
    """Compute the CRC-32 checksum of a byte string."""
    import zlib
    return zlib.crc32(data)
'''


def write_tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "dates.py").write_text(DATES, encoding="utf-8")
    (root / "pkg" / "net.py").write_text(NET, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def served_index(tmp_path_factory, default_encoder) -> Path:
    source = write_tree(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("idx") / "code"
    Index.build(source, out, encoder=default_encoder)
    return out


def start_server(*args: str, timeout: float = 180) -> tuple[subprocess.Popen, str]:
    """``python -m codehunt serve ARGS --port 0``; returns the process and its URL once it answers."""
    process = subprocess.Popen([sys.executable, "-m", "codehunt", "serve", *args, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    index = Path(args[args.index("-i") + 1])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {process.stderr.read()}")
        info = find_service(index)
        if info is not None and info.pid == process.pid:
            return process, info.url
        time.sleep(0.2)
    process.kill()
    raise AssertionError("serve did not start in time")


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def server(served_index):
    process, url = start_server("-i", str(served_index))
    yield url
    stop_server(process)


def get_status(url: str) -> dict:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", "/status")
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == 200
    return body


def raw_request(url: str, data: bytes, read: bool = True) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(data)
        if not read:
            return b""
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


# --------------------------------------------------------------------------- search through the service
SEARCHES = [
    ["parse a date string"],
    ["download a url to a file", "--mode", "dense", "-k", "3"],
    ["send_email", "--mode", "bm25"],
    ["retry with backoff", "--json"],
    ["iso timestamp", "--level", "both", "--json"],
    ["iso timestamp", "--level", "file"],
    ["retry a request", "--fusion", "rrf", "--dense-weight", "0.3", "--json"],
]


@pytest.mark.parametrize("args", SEARCHES, ids=[" ".join(a) for a in SEARCHES])
def test_search_through_the_service_prints_exactly_what_in_process_search_prints(server, served_index, args):
    before = get_status(server)["indexes"][0]["searches"]
    local = runner.invoke(app, ["search", *args, "-i", str(served_index), "--service", "off"])
    remote = runner.invoke(app, ["search", *args, "-i", str(served_index)])  # --service auto: the discovery file
    assert local.exit_code == 0 and remote.exit_code == 0, (local.output, remote.output)
    assert get_status(server)["indexes"][0]["searches"] == before + 1  # it really went through the service
    assert remote.stdout == local.stdout
    assert remote.stdout.strip()
    explicit = runner.invoke(app, ["search", *args, "-i", str(served_index), "--service", server])
    assert explicit.stdout == local.stdout


def test_a_stale_service_is_bypassed_not_trusted(server, served_index):
    """A request carrying another manifest digest gets 409; the CLI then searches in-process."""
    status, body = post_json(server, "/search", {"query": "parse a date", "manifest": "0" * 64})
    assert status == 409 and "not the generation served" in body["error"]


def test_a_discovery_file_of_a_dead_process_is_ignored(tmp_path):
    index = tmp_path / "idx"
    index.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    discovery_path(index).write_text(json.dumps({"format_version": 1, "url": "http://127.0.0.1:9", "pid": dead.pid,
                                                 "index": str(index), "name": "idx"}), encoding="utf-8")
    assert find_service(index) is None
    discovery_path(index).write_text("{not json", encoding="utf-8")
    assert find_service(index) is None


# --------------------------------------------------------------------------- the HTTP API
def test_search_localize_and_status_answer_json(server, served_index):
    status, body = post_json(server, "/search", {"query": "parse an ISO date", "k": 2, "level": "both"})
    assert status == 200
    assert body["hits"][0]["qualname"] == "parse_iso_date" and len(body["hits"]) == 2
    assert body["files"][0]["path"] == "pkg/dates.py"
    direct = Index.load(served_index).search("parse an ISO date", 2, "hybrid")
    assert [hit["doc_id"] for hit in body["hits"]] == [hit.doc_id for hit in direct]
    status, body = post_json(server, "/localize", {"issue": "send_email fails\n\nCalling send_email raises SMTPException", "k": 3})
    assert status == 200 and body["functions"][0]["qualname"] == "send_email"
    assert body["files"][0]["path"] == "pkg/net.py"
    info = get_status(server)
    assert info["indexes"][0]["path"] == str(served_index.resolve()) and info["indexes"][0]["on_disk"] is True


@pytest.mark.parametrize(
    "payload, status, message",
    [
        (b"{not json", 400, "the body is not valid JSON"),
        (b"[1, 2]", 400, "Input should be an object"),
        (b'{"query": "x", "k": 0}', 400, "k: Input should be greater than or equal to 1"),
        (b'{"query": "x", "mode": "fuzzy"}', 400, "mode: Input should be"),
        (b'{"query": "x", "colour": "red"}', 400, "colour: Extra inputs are not permitted"),
        (b'{"query": ""}', 400, "query: String should have at least 1 character"),
        (b'{"query": "x", "fusion": "mean"}', 400, "unknown fusion 'mean'"),
        (b'{"query": "x", "index": "elsewhere"}', 404, "holds no index 'elsewhere'"),
        (b'{"query": "x", "rerank": true}', 400, "started without --rerank"),
    ],
    ids=["malformed", "not-object", "k0", "mode", "extra-field", "empty-query", "fusion", "unknown-index", "no-reranker"],
)
def test_bad_requests_get_a_clear_error_and_the_service_keeps_answering(server, payload, status, message):
    parts = urlsplit(server)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("POST", "/search", body=payload)  # no Content-Type, as curl -d sends a form type
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == status
    assert message in body["error"] and "\n" not in body["error"]
    assert post_json(server, "/search", {"query": "parse a date", "k": 1})[0] == 200


def test_an_oversized_request_gets_413_declared_or_streamed(server):
    big = json.dumps({"query": "a" * (2 << 20)}).encode()
    declared = raw_request(server, b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: " + str(len(big)).encode() + b"\r\n\r\n")  # refused before the body
    assert declared.startswith(b"HTTP/1.1 413") and b"request body over 1048576 bytes" in declared
    parts = urlsplit(server)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    pieces = (big[i : i + 65536] for i in range(0, len(big), 65536))
    try:
        connection.request("POST", "/search", body=pieces, encode_chunked=True, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 413 and b"request body over" in response.read()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed while the client was still sending: refused all the same
    finally:
        connection.close()
    assert post_json(server, "/search", {"query": "parse a date", "k": 1})[0] == 200


def test_a_client_that_disconnects_mid_request_or_mid_answer_does_not_hurt_the_service(server):
    body = json.dumps({"query": "parse a date", "k": 50, "level": "both"}).encode()
    head = b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    raw_request(server, head + body[:10], read=False)  # leaves in the middle of the body
    for _ in range(5):
        raw_request(server, head + body, read=False)  # leaves before reading the answer
    parts = urlsplit(server)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head + body)
        sock.recv(100)  # reads the start of the answer, then leaves
    time.sleep(0.5)
    status, answer = post_json(server, "/search", {"query": "parse a date", "k": 1})
    assert status == 200 and answer["hits"][0]["qualname"] == "parse_iso_date"


def test_a_port_in_use_is_a_one_line_error_before_anything_loads(server, served_index):
    port = str(urlsplit(server).port)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "codehunt", "serve", "-i", str(served_index), "--port", port],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {port} on 127.0.0.1 is in use" in lines[0], result.stderr
    assert time.monotonic() - started < 60
    assert post_json(server, "/search", {"query": "parse a date", "k": 1})[0] == 200


@pytest.mark.parametrize(
    "args, message",
    [
        (["--host", "0.0.0.0"], "--host 0.0.0.0 is not a loopback address"),
        (["--port", "70000"], "--port must be between 0 and 65535"),
        (["--threads", "-1"], "--threads must be 0 (torch's default) or more"),
        (["--max-request-bytes", "10"], "--max-request-bytes must be at least 1024"),
    ],
)
def test_serve_option_errors_are_usage_errors(args, message, tmp_path):
    result = runner.invoke(app, ["serve", "-i", str(tmp_path / "idx"), *args])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("127.8.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.com")


def test_sigterm_removes_the_discovery_file(served_index, tmp_path):
    copy = tmp_path / "other"
    shutil.copytree(served_index, copy)
    process, url = start_server("-i", str(copy))
    assert discovery_path(copy).is_file()
    stop_server(process)
    assert process.returncode == 0
    assert not discovery_path(copy).exists()


# --------------------------------------------------------------------------- updates, in-process
@pytest.fixture
def live(served_index, tmp_path, default_encoder):
    """A fresh copy of the source tree and its index, and a service over it."""
    source = write_tree(tmp_path / "src")
    index = tmp_path / "idx"
    Index.build(source, index, encoder=default_encoder)
    return source, index


def names(hits) -> list[str]:
    return [hit.qualname for hit in hits]


@pytest.mark.parametrize("how", ["incremental", "full rebuild"])
def test_an_update_reindexes_and_swaps_without_a_gap(live, default_encoder, how, monkeypatch):
    """Both update paths: ``index.incremental.update_index`` and the full ``Index.build`` fallback."""
    import codehunt.serve.service as service_module

    if how == "full rebuild":
        monkeypatch.setattr(service_module, "_incremental_update", lambda: None)
    elif service_module._incremental_update() is None:
        pytest.skip("codehunt.index.incremental is not there")
    source, path = live
    release = threading.Event()
    entered = threading.Event()

    from codehunt.serve.service import rebuild_index

    def slow_rebuild(served, encoder, on_ready):
        entered.set()
        assert release.wait(60)
        rebuild_index(served, encoder, on_ready)

    service = IndexService([path], encoder=default_encoder, updater=slow_rebuild)
    (source / "pkg" / "crc.py").write_text(NEW_FUNCTION, encoding="utf-8")
    worker = threading.Thread(target=service.update)
    worker.start()
    assert entered.wait(30)
    served = service.get()
    assert served.updating and served.generation == 1
    # while the update runs, queries are answered from the old index, and a second update is refused
    for _ in range(3):
        assert "compute_crc_checksum" not in names(service.search_hits(served.index, "crc32 checksum of bytes", 5, "hybrid"))
    with pytest.raises(UpdateInProgressError, match="already running"):
        service.update()
    release.set()
    worker.join(120)
    assert not served.updating and served.generation == 2 and served.last_error == ""
    hits = service.search_hits(served.index, "crc32 checksum of bytes", 3, "hybrid")
    assert hits[0].qualname == "compute_crc_checksum"
    assert Index.load(path).search("crc32 checksum of bytes", 1)[0].qualname == "compute_crc_checksum"  # published on disk


@contextlib.contextmanager
def app_server(service: IndexService):
    """The service's app under a real uvicorn server on a loopback port in this process; yields its URL."""
    import uvicorn

    from codehunt.serve.app import bind_socket, create_app, url_of

    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(30)


def test_concurrent_update_requests_over_http_one_runs_one_is_refused(live, default_encoder):
    source, path = live
    gate = threading.Event()

    def held(served, encoder, on_ready):
        assert gate.wait(60)

    service = IndexService([path], encoder=default_encoder, updater=held)
    try:
        with app_server(service) as url:
            results: list[tuple[int, dict]] = []
            first = threading.Thread(target=lambda: results.append(post_json(url, "/update", {})))
            first.start()
            while not service.get().updating:
                time.sleep(0.02)
            status, body = post_json(url, "/update", {})
            assert status == 409 and "already running" in body["error"]
            assert post_json(url, "/search", {"query": "parse a date", "k": 1})[0] == 200  # still answering
            gate.set()
            first.join(60)
            assert results[0][0] == 200 and results[0][1]["generation"] == 2
    finally:
        gate.set()


def test_a_deleted_index_directory_is_still_served_and_reported(live, default_encoder):
    source, path = live
    service = IndexService([path], encoder=default_encoder)
    shutil.rmtree(path)
    served = service.get()
    assert service.refresh(served.name) is False
    assert service.search_hits(served.index, "parse a date", 1, "bm25")[0].qualname == "parse_iso_date"
    assert service.status()["indexes"][0]["on_disk"] is False
    service.update()  # the source is still there: the update publishes the directory again
    assert (path / "manifest.json").is_file() and served.generation == 2


def test_an_update_whose_source_is_gone_keeps_the_old_index(live, default_encoder):
    from codehunt.index.errors import BadInputError

    source, path = live
    service = IndexService([path], encoder=default_encoder)
    shutil.rmtree(source)
    with pytest.raises(BadInputError, match="no longer exists"):
        service.update()
    served = service.get()
    assert served.generation == 1 and "no longer exists" in served.last_error
    assert service.search_hits(served.index, "parse a date", 1, "bm25")[0].qualname == "parse_iso_date"


def test_a_republish_by_another_process_is_picked_up_and_a_corrupt_one_refused(live, default_encoder):
    source, path = live
    service = IndexService([path], encoder=default_encoder)
    served = service.get()
    (source / "pkg" / "crc.py").write_text(NEW_FUNCTION, encoding="utf-8")
    Index.build(source, path, encoder=default_encoder)  # what `codehunt index build -o` in another shell does
    assert service.refresh(served.name) is True and served.generation == 2
    assert service.search_hits(served.index, "crc32 checksum of bytes", 1, "hybrid")[0].qualname == "compute_crc_checksum"
    # now publish an index whose dense.faiss is damaged: refused, the good one stays
    staging = path.parent / "staging"
    shutil.copytree(path, staging)
    record = json.loads((staging / "manifest.json").read_text(encoding="utf-8"))
    record["created_at"] = "later"
    (staging / "manifest.json").write_text(json.dumps(record), encoding="utf-8")
    faiss_file = staging / "dense.faiss"
    data = bytearray(faiss_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    faiss_file.write_bytes(bytes(data))
    retired = path.parent / "retired"
    os.replace(path, retired)
    os.replace(staging, path)
    assert service.refresh(served.name) is False
    assert served.generation == 2 and "dense.faiss is corrupted" in served.last_error
    assert service.search_hits(served.index, "crc32 checksum of bytes", 1, "hybrid")[0].qualname == "compute_crc_checksum"
    with pytest.raises(CorruptIndexError):
        Index.load(path)


def test_watch_reindexes_when_a_source_file_changes(live, default_encoder):
    pytest.importorskip("watchfiles")
    from codehunt.serve.watcher import Background

    source, path = live
    service = IndexService([path], encoder=default_encoder)
    background = Background(service, watch=True, poll_seconds=0.2, debounce_ms=200)
    background.start()
    try:
        time.sleep(1.0)  # the watcher is set up
        (source / "pkg" / "crc.py").write_text(NEW_FUNCTION, encoding="utf-8")
        served = service.get()
        deadline = time.monotonic() + 120
        while served.generation < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert served.generation >= 2, served.last_error
        assert service.search_hits(served.index, "crc32 checksum of bytes", 1, "hybrid")[0].qualname == "compute_crc_checksum"
        assert served.last_update["reason"] == "watch"
    finally:
        background.stop()


def test_unknown_index_names_and_index_by_path(live, default_encoder):
    source, path = live
    service = IndexService([path], encoder=default_encoder)
    assert service.get(str(path)) is service.get("idx") is service.get(None)
    with pytest.raises(UnknownIndexError, match="serves idx"):
        service.get("other")


def test_index_config_is_read_back_from_the_manifest(live):
    from codehunt.index.index import IndexConfig
    from codehunt.serve.service import index_config_from_manifest

    source, path = live
    recorded = Index.load(path).manifest.config
    config = index_config_from_manifest(recorded)
    assert isinstance(config, IndexConfig)
    from dataclasses import asdict

    from codehunt.index.index import _jsonable

    assert _jsonable(asdict(config)) == recorded


# --------------------------------------------------------------------------- the fast query path
QUERIES = ["parse an ISO date", "x", "download a url and save it to a file " * 30, "def send_email(address, body)", "重试请求"]


@pytest.mark.parametrize("onnx_queries", [True, False], ids=["onnx-runtime", "torch"])
def test_the_fast_query_path_is_bit_identical_to_encode_at_any_thread_count(default_encoder, onnx_queries):
    import numpy as np
    import torch

    from codehunt.index.encoder import FastQueryEncoder, SentenceTransformerEncoder
    from codehunt.index.query_onnx import onnx_runtime_available

    encoder = SentenceTransformerEncoder(default_encoder.config, model=default_encoder.model,
                                         fingerprint=default_encoder.fingerprint(), onnx_queries=onnx_queries)
    fast = FastQueryEncoder(encoder)
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for query in QUERIES:
                expected = encoder.encode([query], "query")
                got = fast.encode([query], "query")
                assert got.dtype == np.float32 and got.shape == (1, encoder.dimension)
                assert np.array_equal(got, expected), query
                assert torch.get_num_threads() == threads  # put back after the one-thread forward
        several = fast.encode(QUERIES[:3], "query")  # more than one text: the wrapped encoder's own path
        assert np.array_equal(several, encoder.encode(QUERIES[:3], "query"))
        if onnx_queries and onnx_runtime_available():
            assert encoder.onnx_query_pipeline() is not None  # the vectors above came from ONNX Runtime
        else:
            assert encoder.onnx_query_pipeline() is None  # from torch (the trace in fp32, bf16 autocast otherwise)
    finally:
        torch.set_num_threads(previous)


def test_a_traced_query_model_that_differs_from_the_eager_one_is_not_used(default_encoder, monkeypatch):
    import torch

    from codehunt.index import query_trace
    from codehunt.index.encoder import FastQueryEncoder

    monkeypatch.setattr(torch, "equal", lambda a, b: False)
    assert query_trace.traced_query_embedding(default_encoder.model) is None
    monkeypatch.undo()
    fast = FastQueryEncoder(default_encoder)
    monkeypatch.setattr(query_trace, "traced_query_embedding", lambda model: None)
    assert fast._traced_pipeline() is None  # the eager model answers
    assert (fast.encode(["parse a date"], "query") == default_encoder.encode(["parse a date"], "query")).all()
    assert query_trace.traced_query_embedding(object()) is None  # not a SentenceTransformer: no trace


def test_concurrent_queries_share_the_model_safely_and_answer_as_sequential_ones(live, default_encoder):
    source, path = live
    service = IndexService([path], encoder=default_encoder)
    index = service.get().index
    texts = [f"{query} {n}" for n in range(6) for query in ("parse a date", "send mail", "retry backoff", "download")]
    expected = {text: service.search_hits(index, text, 3, "hybrid") for text in texts}
    failures: list[BaseException] = []
    answers: dict[str, list] = {}

    def ask(chunk: list[str]) -> None:
        try:
            for text in chunk:
                answers[text] = service.search_hits(index, text, 3, "hybrid")
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=ask, args=(texts[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert answers == expected


def test_reranked_search_through_the_service_matches_in_process(served_index, tmp_path):
    """A service started with --rerank DIR answers `codehunt search --rerank DIR` exactly as in-process does."""
    from codehunt.reranker.model import load_cross_encoder

    from codehunt.reranker.model import COMBINATION_FILE

    reranker = tmp_path / "reranker"
    load_cross_encoder("default", max_length=128).save(str(reranker))  # a fixed (seeded) head, saved once
    # a fit that stored one combination per first stage: bm25 trusts the reranker alone, the fallback the first stage
    per_mode = {"bm25": {"combination": "interpolate", "first_stage_weight": 0.0}}
    (reranker / COMBINATION_FILE).write_text(
        json.dumps({"combination": "rrf", "first_stage_weight": 4.0, "per_mode": per_mode}), encoding="utf-8")
    copy = tmp_path / "code"
    shutil.copytree(served_index, copy)
    stored_bm25 = runner.invoke(app, ["search", "send an email", "-i", str(copy), "--rerank", str(reranker), "--mode", "bm25",
                                      "--rerank-depth", "6", "--service", "off"]).stdout
    fallback_bm25 = runner.invoke(app, ["search", "send an email", "-i", str(copy), "--rerank", str(reranker), "--mode", "bm25",
                                        "--rerank-depth", "6", "--rerank-fusion", "4", "--service", "off"]).stdout
    assert stored_bm25 != fallback_bm25, "the two stored combinations must order the hits differently for this check"
    process, url = start_server("-i", str(copy), "--rerank", str(reranker))
    try:
        for extra in ([], ["--rerank-fusion", "0.4"], ["--rerank-depth", "3", "--json"], ["--mode", "bm25", "--rerank-depth", "6"]):
            args = ["search", "send an email", "-i", str(copy), "--rerank", str(reranker), *extra]
            before = get_status(url)["indexes"][0]["searches"]
            local = runner.invoke(app, [*args, "--service", "off"])
            remote = runner.invoke(app, args)
            assert local.exit_code == 0 and remote.exit_code == 0, (local.output, remote.output)
            assert get_status(url)["indexes"][0]["searches"] == before + 1
            assert remote.stdout == local.stdout and remote.stdout.strip()
        other = tmp_path / "other-reranker"
        shutil.copytree(reranker, other)
        before = get_status(url)["indexes"][0]["searches"]
        assert runner.invoke(app, ["search", "send an email", "-i", str(copy), "--rerank", str(other)]).exit_code == 0
        assert get_status(url)["indexes"][0]["searches"] == before  # another reranker: searched in-process
    finally:
        stop_server(process)


def test_localize_keeps_one_unit_table_per_served_generation(live, default_encoder):
    """The call graph behind the structure signal is built once per served index, not once per request."""
    _, path = live
    service = IndexService([path], encoder=default_encoder)
    served = service.get()
    first = service.localize(served, "crc checksum of a byte string is wrong", {})
    table = served.localize_table()
    graph = table.call_graph
    second = service.localize(served, "crc checksum of a byte string is wrong", {})
    assert first == second
    assert served.localize_table() is table and table.call_graph is graph
    served.index = Index.load(path, default_encoder)  # what a swap does
    assert served.localize_table() is not table and served.localize_table().index is served.index


def test_index_update_goes_through_a_running_service_and_gives_what_an_in_process_update_gives(live, default_encoder, tmp_path):
    """`codehunt index update IDX` with a service of IDX running: the service updates from memory and serves the
    result; the directory it writes equals an in-process update of a copy of the same index."""
    import shutil

    from codehunt.index.incremental import update_index
    from codehunt.serve.discovery import remove_discovery, write_discovery
    from tests.index.test_incremental import assert_same_index

    source, path = live
    service = IndexService([path], encoder=default_encoder)
    with app_server(service) as url:
        write_discovery(path, url, service.get().name)
        try:
            (source / "pkg" / "crc.py").write_text(NEW_FUNCTION, encoding="utf-8")
            copy = tmp_path / "copy.idx"
            shutil.copytree(path, copy)
            result = runner.invoke(app, ["index", "update", str(path)])
            assert result.exit_code == 0, result.output
            assert "through the running service at generation 2" in result.stderr
            served = service.get()
            assert served.generation == 2 and served.last_update["reason"] == "request"
            assert served.index.search("crc32 checksum of bytes", 1)[0].qualname == "compute_crc_checksum"
            update_index(copy, encoder=default_encoder)
            assert_same_index(path, copy)
            # --service off updates in-process even with the service running (here: nothing changed since)
            result = runner.invoke(app, ["index", "update", str(path), "--service", "off"])
            assert result.exit_code == 0 and "is up to date" in result.stderr and served.generation == 2
        finally:
            remove_discovery(path)


def test_a_write_that_fails_after_the_swap_keeps_serving_from_memory_and_the_next_update_publishes(live, default_encoder, monkeypatch):
    from codehunt.index import index as index_module
    from codehunt.serve.service import StaleIndexError, manifest_digest

    source, path = live
    service = IndexService([path], encoder=default_encoder)
    (source / "pkg" / "crc.py").write_text(NEW_FUNCTION, encoding="utf-8")

    def disk_full(target, chunks):  # noqa: ANN001
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(index_module, "write_corpus", disk_full)
    with pytest.raises(CodehuntError, match="No space left"):
        service.update()
    served = service.get()
    assert served.generation == 2 and "No space left" in served.last_error
    assert service.search_hits(served.index, "crc32 checksum of bytes", 1, "hybrid")[0].qualname == "compute_crc_checksum"
    assert "compute_crc_checksum" not in names(Index.load(path).search("crc32 checksum of bytes", 5))  # the old directory
    with pytest.raises(StaleIndexError):  # a client reading the directory's manifest searches in-process
        service.check_manifest(served, manifest_digest(path))
    monkeypatch.undo()
    service.update()  # from the generation in memory: writes it
    assert served.generation == 3 and served.last_error == "" and served.digest == manifest_digest(path)
    assert Index.load(path).search("crc32 checksum of bytes", 1)[0].qualname == "compute_crc_checksum"
