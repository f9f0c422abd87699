"""Augmentation presets keep shape, dtype and range, are seeded by torch, and touch only the train split."""

from __future__ import annotations

import pytest
import torch

from nnlab.data import AUGMENTS, augment_names, load_dataset
from nnlab.errors import UnknownNameError

PRESETS = ["none", "flip-crop", "flip-rotate", "rotate", "svhn-aug"]


def test_registry_lists_the_seed_presets():
    assert set(PRESETS) <= set(augment_names())
    assert all(AUGMENTS.help()[p] for p in PRESETS)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32)])
def test_preset_keeps_shape_and_range(preset, channels, size):
    ds = load_dataset("mnist5k", "train", augment=preset, channels=channels, image_size=size, limit=20)
    torch.manual_seed(0)
    first = torch.stack([ds[i][0] for i in range(len(ds))])
    torch.manual_seed(0)
    again = torch.stack([ds[i][0] for i in range(len(ds))])
    assert first.shape == (20, channels, size, size) and first.dtype == torch.float32
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert torch.equal(first, again)  # seeded through torch's RNG
    clean, _ = ds.as_tensors()
    if preset == "none":
        assert torch.equal(first, clean)
    else:
        assert not torch.equal(first, clean)


def test_augment_only_applies_to_train():
    val = load_dataset("digits", "val", augment="flip-crop")
    assert val.augment == "none"
    assert torch.equal(val[0][0], val.as_tensors()[0][0])


def test_unknown_preset_lists_valid_names():
    with pytest.raises(UnknownNameError, match="flip-crop"):
        load_dataset("digits", "train", augment="mixup")
