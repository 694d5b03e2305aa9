"""Keeping served indexes fresh: a monitor for republished directories, and ``--watch`` on the source trees.

- The monitor polls each index's ``manifest.json`` (a ``stat``, every ``poll_seconds``) and swaps in a
  directory another process republished (``IndexService.refresh``); a deleted directory keeps being served
  from memory and is reported once.
- ``--watch`` runs ``watchfiles`` over each index's source tree (the path its manifest records) and hands
  every batch of changes to that index's update worker. The worker runs one update at a time and coalesces:
  changes that arrive during an update trigger one more update after it, so none is lost, and an update
  started by a request (409 for the worker) is waited out and followed by the worker's own.

Changes under the index directory itself (an index kept inside its source tree), its lock, staging and
discovery files, ``.git`` and the usual caches are ignored, so publishing never triggers itself.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from codehunt.index.errors import CodehuntError
from codehunt.serve.service import IndexService, UpdateInProgressError

log = logging.getLogger(__name__)


class UpdateWorker:
    """One index's updates, one at a time; :meth:`request` while one runs queues exactly one more."""

    def __init__(self, service: IndexService, name: str, stop: threading.Event, retry_seconds: float = 0.5):
        self.service = service
        self.name = name
        self.stop = stop
        self.retry_seconds = retry_seconds
        self.pending = threading.Event()
        self.runs = 0
        self.thread = threading.Thread(target=self._loop, name=f"update-worker-{name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def request(self) -> None:
        self.pending.set()

    def _loop(self) -> None:
        while not self.stop.is_set():
            if not self.pending.wait(timeout=0.2):
                continue
            self.pending.clear()
            try:
                self.service.update(self.name, reason="watch")
                self.runs += 1
            except UpdateInProgressError:
                self.pending.set()  # a request's update is running: ours follows it, the change is not lost
                self.stop.wait(self.retry_seconds)
            except CodehuntError as exc:
                log.warning("watch update of %s failed (still serving the previous index): %s", self.name, exc)


def source_filter(index_path: Path) -> Any:
    """A ``watchfiles`` filter: the default one (``.git``, caches, editor swap files) minus the index's own files."""
    from watchfiles import DefaultFilter

    index_path = Path(index_path).resolve()
    own_prefix = f".{index_path.name}."  # .NAME.lock, .NAME.serve.json, .NAME.building-*, .NAME.old-*
    default = DefaultFilter()

    def keep(change: Any, path: str) -> bool:
        resolved = Path(path)
        if resolved == index_path or index_path in resolved.parents:
            return False
        if resolved.parent == index_path.parent and resolved.name.startswith(own_prefix):
            return False
        if any(part.startswith(own_prefix) for part in resolved.parts):
            return False
        return default(change, path)

    return keep


class Background:
    """The monitor thread and, with ``watch``, one watcher thread and update worker per index."""

    def __init__(self, service: IndexService, watch: bool = False, poll_seconds: float = 1.0, debounce_ms: int = 800):
        self.service = service
        self.watch = watch
        self.poll_seconds = poll_seconds
        self.debounce_ms = debounce_ms
        self.stop_event = threading.Event()
        self.workers: dict[str, UpdateWorker] = {}
        self.threads: list[threading.Thread] = []
        self._missing: set[str] = set()

    def start(self) -> None:
        if self.watch:
            try:
                import watchfiles  # noqa: F401
            except ImportError as exc:
                from codehunt.serve.app import ServeError

                raise ServeError("--watch needs watchfiles: pip install 'codehunt[serve]'") from exc
            for name, served in self.service.indexes.items():
                source = served.index.manifest.source.get("path")
                if not source or not Path(source).is_dir():
                    log.warning("--watch: %s was built from %s, not a directory; it is not watched", served.path, source)
                    continue
                if served.index.manifest.source.get("rev"):
                    log.warning("--watch: %s indexes revision %s, which edits to the work tree do not change; it is not watched",
                                served.path, served.index.manifest.source["rev"])
                    continue
                worker = UpdateWorker(self.service, name, self.stop_event)
                worker.start()
                self.workers[name] = worker
                thread = threading.Thread(target=self._watch, args=(name, Path(source), worker), name=f"watch-{name}", daemon=True)
                thread.start()
                self.threads.append(thread)
        monitor = threading.Thread(target=self._monitor, name="index-monitor", daemon=True)
        monitor.start()
        self.threads.append(monitor)

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=5)

    def _watch(self, name: str, source: Path, worker: UpdateWorker) -> None:
        from watchfiles import watch

        served = self.service.indexes[name]
        try:
            for changes in watch(source, watch_filter=source_filter(served.path), stop_event=self.stop_event,
                                 debounce=self.debounce_ms, step=50, yield_on_timeout=False, raise_interrupt=False):
                log.info("%d change(s) under %s: updating %s", len(changes), source, name)
                worker.request()
        except Exception as exc:  # noqa: BLE001 - a watcher that dies must not take the service with it
            log.warning("--watch of %s stopped (%s: %s); the index is still served", source, type(exc).__name__, exc)

    def _monitor(self) -> None:
        while not self.stop_event.wait(self.poll_seconds):
            for name, served in self.service.indexes.items():
                try:
                    self.service.refresh(name)
                except Exception as exc:  # noqa: BLE001
                    log.warning("checking %s failed: %s", served.path, exc)
                missing = not (served.path / "manifest.json").is_file()
                if missing and name not in self._missing:
                    log.warning("%s was deleted; still serving it from memory (generation %d)", served.path, served.generation)
                    self._missing.add(name)
                elif not missing:
                    self._missing.discard(name)
