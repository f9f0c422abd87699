"""folder:PATH datasets and the one-sentence errors for bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnlab.data import DATASETS, dataset_info, load_dataset
from nnlab.errors import NnlabError, UnknownNameError


def _images(folder: Path, classes: dict[str, int], size=(12, 12), mode="RGB", seed=0) -> None:
    rng = np.random.default_rng(seed)
    for cls, n in classes.items():
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / cls / f"{i}.png")


def test_single_folder_is_carved_into_train_val_test(tmp_path):
    _images(tmp_path, {"cat": 10, "dog": 10, "fox": 10})
    name = f"folder:{tmp_path}"
    sets = {s: load_dataset(name, s, val_fraction=0.25) for s in ("train", "val", "test")}
    assert sets["train"].classes == ["cat", "dog", "fox"]
    assert sum(len(d) for d in sets.values()) == 30 and len(sets["test"]) == 6
    assert sorted(np.concatenate([d.indices for d in sets.values()])) == list(range(30))
    x, y = sets["val"][0]
    assert x.shape == (3, 12, 12) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and y in (0, 1, 2)
    info = dataset_info(name)
    assert info.channels == 3 and info.image_size == 12 and len(info.mean) == 3
    assert abs(info.mean[0] - 0.5) < 0.05  # uniform noise


def test_train_val_test_subfolders_are_used(tmp_path):
    _images(tmp_path / "train", {"a": 6, "b": 4}, mode="L")
    _images(tmp_path / "val", {"a": 2, "b": 1}, mode="L", seed=1)
    _images(tmp_path / "test", {"b": 3}, mode="L", seed=2)
    (tmp_path / "train" / "b" / "3.png").unlink()
    _images(tmp_path / "train", {"b": 0})
    Image.fromarray(np.zeros((20, 16), np.uint8), "L").save(tmp_path / "train" / "b" / "odd.png")
    name = f"folder:{tmp_path}"
    train, val, test = (load_dataset(name, s, image_size=8) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (10, 3, 3)
    assert test.targets.tolist() == [1, 1, 1]
    assert train.info.channels == 1
    assert all(train[i][0].shape == (1, 8, 8) for i in range(len(train)))  # odd-sized image resized too
    rgb = load_dataset(name, "test", channels=3)
    assert rgb[0][0].shape == (3, 12, 12)


def test_folder_errors(tmp_path):
    with pytest.raises(NnlabError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'missing'}", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NnlabError, match="not an ImageFolder layout"):
        load_dataset(f"folder:{tmp_path / 'empty'}", "train")
    _images(tmp_path / "x" / "train", {"a": 4, "b": 4})
    _images(tmp_path / "x" / "test", {"c": 2})
    with pytest.raises(NnlabError, match="not in the training folder"):
        load_dataset(f"folder:{tmp_path / 'x'}", "test")


def test_unknown_dataset_lists_names():
    with pytest.raises(UnknownNameError) as err:
        load_dataset("imagenet", "train")
    for name in ("digits", "mnist5k", "cifar10", "cifar100", "svhn", "mnist", "fashion-mnist", "folder:"):
        assert name in str(err.value)
    assert "svhn" in DATASETS.names()


@pytest.mark.parametrize("kwargs, match", [
    ({"val_fraction": 0.0}, "val fraction"),
    ({"val_fraction": 1.0}, "val fraction"),
    ({"val_fraction": -0.2}, "val fraction"),
    ({"fraction": 0.0}, "fraction must be in"),
    ({"fraction": 1.5}, "fraction must be in"),
    ({"limit": 0}, "limit must be"),
    ({"limit": 5, "fraction": 0.5}, "not both"),
    ({"channels": 2}, "channels"),
    ({"image_size": 0}, "image size"),
])
def test_bad_options_are_one_sentence_errors(kwargs, match):
    with pytest.raises(NnlabError, match=match) as err:
        load_dataset("digits", "train", **kwargs)
    assert "\n" not in str(err.value)


def test_unknown_split():
    with pytest.raises(NnlabError, match="valid splits: train, val, test"):
        load_dataset("digits", "validation")


def test_val_fraction_that_empties_a_split_is_refused(tmp_path):
    _images(tmp_path, {"a": 3, "b": 2})
    with pytest.raises(NnlabError, match="leaves an empty split"):
        load_dataset(f"folder:{tmp_path}", "train", val_fraction=0.9)
