"""codehunt's bottom layer: corpus ingestion, storage, FAISS, BM25, fusion and metrics.

Nothing heavy is imported here, so that ``codehunt --help`` stays instant; import the
submodules you need (``from index.index import Index``).
"""
