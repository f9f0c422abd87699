from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nnlab.analysis import extract_activations, features_si_profile, iter_layer_activations, separation_indices, si_profile
from nnlab.errors import NnlabError


def _setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    images = torch.rand(30, 1, 4, 4)
    labels = torch.arange(30) % 3
    loader = DataLoader(TensorDataset(images, labels), batch_size=7)
    return model, images, labels, loader


def test_extract_activations_flattens_in_sample_order():
    model, images, labels, loader = _setup()
    acts, y = extract_activations(model, loader, ["1", "3"], device="cpu")
    assert list(acts) == ["1", "3"]
    assert acts["1"].shape == (30, 48) and acts["3"].shape == (30, 5)
    with torch.no_grad():
        assert torch.allclose(acts["1"], model[1](model[0](images)).reshape(30, -1))
        assert torch.allclose(acts["3"], model(images))
    assert torch.equal(y, labels)
    half, _ = extract_activations(model, loader, ["3"], dtype=torch.float16)
    assert half["3"].dtype == torch.float16


def test_unknown_layer_lists_valid_names():
    model, _, _, loader = _setup()
    with pytest.raises(NnlabError, match=r"unknown layer 'fc'.*0, 1, 2, 3"):
        extract_activations(model, loader, ["fc"])


def test_si_profile_one_row_per_layer_matches_direct_computation():
    model, _, _, loader = _setup()
    layers = ["0", "1", "3"]
    rows = si_profile(model, loader, layers, "cpu", orders=(2,))
    assert [r["layer_name"] for r in rows] == layers and [r["layer_index"] for r in rows] == [0, 1, 2]
    for (i, name, acts, y), row in zip(iter_layer_activations(model, loader, layers), rows):
        direct = separation_indices(acts, y, orders=(2,))
        assert row["dim"] == acts.shape[1]
        for key, value in direct.items():
            assert row[key] == value
    acts, y = extract_activations(model, loader, layers)
    assert features_si_profile(acts, y, orders=(2,)) == rows
