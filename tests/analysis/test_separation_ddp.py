"""The neighbour search shared over a process group: ``torchrun --nproc_per_node 2`` (gloo, CPU) against one
process, and the deal of tile pairs itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from nnlab.analysis import forward_ranking, nearest_neighbors, separation_indices, univariate_ranking
from nnlab.analysis.neighbours import _Group, _pairs
from tests.analysis import _brute
from tests.analysis._shard_data import sharded_case

REPO = Path(__file__).resolve().parents[2]


def test_two_processes_get_the_indices_of_one(tmp_path):
    out = tmp_path / "got"
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += [str(REPO / "tests" / "analysis" / "_shard_worker.py"), str(out)]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads(Path(f"{out}.{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1]
    got = ranks[0]
    X, y = sharded_case()
    assert got["indices"] == separation_indices(X, y, orders=(1, 3))
    one = separation_indices(X, y, orders=(2,))
    assert got["tiled"] == one and got["streamed_chunks"] == one and got["matrix"] == one
    expected = _brute.indices(X, y, 3)
    for key, value in expected.items():
        assert abs(got["indices"][key] - value) < 1e-12, key
    idx, d = nearest_neighbors(torch.tensor(X[:, :5]), 4)
    assert got["neighbours"] == idx.tolist()
    assert got["distances"] == d.tolist()
    assert got["neighbours"] == _brute.neighbours(X[:, :5], 4).tolist()
    r = forward_ranking(X, y, max_steps=4)
    assert got["ranking"] == [r.features, r.si, r.si_all]
    assert got["univariate"] == [list(v) for v in univariate_ranking(X, y)]


class _FakeGroup(_Group):
    def __init__(self, rank: int, size: int) -> None:
        self.group, self.rank, self.size = None, rank, size


def test_tile_pairs_are_dealt_out_once_each_and_evenly():
    for n, t, size in [(1000, 100, 2), (1000, 130, 3), (50, 7, 4), (10, 20, 3)]:
        everything = _pairs(n, n, t, True, _FakeGroup(0, 1))
        shares = [_pairs(n, n, t, True, _FakeGroup(r, size)) for r in range(size)]
        dealt = sorted(p for share in shares for p in share)
        assert dealt == sorted(everything)
        work = [sum((a[1] - a[0]) * (b[1] - b[0]) for a, b in share) for share in shares]
        if len(everything) >= 4 * size:
            assert max(work) <= 1.2 * sum(work) / size
