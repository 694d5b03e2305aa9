"""Typed errors whose messages name the file at fault and the fix.

The CLI maps every :class:`CodehuntError` to exit code 1 with its one-line message (a
:class:`ConfigError` raised while the CLI turns its options into a config is a usage error,
exit code 2); anything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class CodehuntError(Exception):
    """Base class for errors caused by user input (paths, models, index files)."""


class BadInputError(CodehuntError):
    """The input path does not exist, is empty, or holds nothing indexable."""


class ModelLoadError(CodehuntError):
    """A model path or hub name could not be loaded."""


class IncompatibleIndexError(CodehuntError):
    """The index was built with another encoder (name, fingerprint or dimension)."""


class CorruptIndexError(CodehuntError):
    """An index file is missing, truncated or fails its checksum."""


class IndexLockedError(CodehuntError):
    """Another build holds the lock on this output directory."""


class ConfigError(CodehuntError):
    """A configuration value that cannot work (unknown choice, out of range); raised before any work starts."""
