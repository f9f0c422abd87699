"""Cut choice from an SI profile (the seed's own profile picks 23), exact seed parameter counts, truncation."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from nnlab.compression import choose_cut, pooling_layers
from nnlab.compression.cut import DEFAULT_THRESHOLD
from nnlab.errors import NnlabError
from nnlab.models import attach_head, count_parameters, create_classifier, create_model, truncate

CLASSES = [str(i) for i in range(10)]
# seed S0's train SI of VGG16 `features` 0..30 on CIFAR-10 (SEEDS.md)
SEED_SI = [
    0.1704,
    0.1704,
    0.1512,
    0.1512,
    0.1804,
    0.2024,
    0.2024,
    0.2232,
    0.2232,
    0.2952,
    0.3756,
    0.3756,
    0.4456,
    0.4456,
    0.4472,
    0.4472,
    0.5932,
    0.8032,
    0.8032,
    0.924,
    0.924,
    0.964,
    0.964,
    0.9732,
    0.9836,
    0.9836,
    0.988,
    0.988,
    0.9832,
    0.9832,
    0.9884,
]


def _profile(values, split="train"):
    return pd.DataFrame(
        {
            "layer_index": range(len(values)),
            "layer_name": [f"features.{i}" for i in range(len(values))],
            "split": split,
            "si": values,
        }
    )


@pytest.fixture(scope="module")
def vgg_pools():
    with torch.device("meta"):
        net = create_model("vgg16", num_classes=10, width=0.125)
    return pooling_layers(net)


def test_vgg16_pooling_layers(vgg_pools):
    assert vgg_pools == ["features.4", "features.9", "features.16", "features.23", "features.30"]


def test_seed_profile_picks_23(vgg_pools):
    both = pd.concat([_profile(SEED_SI), _profile([0.5] * 31, "test")])  # other splits are ignored
    choice = choose_cut(both, vgg_pools)
    assert DEFAULT_THRESHOLD == 0.02
    assert (choice.index, choice.name) == (23, "features.23")
    assert choice.si == pytest.approx(0.9732) and choice.gain_after == pytest.approx(0.0152)
    assert [c["index"] for c in choice.candidates] == [4, 9, 16, 23, 30]


def test_threshold_moves_the_cut(vgg_pools):
    assert choose_cut(_profile(SEED_SI), vgg_pools, threshold=0.5).index == 16
    assert choose_cut(_profile(SEED_SI), vgg_pools, threshold=0.01).index == 30  # nothing gains < 0.01 before 30
    assert choose_cut(_profile(SEED_SI), vgg_pools, threshold=0.0).index == 30  # the last pool when none qualifies


def test_bad_profiles(vgg_pools):
    with pytest.raises(NnlabError, match="no 'train' rows"):
        choose_cut(_profile(SEED_SI, "test"), vgg_pools)
    foreign = _profile(SEED_SI).assign(layer_name=[f"layer{i}" for i in range(31)])
    with pytest.raises(NnlabError, match="another model"):
        choose_cut(foreign, vgg_pools)
    with pytest.raises(NnlabError, match="threshold"):
        choose_cut(_profile(SEED_SI), vgg_pools, threshold=2.0)


def test_seed_parameter_counts_on_meta_device():
    with torch.device("meta"):
        original = create_classifier("vgg16", CLASSES)
        cut = truncate(original, 23)
        linear = attach_head(cut, list(range(400)), hidden=[], dropout=0.2)
        deep = attach_head(cut, list(range(400)), hidden=[4096, 4096], dropout=0.2)
    assert count_parameters(original)[0] == 134_301_514
    assert count_parameters(linear)[0] == 7_639_274
    assert count_parameters(deep)[0] == 26_100_042


def test_truncate_every_vgg16_index_gives_that_layers_flattened_activation():
    torch.manual_seed(0)
    model = create_classifier("vgg16", CLASSES, width=0.0625)
    x = torch.rand(2, 3, 32, 32)
    seen = {}
    hooks = [
        m.register_forward_hook(lambda _m, _i, out, k=k: seen.__setitem__(k, out.flatten(1)))
        for k, m in enumerate(model.net.features)
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    assert len(seen) == 31
    for index in range(31):
        cut = truncate(model, index).eval()
        with torch.no_grad():
            out = cut(x)
        assert out.shape == seen[index].shape
        assert torch.equal(out, seen[index]), index
