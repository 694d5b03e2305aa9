"""How ``codehunt search`` finds a running ``codehunt serve`` for an index, and asks it.

``serve`` writes a small JSON file beside each index directory it holds, ``.<name>.serve.json`` next to the
build lock ``.<name>.lock``. It sits beside the directory rather than inside it because every publish
(a rebuild, an update) replaces the directory in one rename, which would take the file with it; beside it,
it also stays out of the manifest's checksums. The file names the URL and the server's pid, and is removed
when the server stops. A file whose pid is gone (a killed server) is ignored.

The client side is standard library only (``http.client``), so ``codehunt search`` pays no import for it.
Each request carries the sha256 of the ``manifest.json`` the caller sees on disk; a service serving another
generation answers 409 and the caller searches in-process, so both ways give the same hits.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

DISCOVERY_VERSION = 1
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ServiceInfo:
    """A running service as its discovery file describes it."""

    url: str
    pid: int
    index: str
    name: str
    rerank: str | None = None


def reranker_key(rerank: str | Path) -> str:
    """How a reranker is compared between a client and a service: a directory by its resolved path, a name
    (``default``, a hub name) as written."""
    path = Path(rerank)
    return str(path.resolve()) if path.exists() else str(rerank)


def discovery_path(index_path: Path) -> Path:
    """``<parent>/.<name>.serve.json`` for the index directory ``<parent>/<name>``."""
    path = Path(index_path).resolve()
    return path.parent / f".{path.name}.serve.json"


def write_discovery(index_path: Path, url: str, name: str, rerank: str | None = None) -> Path:
    """Publish (atomically) that this process serves ``index_path`` at ``url``."""
    from codehunt.index.storage import write_json_atomic

    target = discovery_path(index_path)
    write_json_atomic(target, {
        "format_version": DISCOVERY_VERSION, "url": url, "pid": os.getpid(), "index": str(Path(index_path).resolve()),
        "name": name, "rerank": rerank,
    })
    return target


def remove_discovery(index_path: Path) -> None:
    """Remove the discovery file if this process wrote it (another server may have taken the index over)."""
    target = discovery_path(index_path)
    info = _read(target)
    if info is not None and info.pid == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            target.unlink()


def find_service(index_path: Path) -> ServiceInfo | None:
    """The live service for ``index_path``, or None (no file, a malformed one, or its process is gone)."""
    info = _read(discovery_path(index_path))
    if info is None or not _alive(info.pid):
        return None
    return info


def _read(path: Path) -> ServiceInfo | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format_version") != DISCOVERY_VERSION:
            return None
        return ServiceInfo(str(record["url"]), int(record["pid"]), str(record["index"]), str(record["name"]), record.get("rerank"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def open_connection(host: str, port: int, timeout: float = 60.0) -> Any:
    """A connected ``http.client.HTTPConnection`` with Nagle's algorithm off.

    ``http.client`` writes a request's headers and body separately; with Nagle on, the second write can wait
    for the peer's delayed (~40 ms) ACK of the first. The server side matters most (``app.bind_socket``: 45 ms
    per keep-alive answer before, 0.7 ms after, in ``benchmarks/serve_latency.py``); this is the client's half.
    """
    import http.client
    import socket

    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def post_json(url: str, route: str, payload: dict[str, Any], timeout: float = 60.0) -> tuple[int, dict[str, Any]]:
    """POST ``payload`` to ``url + route``; (HTTP status, decoded JSON body). Raises OSError when unreachable."""
    parts = urlsplit(url)
    connection = open_connection(parts.hostname or "127.0.0.1", parts.port or 80, timeout)
    try:
        body = json.dumps(payload).encode("utf-8")
        connection.request("POST", route, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
        try:
            decoded = json.loads(data.decode("utf-8")) if data else {}
        except ValueError:
            decoded = {"error": data[:200].decode("utf-8", "replace")}
        return response.status, decoded if isinstance(decoded, dict) else {"result": decoded}
    finally:
        connection.close()


def search_with_service(
    index_path: Path, service: str, query: str, k: int, mode: str, rerank: Path | None, rerank_depth: int,
    rerank_fusion: float | None, fusion: str | None, dense_weight: float | None,
) -> tuple[list[Any], str] | None:
    """(hits, file aggregation) from a running service, or None to search in-process.

    ``service``: ``auto`` (the discovery file beside the index), ``off``, or a service URL. None whenever
    the service cannot answer exactly what an in-process search would: no service, another generation of
    the index, another reranker, or any error (which the in-process search then reports itself).
    """
    if service == "off":
        return None
    index_path = Path(index_path)
    manifest = index_path / "manifest.json"
    if not manifest.is_file():
        return None  # let the in-process path say what is wrong
    url, served_rerank = service, None
    if service == "auto":
        info = find_service(index_path)
        if info is None:
            return None
        url, served_rerank = info.url, info.rerank
        if rerank is not None and served_rerank != reranker_key(rerank):
            return None
    import hashlib

    from codehunt.index.types import Hit

    payload = {
        "index": str(index_path.resolve()), "manifest": hashlib.sha256(manifest.read_bytes()).hexdigest(),
        "query": query, "k": k, "mode": mode, "level": "function", "rerank": rerank is not None,
        "rerank_depth": rerank_depth, "rerank_fusion": rerank_fusion, "fusion": fusion, "dense_weight": dense_weight,
    }
    if rerank is not None:
        payload["rerank_path"] = reranker_key(rerank)
    body = _successful(url, "/search", payload, "searching in-process")
    if body is None:
        return None
    try:
        return [Hit(**hit) for hit in body["hits"]], str(body["file_aggregation"])
    except (KeyError, TypeError) as exc:
        log.info("service at %s sent an unexpected answer (%s); searching in-process", url, exc)
        return None


def update_with_service(index_path: Path, service: str) -> dict[str, Any] | None:
    """Ask a running service of ``index_path`` to update it (``POST /update``, waiting for it); its answer, or None
    to update in-process.

    Why: the service holds the model and the index in memory, so it updates from them (the 85k-chunk standard
    library: searchable after ~0.7 s, written after ~3 s), where a new process spends 6-8 s importing and loading
    the model alone; it also swaps the result in for its searches.
    ``service`` as for :func:`search_with_service`. None when there is no service, it is unreachable, or it
    answers anything but success; the in-process update then reports what is wrong itself (an update the
    service is already running holds the index's build lock, which the in-process update names).
    """
    if service == "off" or not (Path(index_path) / "manifest.json").is_file():
        return None
    url = service
    if service == "auto":
        info = find_service(Path(index_path))
        if info is None:
            return None
        url = info.url
    return _successful(url, "/update", {"index": str(Path(index_path).resolve()), "wait": True}, "updating in-process",
                       timeout=3600.0)


def _successful(url: str, route: str, payload: dict[str, Any], fallback: str, timeout: float = 60.0) -> dict[str, Any] | None:
    """The service's answer to ``payload`` when it is a 200, else None (logged, with what the caller does instead)."""
    try:
        status, body = post_json(url, route, payload, timeout)
    except OSError as exc:
        log.info("service at %s did not answer (%s); %s", url, exc, fallback)
        return None
    if status != 200:
        log.info("service at %s answered %d (%s); %s", url, status, body.get("error", ""), fallback)
        return None
    return body


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback name or address (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
