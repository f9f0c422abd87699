"""Checkpoints are safetensors + JSON: exact round trip, and no pickle is ever read."""

from __future__ import annotations

import math
import pickle

import pytest
import torch

from nnlab.errors import ArtifactError
from nnlab.training.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_keeps_key_types_tuples_non_finite_floats_and_tensors(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[0.1], total_steps=10)
    state = {
        "epoch": 3,
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "none": None,
        "history": [{"epoch": 1, "train_accuracy": float("nan"), "lr": 0.1}],
        "inf": -math.inf,
        "model": net.state_dict(),
        "tuple": (1, "a", (2.5,)),
    }
    save_checkpoint(tmp_path / "c.ckpt", state)
    back = load_checkpoint(tmp_path / "c.ckpt")
    assert back["epoch"] == 3 and back["none"] is None and back["tuple"] == (1, "a", (2.5,))
    assert math.isnan(back["history"][0]["train_accuracy"]) and back["inf"] == -math.inf
    assert list(back["optimizer"]["state"]) == [0, 1]  # int keys stay ints
    assert back["optimizer"]["param_groups"][0]["betas"] == opt.state_dict()["param_groups"][0]["betas"]
    assert all(torch.equal(back["model"][k], v) for k, v in net.state_dict().items())
    opt2 = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=1e-3)
    opt2.load_state_dict(back["optimizer"])
    torch.optim.lr_scheduler.OneCycleLR(opt2, max_lr=[0.1], total_steps=10).load_state_dict(back["scheduler"])


@pytest.mark.parametrize("writer", ["pickle", "torch"])
def test_pickled_checkpoints_are_refused(tmp_path, writer):
    path = tmp_path / "c.ckpt"
    if writer == "pickle":
        path.write_bytes(pickle.dumps({"epoch": 1}))
    else:
        torch.save({"epoch": 1}, path)
    with pytest.raises(ArtifactError, match="c.ckpt"):
        load_checkpoint(path)
