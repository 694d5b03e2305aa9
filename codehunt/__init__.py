"""codehunt: search a codebase in plain language.

The top layer: the typer CLI (``codehunt.cli``) and the pipelines that wire ``codehunt.index``,
``codehunt.retriever``, ``codehunt.reranker`` and ``codehunt.mining`` together (search, evaluate, localize).

The public API is short and loaded lazily (PEP 562), so ``import codehunt`` and ``codehunt --help`` stay
instant: ``from codehunt import Index``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Index", "IndexConfig", "Hit", "__version__"]

_LAZY = {
    "Index": "codehunt.index.index",
    "IndexConfig": "codehunt.index.index",
    "Hit": "codehunt.index.types",
}

if TYPE_CHECKING:  # pragma: no cover
    from codehunt.index.index import Index, IndexConfig
    from codehunt.index.types import Hit


def __getattr__(name: str) -> Any:
    """Import the public names on first use (PEP 562)."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'codehunt' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
