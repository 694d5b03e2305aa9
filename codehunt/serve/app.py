"""The HTTP face of :class:`~codehunt.serve.service.IndexService`: JSON over FastAPI, served by uvicorn.

Routes (every body and answer is JSON; every error is ``{"error": "<one line>"}`` with its status):

- ``POST /search``: ``{query, k, mode, level, rerank, rerank_depth, rerank_fusion, fusion, dense_weight, index}``
  -> ``{hits, files, file_aggregation, index, manifest, generation}``; the hits are exactly what
  ``codehunt search`` prints (``Hit.to_json``), the files what ``--level file`` prints (``FileHit.to_json``).
- ``POST /localize``: ``{issue, k, level, mode, include_tests, rerank, index}`` -> ``codehunt localize --json``'s
  functions and files.
- ``GET /status``: every index served, its generation, whether it is on disk, updating, the last error.
- ``POST /update``: ``{index, wait}``: re-index from the source and swap in (409 while one runs).

Bad requests get 400 (malformed JSON, a wrong field), an unknown index 404, an update already running or a
stale generation 409, a body over ``max_request_bytes`` 413; none of them stops the service.
"""
from __future__ import annotations

import errno
import json
import logging
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Literal, Optional

from codehunt.index.errors import CodehuntError, CorruptIndexError, IndexLockedError
from codehunt.serve.discovery import reranker_key
from codehunt.serve.service import IndexService, StaleIndexError, UnknownIndexError, UpdateInProgressError

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1 << 20
"""Default limit on a request body (1 MiB: an issue text is a few KiB)."""


class ServeError(CodehuntError):
    """The service cannot start: the port is in use, the host is not allowed, an extra is missing."""


def _require_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ServeError(f"`codehunt serve` needs FastAPI and uvicorn ({exc.name} is missing): pip install 'codehunt[serve]'") from exc


def _models() -> dict[str, Any]:
    """Request bodies (pydantic), made on first use so importing this module stays cheap."""
    from pydantic import BaseModel, ConfigDict, Field

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")

    class SearchRequest(Strict):
        query: str = Field(min_length=1, max_length=20_000)
        k: int = Field(10, ge=1, le=10_000)
        mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
        level: Literal["function", "file", "both"] = "function"
        rerank: bool = False
        rerank_depth: int = Field(50, ge=1, le=10_000)
        rerank_fusion: Optional[float] = Field(None, ge=0)
        rerank_path: Optional[str] = None
        fusion: Optional[str] = None  # checked by the search config (FusionConfig)
        dense_weight: Optional[float] = Field(None, ge=0, le=1)
        index: Optional[str] = None
        manifest: Optional[str] = None

    class LocalizeRequest(Strict):
        issue: str = Field(min_length=1, max_length=500_000)
        k: int = Field(10, ge=1, le=10_000)
        level: Literal["function", "file", "both"] = "both"
        mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
        include_tests: bool = False
        rerank: bool = False
        index: Optional[str] = None

    class UpdateRequest(Strict):
        index: Optional[str] = None
        wait: bool = True

    return {"search": SearchRequest, "localize": LocalizeRequest, "update": UpdateRequest}


