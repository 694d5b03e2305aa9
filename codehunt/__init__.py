"""codehunt: search a codebase in plain language.

The top layer: the typer CLI (``codehunt.cli``) and the pipelines that wire ``index``,
``retriever``, ``reranker`` and ``mining`` together (search, evaluate, localize).
"""
__version__ = "0.1.0"
