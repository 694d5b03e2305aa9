"""Okapi BM25 over an inverted index, score-for-score identical to ``rank_bm25.BM25Okapi``.

``rank_bm25.BM25Okapi.get_scores`` visits every document's Python dict for every query
term, so one query over 200k functions costs seconds. This index keeps numpy postings
(per-term offsets into doc-id / term-frequency arrays) and touches only the documents
that contain a query term. Scores stay bit-identical to rank_bm25 because:

* the idf values come from rank_bm25's own ``BM25Okapi._calc_idf`` (including its
  ``epsilon * average_idf`` floor for terms in more than half the documents), fed the
  document frequencies in the same first-occurrence order, so even the floating-point sum
  behind ``average_idf`` is the same;
* each term's contribution is computed with the same float64 operations in the same order
  as ``get_scores``: ``idf * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avgdl)))``;
* contributions are added per document in query-term order, and the documents skipped
  would only have received ``+ 0.0``, which changes no float.

The one divergence: with ``k1 == 0``, or ``b == 1`` and empty documents, rank_bm25 divides
0 by 0 and returns NaN for documents without the term; here those documents score 0.

BM25 itself: Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and
Beyond" (2009); the idf floor is rank_bm25's ATIRE-style variant (Trotman et al., 2014).
"""
from __future__ import annotations

import itertools
import json
import logging
import types
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from codehunt.index.errors import BadInputError, ConfigError, CorruptIndexError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
META_FILE = "bm25.json"
# name -> dtype of every array file the index persists.
ARRAY_FILES: dict[str, np.dtype[Any]] = {
    "offsets.npy": np.dtype(np.int64),  # (n_terms + 1,) postings of term t are [offsets[t], offsets[t + 1])
    "doc_ids.npy": np.dtype(np.int32),  # (n_postings,) ascending within each term
    "tfs.npy": np.dtype(np.int32),  # (n_postings,) term frequency in that document, >= 1
    "doc_lens.npy": np.dtype(np.int64),  # (n_docs,) tokens per document
    "idf.npy": np.dtype(np.float64),  # (n_terms,) rank_bm25's idf, floor applied
}


@dataclass(frozen=True)
class BM25Config:
    """BM25 Okapi parameters; the defaults are rank_bm25's."""

    k1: float = field(default=1.5, metadata={"help": "term-frequency saturation (0: presence only)"})
    b: float = field(default=0.75, metadata={"help": "document-length normalisation, 0 (none) to 1 (full)"})
    epsilon: float = field(
        default=0.25,
        metadata={"help": "idf floor for terms in more than half the documents, as a fraction of the mean idf"},
    )

    def __post_init__(self) -> None:
        if not self.k1 >= 0:
            raise ConfigError(f"BM25 k1 must be >= 0, got {self.k1}")
        if not 0 <= self.b <= 1:
            raise ConfigError(f"BM25 b must be between 0 and 1, got {self.b}")
        if not np.isfinite(self.epsilon):
            raise ConfigError(f"BM25 epsilon must be finite, got {self.epsilon}")


def _rank_bm25_idf(vocabulary: list[str], doc_freqs: np.ndarray, n_docs: int, epsilon: float) -> np.ndarray:
    """idf per term id, computed by ``rank_bm25.BM25Okapi._calc_idf`` itself.

    ``_calc_idf`` only reads ``corpus_size`` and ``epsilon`` and writes ``idf`` and
    ``average_idf``, so a namespace holding those stands in for a full BM25Okapi (whose
    constructor would rebuild the per-document dicts we avoid).
    """
    from rank_bm25 import BM25Okapi

    # Insertion order = term id order = first occurrence in the corpus, as in rank_bm25's nd.
    nd = dict(zip(vocabulary, doc_freqs.tolist()))
    holder = types.SimpleNamespace(corpus_size=n_docs, epsilon=epsilon, idf={}, average_idf=0.0)
    BM25Okapi._calc_idf(holder, nd)
    return np.fromiter((holder.idf[term] for term in vocabulary), dtype=np.float64, count=len(vocabulary))