def status_code_for(exc: BaseException) -> int:
    """HTTP status of a codehunt error raised while answering."""
    if isinstance(exc, UnknownIndexError):
        return 404
    if isinstance(exc, (UpdateInProgressError, IndexLockedError, StaleIndexError)):
        return 409
    if isinstance(exc, CorruptIndexError):
        return 500
    return 400


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def create_app(service: IndexService, max_request_bytes: int = MAX_REQUEST_BYTES) -> "FastAPI":
    """The FastAPI application over ``service`` (routes in the module docstring)."""
    _require_extra()
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from pydantic import ValidationError
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from codehunt.index.file_ranking import rank_files

    models = _models()
    app = FastAPI(title="codehunt", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, max_bytes=max_request_bytes)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def parse(kind: str, body: bytes) -> Any:
        """The request body as ``kind``'s model, whatever Content-Type the client sent (curl sends a form type)."""
        try:
            return models[kind].model_validate_json(body or b"{}")
        except ValidationError as exc:
            raise BadRequest(describe(exc.errors())) from None

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> JSONResponse:
        return error(400, f"bad request: {exc}")

    @app.exception_handler(CodehuntError)
    async def codehunt_error(request: Request, exc: CodehuntError) -> JSONResponse:
        return error(status_code_for(exc), one_line(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s", request.url.path)
        return error(500, f"internal error ({type(exc).__name__}: {one_line(exc)}); the service keeps running")

    def search(request: Any) -> JSONResponse:
        served = service.get(request.index)
        service.check_manifest(served, request.manifest)
        if request.rerank and request.rerank_path and reranker_key(request.rerank_path) != service.rerank_path:
            raise StaleIndexError(f"this service reranks with {service.rerank_path}, not {request.rerank_path}")
        index = served.index  # one generation for the whole request
        depth = request.k if request.level == "function" else max(request.k, 100)
        started = time.perf_counter()
        served.searches += 1
        hits = service.search_hits(
            index, request.query, depth, request.mode, rerank=request.rerank, rerank_depth=request.rerank_depth,
            rerank_fusion=request.rerank_fusion, fusion=request.fusion, dense_weight=request.dense_weight,
        )
        aggregation = index.search_config.file_aggregation
        body: dict[str, Any] = {"index": served.name, "manifest": served.digest, "generation": served.generation,
                                "file_aggregation": aggregation}
        if request.level == "function":
            body["hits"] = [hit.to_json() for hit in hits]
        else:
            body["hits"] = [hit.to_json() for hit in hits[: request.k]] if request.level == "both" else []
            body["files"] = [file.to_json() for file in rank_files(hits, aggregation, request.k)]
        body["took_ms"] = round((time.perf_counter() - started) * 1000, 3)
        return JSONResponse(body)

    def localize(request: Any) -> JSONResponse:
        served = service.get(request.index)
        fields = {"k": request.k, "level": request.level, "mode": request.mode, "include_tests": request.include_tests}
        return JSONResponse(service.localize(served, request.issue, fields, rerank=request.rerank))

    def update(request: Any) -> JSONResponse:
        if request.wait:
            return JSONResponse(service.update(request.index, reason="request"))
        served = service.get(request.index)
        if served.updating:
            raise UpdateInProgressError(f"an update of {served.path} is already running; retry when status shows updating=false")

        def run() -> None:
            try:
                service.update(request.index, reason="request")
            except CodehuntError:
                pass  # kept in status (last_error)

        threading.Thread(target=run, name=f"update-{served.name}", daemon=True).start()
        return JSONResponse({"index": served.name, "started": True}, status_code=202)

    def route(kind: str, work: Any) -> Any:
        async def endpoint(request: Request) -> JSONResponse:
            payload = parse(kind, await request.body())
            return await run_in_threadpool(work, payload)  # the model and FAISS run off the event loop

        return endpoint

    async def status(request: Request) -> JSONResponse:
        return JSONResponse(service.status())

    # Plain Starlette routes: the body is parsed above (any Content-Type), nothing for FastAPI to inspect.
    app.add_route("/search", route("search", search), methods=["POST"])
    app.add_route("/localize", route("localize", localize), methods=["POST"])
    app.add_route("/update", route("update", update), methods=["POST"])
    app.add_route("/status", status, methods=["GET"])
    return app


class BadRequest(Exception):
    """A request body that is not JSON or not the fields a route takes (HTTP 400)."""


def describe(errors: list[dict[str, Any]]) -> str:
    """pydantic's errors as one line: ``the body is not valid JSON (...)`` or ``k: Input should be ...``."""
    problems = []
    for item in errors:
        if item.get("type") == "json_invalid":
            problems.append(f"the body is not valid JSON ({item.get('ctx', {}).get('error', 'parse error')})")
            continue
        where = ".".join(str(part) for part in item.get("loc", ())) or "body"
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(problems) or "invalid body"


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 before the app sees it, whether it says its
    length (``Content-Length``) or streams it (chunked). Bodies under the limit are read here and handed on whole."""

    def __init__(self, app: Any, max_bytes: int = MAX_REQUEST_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        parts, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before it finished sending: nothing to answer
            parts.append(message.get("body", b""))
            size += len(parts[-1])
            if size > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(parts), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps({"error": f"request body over {self.max_bytes} bytes: send a shorter query or issue"}).encode("utf-8")
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _ignore(signum: int, frame: Any) -> None:
    log.info("signal %d after shutdown: stopping", signum)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (port 0: a free one); a port in use is a clear :class:`ServeError`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off only on sockets that say so, and with it
    # on, every keep-alive answer after the first waits ~40 ms for the client's delayed ACK of its headers.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets on Linux
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} on {host} is in use (another codehunt serve?): pass another --port, or --port 0 for a free one") from exc
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): check --host and --port") from exc
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_server(
    service: IndexService, sock: socket.socket, *, watch: bool = False, poll_seconds: float = 1.0,
    max_request_bytes: int = MAX_REQUEST_BYTES, on_ready: Any = None,
) -> None:
    """Serve ``service`` on ``sock`` until SIGINT/SIGTERM; discovery files are written once it listens and removed after.

    A monitor thread picks up indexes republished by other processes (``IndexService.refresh``); ``watch``
    also re-indexes when source files change (:mod:`codehunt.serve.watcher`).
    """
    _require_extra()
    import uvicorn

    from codehunt.serve.discovery import remove_discovery, write_discovery
    from codehunt.serve.watcher import Background

    app = create_app(service, max_request_bytes)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    url = url_of(sock)
    background = Background(service, watch=watch, poll_seconds=poll_seconds)

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.02)
        if server.should_exit:
            return
        for served in service.indexes.values():
            write_discovery(served.path, url, served.name, service.rerank_path)
        background.start()
        log.info("codehunt serve: %s at %s", ", ".join(str(s.path) for s in service.indexes.values()), url)
        if on_ready is not None:
            on_ready(url)

    threading.Thread(target=announce, name="announce", daemon=True).start()
    # uvicorn handles SIGINT/SIGTERM (graceful shutdown), then re-raises the signal to the handler it found;
    # a quiet one here lets this function return and clean up instead of the process dying on the spot.
    main = threading.current_thread() is threading.main_thread()  # signals can only be handled there
    previous = {number: signal.signal(number, _ignore) for number in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        server.run(sockets=[sock])
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        background.stop()
        for served in service.indexes.values():
            remove_discovery(served.path)
        sock.close()
