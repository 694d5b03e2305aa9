"""The training base shared by the retriever and the reranker trainers.

Run set-up (optimizer, schedule, bf16 choice, run-directory rules), checkpoint and resume rules, RNG state and
the batch data they both read live here, below both, as sentence-transformers keeps its trainer, sampler and
evaluation in ``base/``: retriever/ and reranker/ import from here, never from each other.
"""
