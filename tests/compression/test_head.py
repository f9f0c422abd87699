"""fit-head's library side: cached and uncached training give the same head, the backbone stays frozen and in
eval mode, the compressed model round-trips with identical logits, ranking checks."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from nnlab.compression import (
    HeadTrainer,
    build_headed,
    parse_hidden,
    require_truncated,
    select_from_ranking,
    train_head,
)
from nnlab.errors import NnlabError
from nnlab.models import create_classifier, load_model, save_model, truncate
from nnlab.training import TrainConfig
from nnlab.training.recipe import DataOptions, dataset_for_model

CLASSES = [str(i) for i in range(10)]


@pytest.fixture(scope="module")
def trunc():
    torch.manual_seed(0)
    return truncate(create_classifier("vgg16", CLASSES, channels=1, width=0.0625), 23)


@pytest.fixture(scope="module")
def data(trunc):
    opts = DataOptions(dataset="digits", limit=120, seed=0)
    train = dataset_for_model(trunc, opts, "train")
    val = dataset_for_model(trunc, DataOptions(dataset="digits", limit=60, seed=0), "val")
    return train, val


def _fit(trunc, data, cache):
    model = build_headed(trunc, [3, 1, 4, 15, 9, 26, 5, 35], [16], 0.2, seed=7)
    config = TrainConfig(epochs=2, batch_size=32, optimizer="adam", lr=1e-2, weight_decay=0.0, seed=7)
    result = train_head(model, data[0], data[1], config, torch.device("cpu"), cache=cache)
    return model, result


def test_cached_and_uncached_give_the_same_head(trunc, data):
    cached, r1 = _fit(trunc, data, cache=True)
    plain, r2 = _fit(trunc, data, cache=False)
    head1, head2 = cached.net.head.state_dict(), plain.net.head.state_dict()
    assert set(head1) == set(head2)
    for key in head1:
        assert torch.allclose(head1[key], head2[key], atol=1e-5), key
    assert [round(r["train_loss"], 4) for r in r1.history] == [round(r["train_loss"], 4) for r in r2.history]
    # the backbone never changed
    for key, value in trunc.net.state_dict().items():
        assert torch.equal(cached.net.state_dict()[key], value)
    assert not torch.equal(
        head1["0.weight"],
        build_headed(trunc, [3, 1, 4, 15, 9, 26, 5, 35], [16], 0.2, 7).net.head.state_dict()["0.weight"],
    )


def test_backbone_is_frozen_and_stays_in_eval_mode(trunc):
    model = build_headed(trunc, None, [], 0.2, seed=0)
    trainer = HeadTrainer(model).train()
    assert model.net.head.training
    assert all(not child.training for name, child in model.net.named_children() if name != "head")
    trainable = {n for n, p in model.net.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("head.") for n in trainable)
    assert trainer.net is model.net


def test_round_trip_gives_identical_logits(trunc, tmp_path):
    model = build_headed(trunc, list(range(0, 128, 3)), [12, 12], 0.2, seed=1).eval()
    path = save_model(tmp_path / "c.safetensors", model)
    again = load_model(path)
    x = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert [op["op"] for op in again.spec.surgery] == ["truncate", "select", "head"]


def test_require_truncated(trunc):
    with pytest.raises(NnlabError, match="not truncated"):
        require_truncated(create_classifier("vgg16", CLASSES, width=0.0625))
    with pytest.raises(NnlabError, match="already has"):
        require_truncated(build_headed(trunc, None, [], 0.0, 0))


def test_parse_hidden():
    assert parse_hidden("") == [] and parse_hidden("4096,4096") == [4096, 4096]
    assert parse_hidden("4096,4096", 0.125) == [512, 512]
    with pytest.raises(NnlabError, match="hidden widths"):
        parse_hidden("wide")


def test_select_from_ranking_checks():
    df = pd.DataFrame({"step": [1, 2, 3], "feature": [5, 0, 7], "si": [0.5, 0.7, 0.6]})
    meta = {"cut": "features.23", "feature_dim": 8, "best_step": 2, "arch": "vgg16", "width": 0.25}
    kw = dict(cut="features.23", dim=8, arch="vgg16", width=0.25)
    assert select_from_ranking(df, meta, top=None, best=True, **kw) == [5, 0]
    assert select_from_ranking(df, meta, top=3, best=False, **kw) == [5, 0, 7]
    with pytest.raises(NnlabError, match="larger than the feature count"):
        select_from_ranking(df, meta, top=9, best=False, **kw)
    with pytest.raises(NnlabError, match="larger than the ranking"):
        select_from_ranking(df, meta, top=4, best=False, **kw)
    with pytest.raises(NnlabError, match="another layer"):
        select_from_ranking(df, meta, top=2, best=False, **{**kw, "cut": "features.16"})
    with pytest.raises(NnlabError, match="another layer or width"):
        select_from_ranking(df, meta, top=2, best=False, **{**kw, "dim": 16})
    with pytest.raises(NnlabError, match="another width"):
        select_from_ranking(df, {**meta, "feature_dim": None}, top=2, best=False, **{**kw, "width": 0.5})
    with pytest.raises(NnlabError, match="either top N or best"):
        select_from_ranking(df, meta, top=2, best=True, **kw)
