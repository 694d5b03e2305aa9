"""BEIR folders for the pipelines: the reader lives in :mod:`codehunt.index.beir` (one split rule for every caller).

Kept as a name for scripts that import ``codehunt.beir.load_beir``; new code imports ``codehunt.index.beir``.
"""
from __future__ import annotations

from codehunt.index.beir import BeirSplit, load_beir

__all__ = ["BeirSplit", "load_beir"]
