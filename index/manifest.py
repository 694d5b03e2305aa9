"""``manifest.json``: what an index directory holds and which encoder built it.

The manifest is what lets ``Index.load(path)`` work without a model argument, and what
turns "you searched a 768-d index with a 384-d model" into a clear error instead of a
FAISS assertion.
"""
from __future__ import annotations

import json
import logging
import os
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from codehunt.index.errors import CorruptIndexError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
FAST_HASH = "crc32"
"""The load-time checksum: zlib's CRC-32 over every byte of a file, with its size.

Measured on this project's machine (``benchmarks/serve_latency.py`` reports the load cost): CRC-32 runs at
~3.7 GB/s, sha256 (SHA-NI) at ~1.4 GB/s and blake2b at ~0.8 GB/s, so blake2b would be the slowest of the three.
CRC-32 catches every burst error up to 32 bits and a random corruption with probability 1 - 2^-32, which is what a
load-time check is for (disk rot, a truncated copy, a flipped byte); it is no defence against a forger, which is
what the sha256 in ``files`` and ``codehunt index verify`` are for."""


@dataclass(frozen=True)
class EncoderInfo:
    """The encoder an index was built with."""

    name: str
    fingerprint: str
    dimension: int
    max_length: int
    pooling: str
    precision: str
    model_files: str = ""
    """:func:`~codehunt.index.encoder.model_files_signature` of a local model directory ("" for a hub model or an
    older index): lets ``index update`` see that nothing changed without loading the model."""


@dataclass(frozen=True)
class IndexManifest:
    """Everything needed to load, verify and explain an index directory."""

    encoder: EncoderInfo
    index_type: str
    document_count: int
    unit_count: int
    chunker_version: str
    source: dict[str, Any]
    config: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)
    metric: str = "cosine"
    created_at: str = ""
    format_version: int = FORMAT_VERSION
    fast_hash: str = ""
    """Algorithm of ``fast_files`` (``FAST_HASH``); empty in manifests written before load-time checks existed."""
    fast_files: dict[str, str] = field(default_factory=dict)
    """Per file, ``"<size>:<crc32 hex>"``: checked by ``Index.load`` on every load (sha256 in ``files`` is for verify)."""
    build: dict[str, Any] = field(default_factory=dict)
    """What the build that wrote it did (``progress.BuildProgress``): files read and unchanged, units chunked,
    new texts embedded of those the embedding store lacked; empty in manifests written before it existed."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def read(cls, directory: Path) -> "IndexManifest":
        path = directory / MANIFEST_NAME
        if not directory.is_dir():
            raise CorruptIndexError(f"{directory} is not an index directory: build one with `codehunt index build`")
        if not path.is_file():
            raise CorruptIndexError(f"{path} is missing: {directory} is not a complete codehunt index; rebuild it")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("format_version") != FORMAT_VERSION:
                raise CorruptIndexError(
                    f"{path} has format_version {record.get('format_version')}, this codehunt reads {FORMAT_VERSION}: rebuild the index"
                )
            record["encoder"] = EncoderInfo(**record["encoder"])
            return cls(**record)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CorruptIndexError(f"{path} is corrupted ({exc}); rebuild the index") from exc


def fast_checksum_file(path: Path) -> str:
    """``"<size>:<crc32 hex>"`` of a file, read through a memory map (no copy; zlib releases the GIL)."""
    import mmap

    with Path(path).open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return "0:00000000"
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return f"{size}:{zlib.crc32(view):08x}"


def fast_checksum_tree(root: Path, exclude: tuple[str, ...] = (MANIFEST_NAME,)) -> dict[str, str]:
    """:func:`fast_checksum_file` of every file under ``root`` (POSIX relative paths), excluding ``exclude``."""
    sums: dict[str, str] = {}
    for path in sorted(Path(root).rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and relative not in exclude:
            sums[relative] = fast_checksum_file(path)
    return sums


def checksum_trees(root: Path, exclude: tuple[str, ...] = (MANIFEST_NAME,)) -> tuple[dict[str, str], dict[str, str]]:
    """(sha256, :func:`fast_checksum_file`) of every file under ``root``: ``storage.checksum_tree`` and
    :func:`fast_checksum_tree` at once, two files at a time: hashlib and zlib release the GIL on large buffers,
    so on two cores the 300 MB of a large index are summed by both (0.38 s one file at a time before)."""
    from concurrent.futures import ThreadPoolExecutor

    from codehunt.index.storage import sha256_file

    paths = [path for path in sorted(Path(root).rglob("*")) if path.is_file() and path.relative_to(root).as_posix() not in exclude]
    paths.sort(key=lambda path: -path.stat().st_size)  # the big files first, so neither thread ends with one alone
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="codehunt-checksum") as pool:
        sums = dict(zip(paths, pool.map(lambda path: (sha256_file(path), fast_checksum_file(path)), paths)))
    ordered = sorted(sums, key=lambda path: path.relative_to(root).as_posix())
    return ({path.relative_to(root).as_posix(): sums[path][0] for path in ordered},
            {path.relative_to(root).as_posix(): sums[path][1] for path in ordered})


def check_fast_checksums(directory: Path, manifest: IndexManifest, only: Iterable[str] | None = None,
                         skip: Iterable[str] = ()) -> None:
    """Raise :class:`CorruptIndexError` naming the first file whose size or CRC-32 differs from the manifest.

    ``only``/``skip`` narrow the check to some files (a file loaded later, such as a dense index a BM25 query never
    reads, is checked when it is loaded, against the manifest read at open). A manifest without ``fast_files``
    (written before this check existed) is accepted with a debug log: ``codehunt index verify`` still checks its
    sha256 sums. Cost: one read of every index file (the OS page cache usually holds them), reported by
    ``benchmarks/serve_latency.py``.
    """
    if not manifest.fast_files:
        log.debug("%s: the manifest records no fast checksums (built before they existed); skipping the load check", directory)
        return
    if manifest.fast_hash != FAST_HASH:
        raise CorruptIndexError(
            f"{directory / MANIFEST_NAME} records fast checksums of kind {manifest.fast_hash!r}; this codehunt checks "
            f"{FAST_HASH!r}: rebuild the index"
        )
    wanted = None if only is None else set(only)
    unwanted = set(skip)
    for name, expected in sorted(manifest.fast_files.items()):
        if (wanted is not None and name not in wanted) or name in unwanted:
            continue
        file = directory / name
        if not file.is_file():
            raise CorruptIndexError(f"{file} is missing: the index at {directory} is incomplete; rebuild it")
        actual = fast_checksum_file(file)
        if actual != expected:
            what = "size" if actual.split(":")[0] != expected.split(":")[0] else "checksum"
            raise CorruptIndexError(
                f"{file} is corrupted ({what} differs from {directory / MANIFEST_NAME}); rebuild the index "
                f"(`codehunt index verify {directory}` lists every damaged file)"
            )
