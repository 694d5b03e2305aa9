"""Path rules shared by every layer: which files are tests, and where codehunt keeps its caches.

One rule, used by issue localization (test files are never ranked, as in SWE-bench, whose gold
patches do not edit tests) and by pair mining (a test's docstring describes a test, not code).
"""
from __future__ import annotations

import os
from pathlib import Path

TEST_DIRS = frozenset({"test", "tests", "testing", "unittests", "unit_tests", "spec", "specs", "__tests__"})
"""Directory names (compared lowercased) whose whole subtree is test code."""

TEST_STEMS = frozenset({"test", "tests", "conftest"})
"""File names (lowercased, without their extension) that are test files wherever they are."""

_GLOB_EXTENSIONS = ("py", "pyi", "pyx", "go", "js", "jsx", "ts", "tsx", "rb")
TEST_PATH_GLOBS: tuple[str, ...] = (
    *(pattern for name in sorted(TEST_DIRS) for pattern in (f"{name}/*", f"*/{name}/*")),
    *(f"*{suffix}.{ext}" for suffix in ("_test", "_tests", "_spec") for ext in _GLOB_EXTENSIONS),
    *(pattern for name in sorted(TEST_STEMS) for pattern in (f"{name}.py", f"*/{name}.py")),
)
"""``fnmatch`` patterns (for ``SourceConfig.exclude``) that match only paths :func:`is_test_path` accepts, so most
test files are never read. They are a subset, not the rule: ``fnmatch``'s ``*`` also matches ``/``, so a file-name
prefix (``test_*.py``) cannot be written without also matching directories such as ``test_data/``, and the patterns
are case-sensitive. Callers that must leave out every test file filter with :func:`is_test_path` as well."""


def is_test_path(path: str) -> bool:
    """True for a test file: the rule every layer uses.

    ``path`` is repo-relative with ``/`` separators. A file is a test when a directory above it is named
    ``test``, ``tests``, ``testing``, ``unittests``, ``unit_tests``, ``spec``, ``specs`` or ``__tests__``, or when its
    name without the extension starts with ``test_``, ends with ``_test``, ``_tests`` or ``_spec``, or is ``test``,
    ``tests`` or ``conftest``; both compared case-insensitively, in any language. So ``pkg/tests/util.py``,
    ``Tests/helpers.py``, ``test_cart.py``, ``cart_test.go`` and ``conftest.py`` are tests; ``xarray/testing.py``,
    ``src/_pytest/python.py``, ``pkg/contest.py`` and ``test_data/loader.py`` are not.
    """
    parts = path.split("/")
    if any(part.lower() in TEST_DIRS for part in parts[:-1]):
        return True
    stem = parts[-1].lower().rsplit(".", 1)[0]
    return stem.startswith("test_") or stem.endswith(("_test", "_tests", "_spec")) or stem in TEST_STEMS


def cache_root() -> Path:
    """Where codehunt keeps what it can make again (evaluation and revision indexes, shared embeddings, ONNX
    exports): ``$CODEHUNT_CACHE``, default ``~/.cache/codehunt``."""
    return Path(os.environ.get("CODEHUNT_CACHE", Path.home() / ".cache" / "codehunt"))
