"""The training engine: determinism, exact resume, best-val weights, early stopping, head learning rate."""

from __future__ import annotations

import pytest
import torch

from nnlab.errors import NnlabError
from nnlab.training import TrainConfig, fit
from nnlab.training.engine import head_parameter_names, make_optimizer
from nnlab.training.recipe import DataOptions, build_new_model

CPU = torch.device("cpu")


def setup(arch="cnn-bn-dropout", augment="flip-crop"):
    data = DataOptions(dataset="digits", limit=160, image_size=16, seed=0)
    torch.manual_seed(0)
    model = build_new_model(arch, data, width=0.25)
    return model, data.load("train", augment=augment), data.load("val", subset=False)


def states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights():
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.05, schedule="cosine")
    m1, tr, va = setup()
    fit(m1, tr, va, cfg, CPU)
    m2, tr, va = setup()
    fit(m2, tr, va, cfg, CPU)
    assert states_equal(m1.state_dict(), m2.state_dict())


def test_resume_gives_the_same_final_weights(tmp_path):
    cfg = TrainConfig(epochs=3, batch_size=64, lr=0.05, schedule="onecycle", optimizer="sgd")
    full, tr, va = setup()
    fit(full, tr, va, cfg, CPU, checkpoint=tmp_path / "full.ckpt")

    part, tr, va = setup()
    ckpt = tmp_path / "part.ckpt"

    def stop_after_first(row):
        if row["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(part, tr, va, cfg, CPU, checkpoint=ckpt, on_epoch=stop_after_first)
    resumed, tr, va = setup()
    result = fit(resumed, tr, va, cfg, CPU, checkpoint=ckpt, resume=True)
    assert result.resumed_from == 2 and len(result.history) == 3
    assert states_equal(full.state_dict(), resumed.state_dict())


def test_resume_needs_the_same_number_of_processes(tmp_path):
    from nnlab.training.checkpoint import load_checkpoint, save_checkpoint

    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.05)
    model, tr, va = setup("cnn", "none")
    ckpt = tmp_path / "run.ckpt"

    def stop(row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(model, tr, va, cfg, CPU, checkpoint=ckpt, on_epoch=stop)
    state = load_checkpoint(ckpt)
    assert state["world_size"] == 1
    save_checkpoint(ckpt, {**state, "world_size": 2})  # as a 2-process torchrun run writes it
    with pytest.raises(NnlabError, match="made by 2 process"):
        fit(model, tr, va, cfg, CPU, checkpoint=ckpt, resume=True)


def test_keeps_best_validation_weights_not_the_last():
    cfg = TrainConfig(epochs=4, batch_size=32, lr=0.5, optimizer="sgd")  # a high lr makes val accuracy jump around
    model, tr, va = setup(augment="none")
    snapshots = {}

    def snap(row):
        snapshots[row["epoch"]] = {k: v.clone() for k, v in model.state_dict().items()}

    result = fit(model, tr, va, cfg, CPU, on_epoch=snap)
    best = max(result.history, key=lambda r: r["val_accuracy"])
    assert result.best_epoch == best["epoch"]
    assert states_equal(model.state_dict(), snapshots[result.best_epoch])


def test_early_stopping_with_patience():
    cfg = TrainConfig(epochs=10, batch_size=64, lr=1e-12, patience=2, weight_decay=0)
    model, tr, va = setup("cnn", augment="none")  # no batch norm: its running statistics would move val accuracy
    result = fit(model, tr, va, cfg, CPU)
    assert result.stopped_early and len(result.history) == 3


def test_head_learning_rate_gets_its_own_group():
    model = build_new_model("vgg16", DataOptions(dataset="digits"), width=0.125)
    assert head_parameter_names(model.net) and all(n.startswith("classifier") for n in head_parameter_names(model.net))
    opt = make_optimizer(model, TrainConfig(lr=1e-3, lr_head=1e-2))
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 1e-2]


def test_bad_config_values():
    for kwargs in (
        {"epochs": -1},
        {"optimizer": "rmsprop"},
        {"schedule": "cyclic"},
        {"lr": 0},
        {"patience": 0},
        {"label_smoothing": 1.5},
    ):
        with pytest.raises(NnlabError):
            TrainConfig(**kwargs)


def test_all_frozen_is_an_error():
    model, tr, va = setup(augment="none")
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(NnlabError, match="frozen"):
        fit(model, tr, va, TrainConfig(epochs=1), CPU)
