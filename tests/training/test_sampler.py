"""The seeded, resumable batch order both trainers draw from (moved here from tests/retriever/test_data.py)."""
from __future__ import annotations

import numpy as np
import pytest

from codehunt.training.sampler import BatchOrder, TrainingDataError


def test_batch_order_shards_covers_and_is_seeded() -> None:
    order = BatchOrder(n_rows=11, batch_size=2, world_size=2, seed=5)
    assert order.per_epoch == 2  # 11 // 4: the last 3 rows of each epoch are dropped
    epoch = [order.rows(m, r).tolist() for m in range(2) for r in range(2)]
    flat = [row for rows in epoch for row in rows]
    assert len(flat) == len(set(flat)) == 8  # ranks never share a row within an epoch
    assert [BatchOrder(11, 2, 2, 5).rows(m, r).tolist() for m in range(2) for r in range(2)] == epoch
    assert order.rows(2, 0).tolist() != epoch[0] or order.rows(3, 0).tolist() != epoch[2]  # a new permutation per epoch
    assert not np.array_equal(BatchOrder(11, 2, 2, 6).rows(0, 0), order.rows(0, 0)) or \
        not np.array_equal(BatchOrder(11, 2, 2, 6).rows(1, 0), order.rows(1, 0))
    with pytest.raises(TrainingDataError, match="batch-size"):
        BatchOrder(3, 2, 2, 0)
