from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from nnlab.artifacts import save_table
from nnlab.detection import (
    ProposalsDataset,
    class_weights,
    crop_regions,
    load_proposals_dataset,
    split_by_image,
    undersample,
    voc,
)
from nnlab.errors import NnlabError


def _frame(n_images=10, per_image=7):
    rows = [
        (f"img{i}", f"img{i}.png", 0, 0, 8, 8, "background" if j else "a")
        for i in range(n_images)
        for j in range(per_image)
    ]
    return pd.DataFrame(rows, columns=["image", "file", "x1", "y1", "x2", "y2", "label"])


def test_split_by_image_leaves_no_image_on_both_sides():
    df = _frame()
    train, val = split_by_image(df, 0.3, seed=1)
    assert len(train) + len(val) == len(df) and len(set(train) & set(val)) == 0
    assert not set(df["image"].iloc[train]) & set(df["image"].iloc[val])
    assert df["image"].iloc[val].nunique() == 3
    again, _ = split_by_image(df, 0.3, seed=1)
    assert np.array_equal(train, again)
    assert len(split_by_image(df, 0.0)[1]) == 0


def test_undersample_and_class_weights():
    targets = np.array([0] * 90 + [1] * 6 + [2] * 4)
    kept = undersample(targets, factor=2.0, seed=0)
    assert (targets[kept] != 0).sum() == 10 and (targets[kept] == 0).sum() == 20
    assert np.array_equal(kept, undersample(targets, factor=2.0, seed=0))
    w = class_weights(targets, 4)
    assert w[3] == 0 and w[2] > w[1] > w[0] and w[:3].mean() == pytest.approx(1.0)


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(0)
    images = {f"img{i}": rng.integers(0, 256, (40, 50, 3), dtype=np.uint8) for i in range(3)}
    for name, image in images.items():
        voc.write_image(tmp_path / f"{name}.png", image)
    return tmp_path, images


def test_dataset_yields_the_crop_of_the_box_it_names(image_folder):
    root, images = image_folder
    df = pd.DataFrame(
        [
            ("img1", "img1.png", 5, 7, 21, 23, "b"),
            ("img2", "img2.png", 30, 2, 46, 18, "background"),
            ("img0", "img0.png", 0, 0, 50, 40, "a"),
        ],
        columns=["image", "file", "x1", "y1", "x2", "y2", "label"],
    )
    ds = ProposalsDataset(df, root, classes=["a", "b"], image_size=16)
    assert ds.classes == ["background", "a", "b"]
    x, y = ds[0]
    assert x.dtype == torch.float32 and x.shape == (3, 16, 16) and y == 2
    expected = torch.from_numpy(images["img1"][7:23, 5:21]).permute(2, 0, 1).float() / 255
    assert torch.allclose(x, expected, atol=1e-6)  # a 16-pixel box at size 16 is the pixels themselves
    x, y = ds[1]
    assert y == 0 and torch.allclose(
        x, torch.from_numpy(images["img2"][2:18, 30:46]).permute(2, 0, 1).float() / 255, atol=1e-6
    )
    # a resized crop equals crop_regions on the whole image (the detection-time crop)
    whole = torch.from_numpy(images["img0"]).permute(2, 0, 1).float() / 255
    assert torch.allclose(ds[2][0], crop_regions(whole, torch.tensor([[0.0, 0, 50, 40]]), 16)[0], atol=1e-5)
    grey = ProposalsDataset(df, root, classes=["a", "b"], image_size=8, channels=1)
    assert grey[0][0].shape == (1, 8, 8) and 0 <= grey[0][0].min() and grey[0][0].max() <= 1
    with pytest.raises(NnlabError, match="not in the class list"):
        ProposalsDataset(df, root, classes=["a"])


def test_load_proposals_dataset_contract(image_folder, tmp_path):
    root, _ = image_folder
    rows = []
    for i in range(3):
        rows += [(f"img{i}", f"img{i}.png", 0, 0, 10, 10, "a")]
        rows += [(f"img{i}", f"img{i}.png", j, j, j + 12, j + 9, "background") for j in range(8)]
    df = pd.DataFrame(rows, columns=["image", "file", "x1", "y1", "x2", "y2", "label"])
    path = save_table(
        tmp_path / "p.parquet", df, {"table": "proposals", "image_root": str(root), "classes": ["a", "z"]}
    )
    train = load_proposals_dataset(path, "train", image_size=12, val_fraction=0.34, seed=0, balance="undersample")
    val = load_proposals_dataset(path, "val", image_size=12, val_fraction=0.34, seed=0, balance="undersample")
    test = load_proposals_dataset(path, "test", image_size=12, balance="weights")
    assert train.classes == ["background", "a", "z"] == test.info.classes
    assert not set(df["image"].iloc[train.indices]) & set(df["image"].iloc[val.indices])
    assert (train.targets == 1).sum() == 2 and (train.targets == 0).sum() == 2  # undersampled 1:1
    assert len(val) == 2 and (val.targets == 1).sum() == 1  # val undersampled alike, for a fair best epoch
    assert len(test) == 27 and test.class_weights is None  # test is never balanced
    weighted = load_proposals_dataset(path, "train", image_size=12, val_fraction=0.34, balance="weights")
    assert weighted.class_weights.shape == (3,) and weighted.class_weights[1] > weighted.class_weights[0]
    x, y = train[0]
    assert x.shape == (3, 12, 12) and isinstance(y, int)
    assert train.info.image_size == 12 and len(train.info.mean) == 3 and train.split == "train"
    assert train.info.mean == val.info.mean and train.name.startswith("proposals:")
    assert np.array_equal(train.targets, [train[i][1] for i in range(len(train))])
    assert len(load_proposals_dataset(path, "test", image_size=12, limit=5)) == 5
    other = save_table(tmp_path / "o.parquet", df, {"table": "ranking"})
    with pytest.raises(NnlabError):
        load_proposals_dataset(other, "train")
