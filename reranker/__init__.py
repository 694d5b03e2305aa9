"""Cross-encoder reranking: rescore a search's top candidates, and train the model that does it.

``reranker.model`` holds the ``Rescorer`` seam and ``load_rescorer(path)``; ``reranker.train``
holds ``train_reranker(config)``; ``reranker.evaluate`` scores labelled pairs (accuracy, AUC).
Nothing heavy is imported here, so importing the package is instant.
"""
