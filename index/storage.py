"""Publishing files and directories safely: temp + rename, a build lock, and checksums.

Every file codehunt publishes (JSON, JSONL, text, ``.npy``) goes through :func:`atomic_file`:
it is written to a hidden temp file beside its target and renamed over it only once complete,
so a reader sees the old file or the new one, never a partial one. A build writes everything
into a hidden sibling directory and renames it into place the same way, so an interrupted
build (Ctrl-C, OOM, power loss) leaves the previous index untouched. A non-blocking ``flock``
on a sibling lock file stops two builds from racing into the same directory.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterator

from codehunt.index.errors import BadInputError, IndexLockedError

if TYPE_CHECKING:
    import numpy as np


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_tree(root: Path, exclude: tuple[str, ...] = ("manifest.json",)) -> dict[str, str]:
    """sha256 of every file under ``root`` (POSIX relative paths), excluding ``exclude``."""
    sums: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and relative not in exclude:
            sums[relative] = sha256_file(path)
    return sums


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "w", fsync: bool = False) -> Iterator[IO[Any]]:
    """Yield a handle on a temp file beside ``path``; on success it replaces ``path``, on failure it is deleted.

    ``mode`` is ``"w"`` (UTF-8 text, ``\\n`` line ends) or ``"wb"``. ``fsync`` flushes the bytes to
    disk before the rename, for files that must survive a power loss (TREC runs). Missing parent
    directories are created. The one temp + ``os.replace`` in codehunt: every writer below uses it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    text = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
    try:
        with os.fdopen(fd, mode, **text) as handle:
            yield handle
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def write_text_atomic(path: Path, text: str, fsync: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_file(path, "w", fsync) as handle:
        handle.write(text)


def write_json_atomic(path: Path, payload: Any, indent: int | None = 2) -> None:
    """Write ``payload`` as key-sorted JSON to ``path`` atomically, indented (``indent=None``: on one line, which
    ``json`` writes with its C encoder: what large lists want)."""
    with atomic_file(path, "w") as handle:
        handle.write(json.dumps(payload, indent=indent, sort_keys=True))
        handle.write("\n")


def write_jsonl_atomic(path: Path, records: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> int:
    """Write one JSON object per line atomically; returns the number of records."""
    count = 0
    with atomic_file(path, "w") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False))
            handle.write("\n")
            count += 1
    return count


def save_npy_atomic(path: Path, array: "np.ndarray") -> None:
    """Save ``array`` as ``.npy`` (``allow_pickle=False``) atomically."""
    import numpy as np

    with atomic_file(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def read_jsonl_objects(path: Path, expected: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSONL file.

    One reader for every JSONL input (BEIR files, pairs, triples, SWE-bench instances,
    gold rows), so each says the same thing about a bad line: ``path:line``, what was
    wrong, and ``expected`` (the fields the caller needs).
    """
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInputError(f"{path}:{number}: not JSON ({exc}); expected {expected}") from exc
            if not isinstance(record, dict):
                raise BadInputError(f"{path}:{number}: not a JSON object; expected {expected}")
            yield number, record


@contextlib.contextmanager
def build_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock for building ``target``; raise if another build holds it."""
    import fcntl

    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / f".{target.name}.lock"
    with lock_path.open("a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexLockedError(
                f"{target} is being built by another process (lock {lock_path}); wait for it or choose another -o"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def staging_directory(target: Path) -> Iterator[Path]:
    """Yield an empty hidden sibling of ``target``; on success swap it into place, on failure delete it.

    The old directory is moved aside before the new one is renamed in, then removed, so at
    every instant either the old or the new complete index exists under a known name.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.building-"))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, retired)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)
