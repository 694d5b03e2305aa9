"""The order of training rows: a pure function of (seed, micro-batch index, rank, world size).

Both trainers draw their micro-batches from :class:`BatchOrder` (the retriever its pairs, the
reranker its groups), so a resumed run needs only the micro-batch index to continue where it
stopped, and data-parallel processes never share a row within an epoch.
"""
from __future__ import annotations

import numpy as np

from codehunt.index.errors import BadInputError


class TrainingDataError(BadInputError):
    """The training file or folder is missing, empty, has none of the known layouts, or cannot fill one batch."""


class BatchOrder:
    """Which rows micro-batch ``m`` holds on ``rank``: epoch e is a seeded permutation, cut into global batches.

    A global micro-batch has ``batch_size * world_size`` rows and rank r takes the r-th slice, so
    the processes never share a row within an epoch. The last incomplete global batch of each
    epoch is dropped (all-gather needs equal sizes). ``salt`` gives an independent order over the
    same rows (the retriever's queue warm-up uses 1).
    """

    def __init__(self, n_rows: int, batch_size: int, world_size: int, seed: int, salt: int = 0):
        self.n_rows, self.batch_size, self.world_size, self.seed, self.salt = n_rows, batch_size, world_size, seed, salt
        self.per_epoch = n_rows // (batch_size * world_size)
        if self.per_epoch < 1:
            raise TrainingDataError(
                f"{n_rows} training rows cannot fill one batch of {batch_size} x {world_size} processes: lower --batch-size"
            )
        self._epoch, self._permutation = -1, np.arange(0)

    def rows(self, micro_index: int, rank: int = 0) -> np.ndarray:
        """Row numbers of global micro-batch ``micro_index`` on process ``rank``, (batch_size,) int64."""
        epoch, offset = divmod(micro_index, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._permutation = np.random.default_rng([self.seed, self.salt, epoch]).permutation(self.n_rows)
        start = offset * self.batch_size * self.world_size + rank * self.batch_size
        return self._permutation[start : start + self.batch_size]
