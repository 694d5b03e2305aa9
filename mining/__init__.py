"""Training data for code retrievers: (query, code) pairs, consistency filtering, hard negatives.

The data flow, each step a file a user can open::

    codebase / git history / SWE-bench instances / pair files
        -> pairs.jsonl                    (mining.pairs.mine_pairs)
        -> pairs.filtered.jsonl + report  (mining.filter.filter_consistent_pairs)
        -> triples.jsonl                  (mining.negatives.mine_negatives)

Pair sources follow CodeSearchNet (docstring -> function), commit-message and issue -> changed
function supervision, and any existing pair file; the filter and the negative sampler follow
CoRNStack (Suresh et al., 2024) with NV-Retriever's positive-aware false-negative guards
(Moreira et al., 2024). Nothing heavy is imported here.
"""
