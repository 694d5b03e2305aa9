"""``codehunt serve``: one warm process that holds indexes, the model and a reranker, and answers JSON over HTTP.

Modules: ``service`` (:class:`~codehunt.serve.service.IndexService`: the loaded state, search, localize,
status, update with an atomic swap), ``app`` (the FastAPI routes, the body limit, the socket and the uvicorn
loop), ``discovery`` (the ``.<name>.serve.json`` file beside an index and the standard-library client that
``codehunt search`` uses) and ``watcher`` (``--watch`` and the monitor for indexes republished by other
processes). Importing this package imports none of them: ``codehunt search`` loads only ``discovery``.
"""
from __future__ import annotations