class BM25Index:
    """An immutable BM25 Okapi index; build with :meth:`build` or :meth:`load`."""

    def __init__(
        self,
        vocabulary: list[str],
        offsets: np.ndarray,
        doc_ids: np.ndarray,
        tfs: np.ndarray,
        doc_lens: np.ndarray,
        idf: np.ndarray,
        config: BM25Config,
    ) -> None:
        self.config = config
        self.vocabulary = vocabulary
        self.term_ids = {term: i for i, term in enumerate(vocabulary)}
        self.offsets = offsets  # (n_terms + 1,)
        self.doc_ids = doc_ids  # (n_postings,)
        self.tfs = tfs  # (n_postings,)
        self.doc_lens = doc_lens  # (n_docs,)
        self.idf = idf  # (n_terms,)
        # rank_bm25 divides two Python ints, so avgdl is the correctly rounded quotient.
        self.avgdl = int(doc_lens.sum()) / len(doc_lens)
        k1, b = config.k1, config.b
        self._length_norm = k1 * (1 - b + b * doc_lens / self.avgdl)  # (n_docs,)
        self._term_weights: dict[int, np.ndarray] = {}  # term -> its postings' weights, made when a query first asks

    def term_weights(self, term: int) -> np.ndarray:
        """The BM25 weight ``tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl))`` of each posting of ``term``.

        Same operations, same order as ``BM25Okapi.get_scores``; elementwise IEEE arithmetic gives the same
        float whenever it is evaluated, so they are computed for a term when a query first uses it and kept:
        a one-shot ``codehunt search`` no longer weighs all 2.3M postings of the standard library at load
        (114 ms), and a warm process pays each term once.
        """
        weights = self._term_weights.get(term)
        if weights is None:
            start, stop = self.offsets[term], self.offsets[term + 1]
            tf = self.tfs[start:stop].astype(np.int64)
            weights = tf * (self.config.k1 + 1) / (tf + self._length_norm[self.doc_ids[start:stop]])  # (postings,)
            self._term_weights[term] = weights
        return weights

    @property
    def n_docs(self) -> int:
        return len(self.doc_lens)

    @classmethod
    def build(cls, tokenized_docs: Sequence[list[str]], config: BM25Config = BM25Config()) -> BM25Index:
        """Index ``tokenized_docs`` (document i gets id i); raises BadInputError if there is no token at all."""
        n_docs = len(tokenized_docs)
        if n_docs == 0:
            raise BadInputError("cannot build a BM25 index over an empty corpus")
        doc_lens = np.fromiter(map(len, tokenized_docs), dtype=np.int64, count=n_docs)  # (n_docs,)
        n_tokens = int(doc_lens.sum())
        if n_tokens == 0:
            raise BadInputError(f"cannot build a BM25 index: all {n_docs} documents are empty")
        tokens = list(itertools.chain.from_iterable(tokenized_docs))
        # dict.fromkeys keeps first occurrences in order: the same order rank_bm25 fills nd in.
        vocabulary = list(dict.fromkeys(tokens))
        term_ids = {term: i for i, term in enumerate(vocabulary)}
        token_terms = np.fromiter(map(term_ids.__getitem__, tokens), dtype=np.int64, count=n_tokens)
        del tokens
        token_docs = np.repeat(np.arange(n_docs, dtype=np.int64), doc_lens)  # (n_tokens,)
        # One sort of (term, doc) keys yields every posting list, doc ids ascending.
        keys, tfs = np.unique(token_terms * n_docs + token_docs, return_counts=True)
        del token_terms, token_docs
        posting_terms = keys // n_docs
        doc_ids = (keys - posting_terms * n_docs).astype(np.int32)
        doc_freqs = np.bincount(posting_terms, minlength=len(vocabulary))  # (n_terms,)
        offsets = np.zeros(len(vocabulary) + 1, dtype=np.int64)
        np.cumsum(doc_freqs, out=offsets[1:])
        idf = _rank_bm25_idf(vocabulary, doc_freqs, n_docs, config.epsilon)
        log.info("BM25 index: %d docs, %d terms, %d postings", n_docs, len(vocabulary), len(doc_ids))
        return cls(vocabulary, offsets, doc_ids, tfs.astype(np.int32), doc_lens, idf, config)

    def _accumulate(self, query_tokens: Sequence[str], scores: np.ndarray, hit: np.ndarray | None) -> None:
        for token in query_tokens:
            term = self.term_ids.get(token)
            if term is None:
                continue  # rank_bm25 adds 0 * ... == 0.0 for unknown terms
            start, stop = self.offsets[term], self.offsets[term + 1]
            docs = self.doc_ids[start:stop]
            # Python float * array, as rank_bm25's `(self.idf.get(q) or 0) * (...)`.
            scores[docs] += float(self.idf[term]) * self.term_weights(term)
            if hit is not None:
                hit[docs] = True

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every document, (n_docs,) float64, equal to ``BM25Okapi.get_scores``.

        Repeated query tokens count once per occurrence; tokens not in the vocabulary add 0.
        """
        scores = np.zeros(self.n_docs)
        self._accumulate(query_tokens, scores, None)
        return scores

    def top_k(self, query_tokens: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best documents: (doc ids int64, scores float64), score descending, ties by lower id.

        Only documents that contain at least one query token are candidates, so fewer than
        ``k`` (possibly none) come back when fewer documents match; a matching document is
        returned even if its score is 0 or negative (possible when a term's idf floor is
        negative, i.e. on tiny corpora).
        """
        empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))
        if k <= 0:
            return empty
        scores = np.zeros(self.n_docs)
        hit = np.zeros(self.n_docs, dtype=bool)
        self._accumulate(query_tokens, scores, hit)
        candidates = np.flatnonzero(hit)  # ascending doc ids
        if len(candidates) == 0:
            return empty
        candidate_scores = scores[candidates]
        if k < len(candidates):
            # Keep everything tied with the k-th best score so the tie-break below sees all of them.
            kth = np.partition(candidate_scores, len(candidates) - k)[len(candidates) - k]
            keep = candidate_scores >= kth
            candidates, candidate_scores = candidates[keep], candidate_scores[keep]
        # Stable sort on ascending ids: equal scores stay in id order.
        order = np.argsort(-candidate_scores, kind="stable")[:k]
        return candidates[order].astype(np.int64), candidate_scores[order]

    def save(self, directory: Path) -> None:
        """Write the index as ``.npy`` arrays plus ``bm25.json``, published atomically into ``directory``."""
        from codehunt.index.storage import staging_directory, write_json_atomic

        directory = Path(directory)
        arrays = {
            "offsets.npy": self.offsets,
            "doc_ids.npy": self.doc_ids,
            "tfs.npy": self.tfs,
            "doc_lens.npy": self.doc_lens,
            "idf.npy": self.idf,
        }
        with staging_directory(directory) as staging:
            for name, array in arrays.items():
                np.save(staging / name, np.ascontiguousarray(array, dtype=ARRAY_FILES[name]), allow_pickle=False)
            write_json_atomic(
                staging / META_FILE,
                {
                    "format_version": FORMAT_VERSION,
                    "kind": "bm25-okapi",
                    "config": asdict(self.config),
                    "n_docs": self.n_docs,
                    "n_postings": int(len(self.doc_ids)),
                    "vocabulary": self.vocabulary,
                },
            )

    @classmethod
    def load(cls, directory: Path) -> BM25Index:
        """Read an index written by :meth:`save`; raises CorruptIndexError naming the bad file."""
        directory = Path(directory)
        meta_path = directory / META_FILE
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptIndexError(f"{meta_path}: cannot read BM25 metadata ({exc}); rebuild the index") from exc

        def bad(path: Path, why: str) -> CorruptIndexError:
            return CorruptIndexError(f"{path}: {why}; rebuild the index")

        if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
            version = meta.get("format_version") if isinstance(meta, dict) else None
            raise bad(meta_path, f"unsupported BM25 format_version {version!r} (this codehunt reads {FORMAT_VERSION})")
        try:
            config_fields = {f.name for f in fields(BM25Config)}
            config = BM25Config(**{key: float(meta["config"][key]) for key in config_fields})
            vocabulary = meta["vocabulary"]
            n_docs, n_postings = int(meta["n_docs"]), int(meta["n_postings"])
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise bad(meta_path, f"missing or invalid field ({exc!r})") from exc
        if not isinstance(vocabulary, list) or not all(isinstance(term, str) for term in vocabulary):
            raise bad(meta_path, "vocabulary is not a list of strings")
        if len(set(vocabulary)) != len(vocabulary):
            raise bad(meta_path, "vocabulary has duplicate terms")

        n_terms = len(vocabulary)
        expected_shapes = {
            "offsets.npy": n_terms + 1,
            "doc_ids.npy": n_postings,
            "tfs.npy": n_postings,
            "doc_lens.npy": n_docs,
            "idf.npy": n_terms,
        }
        arrays: dict[str, np.ndarray] = {}
        for name, dtype in ARRAY_FILES.items():
            path = directory / name
            try:
                array = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise bad(path, f"missing or truncated ({exc})") from exc
            if array.dtype != dtype or array.shape != (expected_shapes[name],):
                raise bad(
                    path,
                    f"expected {dtype} of shape ({expected_shapes[name]},) from {META_FILE}, "
                    f"found {array.dtype} of shape {array.shape}",
                )
            arrays[name] = array

        offsets, doc_ids, tfs = arrays["offsets.npy"], arrays["doc_ids.npy"], arrays["tfs.npy"]
        if offsets[0] != 0 or offsets[-1] != n_postings or np.any(np.diff(offsets) < 1):
            raise bad(directory / "offsets.npy", "offsets do not partition the postings")
        if n_postings and (doc_ids.min() < 0 or doc_ids.max() >= n_docs):
            raise bad(directory / "doc_ids.npy", f"doc ids outside [0, {n_docs})")
        if n_postings and tfs.min() < 1:
            raise bad(directory / "tfs.npy", "term frequencies below 1")
        if n_docs == 0 or arrays["doc_lens.npy"].min() < 0:
            raise bad(directory / "doc_lens.npy", "no documents or negative lengths")
        return cls(vocabulary, offsets, doc_ids, tfs, arrays["doc_lens.npy"], arrays["idf.npy"], config)
