"""The data pipeline: resize cache against per-item resizing, batched fetches, the run-long training loader,
default workers, the 224-px augmentation presets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nnlab.data import build_augment, dataset, load_dataset, loader
from nnlab.data.loader import EpochLoader, default_num_workers, make_loader
from nnlab.data.transforms import prepare, to_float
from nnlab.errors import NnlabError
from nnlab.training import TrainConfig, fit

HALF_GREY_LEVEL = 0.5 / 255 + 1e-6


def per_item(ds, native, rows):
    """What the old pipeline gave: each native image converted and resized on its own."""
    c, s = ds.info.channels, ds.info.image_size
    return torch.stack([prepare(to_float(native[i]), c, s, ds.resize) for i in rows])


def native_images(name, split="train", **options):
    return load_dataset(name, split, **options)._images  # the source tensor: no resize asked, nothing prepared


def test_float_source_cache_is_exactly_per_item_resizing():
    ds = load_dataset("digits", "train", image_size=20, channels=3, limit=40)
    assert ds.cache == "float32"
    rows = list(range(len(ds)))
    assert torch.equal(torch.stack([ds[i][0] for i in rows]), per_item(ds, native_images("digits", limit=40), rows))


def test_uint8_source_cache_is_within_half_a_grey_level_of_per_item_resizing():
    ds = load_dataset("mnist5k", "val", image_size=40, channels=3, limit=30)
    assert ds.cache == "uint8" and ds._images.dtype == torch.uint8 and ds._images.shape[-1] == 40
    rows = list(range(len(ds)))
    got = torch.stack([x for x, _ in ds.__getitems__(rows)])
    assert got.dtype == torch.float32
    assert (got - per_item(ds, native_images("mnist5k", "val", limit=30), rows)).abs().max() <= HALF_GREY_LEVEL


def test_over_the_budget_images_are_resized_a_batch_at_a_time(monkeypatch):
    monkeypatch.setattr(dataset, "CACHE_BYTES", 1000)
    ds = load_dataset("mnist5k", "val", image_size=40, limit=30)
    assert ds.cache == "none" and ds._images.shape[-1] == 28  # kept at the native size
    rows = [5, 0, 17, 3]
    batch = make_loader(ds, 4, shuffle=False, num_workers=0)
    first = next(iter(batch))[0]
    torch.testing.assert_close(first, per_item(ds, ds._images, range(4)), rtol=0, atol=1e-6)
    got = torch.stack([x for x, _ in ds.__getitems__(rows)])
    torch.testing.assert_close(got, per_item(ds, ds._images, rows), rtol=0, atol=1e-6)


def test_uint8_view_yields_the_cached_pixels():
    ds = load_dataset("mnist5k", "val", image_size=32, limit=20)
    view = ds.uint8_view()
    x, y = view[3]
    assert x.dtype == torch.uint8 and torch.equal(to_float(x), ds[3][0]) and y == ds[3][1]
    assert load_dataset("digits", "val", limit=20).uint8_view() is None  # float source: no uint8 cache


def test_training_on_uint8_batches_gives_the_same_weights_as_float_items():
    ds = load_dataset("mnist5k", "train", image_size=16, limit=64, augment="flip-crop")

    class FloatItems(torch.utils.data.Dataset):  # the same items, without a uint8 view
        def __len__(self):
            return len(ds)

        def __getitem__(self, i):
            return ds[i]

    weights = []
    for data in (ds, FloatItems()):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(256, 10))
        fit(model, data, None, TrainConfig(epochs=2, batch_size=16, lr=0.1, precision="32"), torch.device("cpu"))
        weights.append(model.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_epoch_loader_with_a_persistent_worker_repeats_each_epoch_from_its_seed():
    ds = load_dataset("mnist5k", "train", image_size=16, limit=48, augment="random-resized-crop")

    def epoch(run, seed):
        return [(x.clone(), y.clone()) for x, y in run.epoch(seed)]

    run = EpochLoader(ds, 16, num_workers=1, uint8=True)
    assert run.loader.persistent_workers and run.uint8
    first, second = epoch(run, 11), epoch(run, 12)
    fresh = EpochLoader(ds, 16, num_workers=1, uint8=True)
    again = epoch(fresh, 12)  # a resumed run starts at epoch 2 with new workers
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(second, again))
    assert not torch.equal(first[0][0], second[0][0])


def test_default_workers_follow_the_cores_and_the_environment(monkeypatch):
    monkeypatch.delenv("NNLAB_NUM_WORKERS", raising=False)
    for cpus, workers in [(1, 0), (2, 0), (4, 3), (6, 5), (64, 8)]:
        monkeypatch.setattr(loader, "available_cpus", lambda cpus=cpus: cpus)
        assert default_num_workers() == workers
    monkeypatch.setenv("NNLAB_NUM_WORKERS", "2")
    assert default_num_workers() == 2 and make_loader([1, 2], 1, shuffle=False).num_workers == 2
    monkeypatch.setenv("NNLAB_NUM_WORKERS", "many")
    with pytest.raises(NnlabError, match="NNLAB_NUM_WORKERS"):
        default_num_workers()
    assert make_loader([1, 2], 1, shuffle=False, num_workers=0).num_workers == 0


def test_random_resized_crop_preset_varies_and_keeps_the_size():
    augment = build_augment("random-resized-crop", 32, 3)
    x = torch.rand(3, 32, 32)
    torch.manual_seed(0)
    a = augment(x)
    b = augment(x)
    assert a.shape == b.shape == (3, 32, 32) and not torch.equal(a, b)
    assert augment(torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)).dtype == torch.uint8


def test_resize_center_crop_preset_is_deterministic_and_crops_the_border():
    augment = build_augment("resize-center-crop", 32, 1)
    x = torch.zeros(1, 32, 32)
    x[:, 0, :] = x[:, -1, :] = x[:, :, 0] = x[:, :, -1] = 1.0  # a 1-px frame
    out = augment(x)
    assert out.shape == (1, 32, 32) and torch.equal(out, augment(x))
    assert out[0, 0, 16] < 0.1 and out[0, 16, 0] < 0.1  # 32/0.875 → 37 px, the centre 32 cut: the frame is gone
    ds = load_dataset("digits", "train", image_size=32, limit=20, augment="resize-center-crop")
    assert (
        ds[0][0].shape == (1, 32, 32) and load_dataset("digits", "val", augment="resize-center-crop").augment == "none"
    )
