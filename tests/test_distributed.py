"""nnlab.distributed without a process group: one-process behaviour, and how a split is dealt out to ranks."""

from __future__ import annotations

import pytest
import torch

from nnlab import distributed


def test_outside_torchrun_everything_is_one_process(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert not distributed.launched() and distributed.env_rank() == 0
    assert distributed.setup_device("cpu") == torch.device("cpu") and not distributed.is_distributed()
    assert (distributed.world_size(), distributed.rank(), distributed.is_main()) == (1, 0, True)
    rows = torch.arange(6).reshape(3, 2)
    assert distributed.gather_rows(rows) is rows
    assert distributed.all_reduce_sum([1, 2.5]) == [1.0, 2.5]
    assert distributed.shard_range(10, 4) == range(10)


@pytest.mark.parametrize(("count", "batch", "world"), [(10, 4, 2), (1000, 96, 2), (200, 48, 3), (5, 4, 3), (0, 8, 2)])
def test_shards_are_whole_batches_in_order_without_padding(monkeypatch, count, batch, world):
    monkeypatch.setattr(distributed, "is_distributed", lambda: True)
    monkeypatch.setattr(distributed, "world_size", lambda: world)
    shards = []
    for rank in range(world):
        monkeypatch.setattr(distributed, "rank", lambda rank=rank: rank)
        shards.append(distributed.shard_range(count, batch))
    assert [i for shard in shards for i in shard] == list(range(count))  # in order, each item once
    assert all(shard.start % batch == 0 for shard in shards if len(shard))  # the one-process batches
    sizes = [-(-len(shard) // batch) for shard in shards]
    assert max(sizes) - min(sizes) <= 1  # batches dealt out evenly
