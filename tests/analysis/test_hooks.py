from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from nnlab.analysis import (
    extract_activations,
    separation_indices,
    si_profile,
    si_profile_features,
)
from nnlab.analysis.hooks import layer_dims
from nnlab.errors import NnlabError


def _setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    images = torch.rand(30, 1, 4, 4)
    labels = torch.arange(30) % 3
    return model, images, labels, TensorDataset(images, labels)


def test_extract_activations_flattens_in_sample_order():
    model, images, labels, ds = _setup()
    acts, y = extract_activations(model, ds, ["1", "3"], batch_size=7)
    assert list(acts) == ["1", "3"]
    assert acts["1"].shape == (30, 48) and acts["3"].shape == (30, 5)
    with torch.no_grad():
        assert torch.allclose(acts["1"], model[1](model[0](images)).reshape(30, -1))
        assert torch.allclose(acts["3"], model(images))
    assert torch.equal(y, labels)
    half, _ = extract_activations(model, ds, ["3"], dtype=torch.float16)
    assert half["3"].dtype == torch.float16


def test_forward_pass_stops_after_the_last_requested_layer():
    model, _, _, ds = _setup()
    calls = []
    model[3].register_forward_hook(lambda *a: calls.append(1))
    extract_activations(model, ds, ["1"], batch_size=10)
    assert calls == []  # the Linear layer after the hooked ReLU never ran


def test_unknown_layer_lists_valid_names():
    from nnlab.training.recipe import DataOptions, build_new_model

    model = build_new_model("cnn", DataOptions(dataset="digits"), width=0.25)
    _, _, _, ds = _setup()
    with pytest.raises(NnlabError, match=r"unknown layer 'nosuch'.*flatten"):
        extract_activations(model, ds, ["nosuch"])


def test_si_profile_one_row_per_layer_and_split_matches_direct_computation():
    from nnlab.training.recipe import DataOptions, build_new_model

    data = DataOptions(dataset="digits", image_size=16, limit=120)
    model = build_new_model("cnn", data, width=0.25)
    ds = data.load("train")
    layers = [(i, n) for i, (n, _) in enumerate(model.net.named_children()) if n in ("conv1", "pool2", "flatten", "fc")]
    dims = layer_dims(model, [n for _, n in layers])
    one_layer = 4 * len(ds) * max(dims.values()) / 2**20  # the widest layer just fits: about one layer a pass
    messages: list[str] = []
    table = si_profile(model, {"train": ds}, layers, orders=(2,), memory_mb=one_layer, progress=messages.append)
    assert sum("forward pass" in m for m in messages) >= 2
    assert [m for m in messages if "SI and CSI" in m][-1].startswith("train: layer 4/4 fc")
    assert list(table["layer_name"]) == [n for _, n in layers] and set(table["split"]) == {"train"}
    acts, y = extract_activations(model, ds, [n for _, n in layers])
    for _, row in table.iterrows():
        direct = separation_indices(acts[row["layer_name"]], y, orders=(2,))
        assert row["dim"] == acts[row["layer_name"]].shape[1]
        for key, value in direct.items():
            assert row[key] == value
    from_features = si_profile_features(acts, y, "train", orders=(2,))
    assert list(from_features["si"]) == list(table["si"])


def test_si_profile_refuses_a_layer_over_the_budget_before_any_work():
    from nnlab.training.recipe import DataOptions, build_new_model

    data = DataOptions(dataset="digits", image_size=16, limit=120)
    model = build_new_model("cnn", data, width=0.25)
    ds = data.load("train")
    dims = layer_dims(model, ["conv1"])
    fit = int(0.01 * 2**20 // (4 * dims["conv1"]))
    with pytest.raises(NnlabError, match=f"layer conv1 gives {dims['conv1']:,} features.*at most {fit:,} samples"):
        si_profile(model, {"train": ds}, [(0, "conv1")], memory_mb=0.01)


def test_si_profile_in_memory_groups_equals_one_pass():
    import pandas as pd

    from nnlab.training.recipe import DataOptions, build_new_model

    data = DataOptions(dataset="digits", image_size=16, limit=120)
    model = build_new_model("cnn", data, width=0.25)
    ds = data.load("train")
    dims = layer_dims(model, [n for n, _ in model.net.named_children()])
    one_layer = 4 * len(ds) * max(dims.values()) / 2**20
    grouped: list[str] = []
    single: list[str] = []
    by_groups = si_profile(model, {"train": ds}, orders=(2,), memory_mb=one_layer, progress=grouped.append)
    one_pass = si_profile(model, {"train": ds}, orders=(2,), memory_mb=1e6, progress=single.append)
    assert sum("forward pass" in m for m in grouped) >= 3
    assert sum("forward pass" in m for m in single) == 1
    pd.testing.assert_frame_equal(by_groups, one_pass)


def test_memory_sizes_and_the_machine_default():
    from nnlab.compression.profile_run import default_memory, parse_memory
    from nnlab.errors import ParameterError

    assert parse_memory("4G") == 4 * 2**30 and parse_memory("3072M") == 3072 * 2**20
    assert parse_memory("1.5GiB") == 3 * 2**29 and parse_memory("512MB") == 512 * 2**20 and parse_memory(1000) == 1000
    assert default_memory() >= 256 * 2**20
    for bad in ("lots", "0", "-1G"):
        with pytest.raises(ParameterError, match="memory"):
            parse_memory(bad)
