"""Training the bi-encoder retriever: momentum-queue contrastive learning (MoCo, CoCoSoDa).

``retriever.train.train_retriever(RetrieverTrainConfig(...))`` trains a sentence-transformers
model on mined triples or plain pairs and publishes a directory that ``SentenceTransformer(path)``
loads. Modules: ``config`` (options), ``data`` (datasets), ``augment`` (soft code augmentation),
``queue`` (key queues), ``loss`` (InfoNCE / DCL / MoCHi with masking), ``model`` (encoder, EMA key
encoder, saving) and ``train``; the batch order, checkpoints and run set-up it shares with the
reranker are in ``training/``.

Nothing heavy is imported here; ``retriever.config`` imports no torch, so a CLI can build a
config without paying for torch.
"""
