"""Training the bi-encoder retriever: momentum-queue contrastive learning (MoCo, CoCoSoDa).

``retriever.train.train_retriever(RetrieverTrainConfig(...))`` trains a sentence-transformers
model on mined triples or plain pairs and publishes a directory that ``SentenceTransformer(path)``
loads. Modules: ``config`` (options), ``data`` (datasets + batch order), ``augment`` (soft code
augmentation), ``queue`` (key queues), ``loss`` (InfoNCE / DCL / MoCHi with masking),
``model`` (encoder, EMA key encoder, saving), ``checkpoint`` and ``train``.

Nothing heavy is imported here; ``retriever.config`` imports no torch, so a CLI can build a
config without paying for torch.
"""
