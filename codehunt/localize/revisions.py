"""One index per repository revision, built once and cached by commit; embeddings cached by text.

Nothing is checked out: blobs are read with ``git cat-file``, so bare clones work, and the
embedding cache makes a new revision cost only the units whose text changed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codehunt.index.errors import BadInputError
from codehunt.index.git import git
from codehunt.index.paths import TEST_PATH_GLOBS, is_test_path
from codehunt.index.paths import cache_root as default_cache_root
from codehunt.localize.config import LocalizeConfig

if TYPE_CHECKING:
    from codehunt.index.encoder import Encoder
    from codehunt.index.index import Index

log = logging.getLogger(__name__)

INDEX_KEY_VERSION = 2
"""Part of every revision index's cache key; 2: test files left out by :func:`codehunt.index.paths.is_test_path`."""


def cache_root(config: LocalizeConfig) -> Path:
    if config.cache_dir is not None:
        return Path(config.cache_dir)
    return default_cache_root()


def index_config_for(config: LocalizeConfig) -> Any:
    """The IndexConfig of a localization index: the chosen model; ``exclude`` and (unless wanted) test files left out.

    Test files are left out by the :data:`~codehunt.index.paths.TEST_PATH_GLOBS` patterns before they are read,
    and :func:`revision_index` drops the few those patterns cannot name (``test_*.py`` outside a test directory).
    """
    from codehunt.index.corpus import CorpusConfig
    from codehunt.index.encoder import EncoderConfig
    from codehunt.index.index import IndexConfig
    from codehunt.index.sources import SourceConfig

    exclude = tuple(config.exclude) + (() if config.include_tests else TEST_PATH_GLOBS)
    return IndexConfig(encoder=EncoderConfig(model=config.model), corpus=CorpusConfig(source=SourceConfig(exclude=exclude)))


def revision_index_path(repo: Path, commit: str, config: LocalizeConfig) -> Path:
    """``cache/localize/<repo name>-<commit>-<key>``: the key covers the model, the chunker and the file selection."""
    from codehunt.index.chunking import CHUNKER_VERSION

    key = json.dumps(
        {"v": INDEX_KEY_VERSION, "chunker": CHUNKER_VERSION, "config": asdict(index_config_for(config))},
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    name = Path(repo).resolve().name
    if name in ("repo", ".git") or name.endswith(".git"):
        name = Path(repo).resolve().parent.name if name in ("repo", ".git") else name[: -len(".git")]
    return cache_root(config) / "localize" / f"{name}-{commit[:12]}-{digest}"


def make_encoder(config: LocalizeConfig) -> "Encoder":
    """The embedding model wrapped in the on-disk embedding cache under ``cache_dir/embeddings``."""
    from codehunt.index.embedding_cache import CachedEncoder
    from codehunt.index.encoder import SentenceTransformerEncoder

    return CachedEncoder(SentenceTransformerEncoder(index_config_for(config).encoder), cache_root(config) / "embeddings")


def revision_index(
    repo: Path, rev: str | None, config: LocalizeConfig, encoder: "Encoder | None" = None, show_progress: bool = False
) -> "Index":
    """The index of ``repo`` at ``rev`` (default HEAD), built once per commit and reused."""
    from codehunt.index.corpus import Corpus, read_codebase
    from codehunt.index.index import Index
    from codehunt.index.sources import resolve_revision

    repo = Path(repo)
    if not repo.exists():
        raise BadInputError(f"{repo} does not exist: pass a git repository (work tree or bare) with --repo")
    commit = resolve_revision(repo, rev or "HEAD")
    path = revision_index_path(repo, commit, config)
    if (path / "manifest.json").is_file():
        return Index.load(path, encoder)
    encoder = encoder if encoder is not None else make_encoder(config)
    index_config = index_config_for(config)
    started = time.perf_counter()
    corpus = read_codebase(repo, commit, index_config.corpus)  # blobs a partial clone lacks are skipped
    if not config.include_tests:
        corpus = Corpus([c for c in corpus.chunks if not is_test_path(c.path)], [s for s in corpus.skipped if not is_test_path(s.path)])
        if not corpus.chunks:
            raise BadInputError(f"{repo}@{commit[:12]} holds only test files: pass --include-tests to localize in them")
    index = Index.build_from_corpus(
        corpus, path, index_config, encoder, show_progress, {"path": str(repo.resolve()), "rev": commit}
    )
    log.info("indexed %s@%s (%d units) in %.1fs", repo, commit[:12], index.manifest.unit_count, time.perf_counter() - started)
    return index


def files_at(repo: Path, commit: str) -> set[str]:
    """Every path of ``commit`` (one ``git ls-tree``)."""
    listing = git(["ls-tree", "-r", "-z", "--name-only", commit], repo)
    return {p for p in listing.decode("utf-8", "surrogateescape").split("\0") if p}
