"""Run by tests/analysis/test_separation_ddp.py under ``torchrun --nproc_per_node 2``: the indices and the
neighbours of fixed data with the work shared over the process group; every rank writes what it got."""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
import torch.distributed as dist

from nnlab.analysis import forward_ranking, nearest_neighbors, separation_indices, univariate_ranking
from tests.analysis._shard_data import sharded_case


def main(out: str) -> None:
    dist.init_process_group("gloo")
    X, y = sharded_case()
    world = dist.group.WORLD
    got = {
        "indices": separation_indices(X, y, orders=(1, 3), group=world),
        "tiled": separation_indices(X, y, orders=(2,), block_rows=37, group=world),
        "streamed_chunks": separation_indices(X, y, orders=(2,), memory_budget_mb=0.5, group=world),
        "matrix": separation_indices(X, y, orders=(2,), memory_budget_mb=0.01, group=world),
    }
    idx, d = nearest_neighbors(torch.tensor(X[:, :5]), 4, block_rows=50, group=world)
    got["neighbours"] = idx.tolist()
    got["distances"] = d.tolist()
    r = forward_ranking(X, y, max_steps=4, group=world)  # first step and SI with all features shared out
    got["ranking"] = [r.features, r.si, r.si_all]
    got["univariate"] = list(univariate_ranking(X, y, group=world))
    with open(f"{out}.{dist.get_rank()}.json", "w") as f:
        json.dump(got, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main(sys.argv[1])
