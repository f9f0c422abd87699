"""The batched `svhn-aug` draws each sample's view from torchvision's transforms: each step equals torchvision's
functional op with the same parameters, the draws stay in the preset's ranges, and a seed gives the same batch."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from nnlab.data import batch_augment as BA


@pytest.fixture()
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    base = torch.rand(6, 3, 32, 32, generator=g)
    base[:, :, 8:24, 8:24] += 0.5  # some structure, so that geometry shows
    return base.clamp(0, 1)


def test_affine_equals_torchvision_per_sample(images):
    angle = torch.tensor([0.0, 7.5, -9.0, 3.0, 10.0, -2.5])
    tx, ty = torch.tensor([0, 3, -2, 1, -3, 0]), torch.tensor([0, -1, 3, 2, 0, -3])
    scale = torch.tensor([1.0, 0.95, 1.08, 0.9, 1.1, 1.02])
    ours = BA.affine(images, angle, tx, ty, scale)
    for i in range(len(images)):
        ref = TF.affine(
            images[i], angle=float(angle[i]), translate=[int(tx[i]), int(ty[i])], scale=float(scale[i]), shear=[0.0]
        )
        differ = (ours[i] != ref).any(dim=0).float().mean()
        assert differ < 0.01, (i, float(differ))  # nearest: a pixel may round the other way at a boundary


def test_identity_parameters_give_back_the_batch(images):
    n = len(images)
    zeros, ones = torch.zeros(n), torch.ones(n)
    assert torch.equal(BA.affine(images, zeros, zeros, zeros, ones), images)
    assert torch.equal(BA.crop(images, 4, torch.full((n,), 4), torch.full((n,), 4)), images)
    assert torch.allclose(BA.jitter(images, ones, ones, torch.ones(n, dtype=torch.bool)), images)
    corners = torch.tensor([[0, 0], [31, 0], [31, 31], [0, 31]], dtype=torch.float64).expand(n, 4, 2)
    assert torch.allclose(BA.perspective(images, corners), images, atol=1e-5)


def test_jitter_equals_torchvision_in_either_order(images):
    b = torch.tensor([0.8, 1.2, 1.0, 0.9, 1.1, 0.85])
    c = torch.tensor([1.2, 0.8, 1.1, 1.0, 0.95, 1.15])
    first = torch.tensor([True, False, True, False, True, False])
    ours = BA.jitter(images, b, c, first)
    for i in range(len(images)):
        x = images[i]
        if first[i]:
            ref = TF.adjust_contrast(TF.adjust_brightness(x, float(b[i])), float(c[i]))
        else:
            ref = TF.adjust_brightness(TF.adjust_contrast(x, float(c[i])), float(b[i]))
        torch.testing.assert_close(ours[i], ref, atol=1e-6, rtol=0)


def test_perspective_equals_torchvision_per_sample(images):
    start = [[0, 0], [31, 0], [31, 31], [0, 31]]
    end = torch.tensor(
        [[[2, 1], [30, 3], [29, 31], [1, 28]], [[0, 0], [31, 0], [31, 31], [0, 31]], [[3, 3], [28, 0], [31, 29], [2, 30]]]
    )
    ours = BA.perspective(images[:3], end)
    for i in range(3):
        ref = TF.perspective(images[i], start, end[i].tolist(), fill=[0.0])
        torch.testing.assert_close(ours[i], ref, atol=1e-4, rtol=0)


def test_crop_equals_padding_then_cutting(images):
    top, left = torch.tensor([0, 8, 3, 4, 1, 7]), torch.tensor([8, 0, 5, 4, 2, 6])
    ours = BA.crop(images, 4, top, left)
    for i in range(len(images)):
        padded = TF.pad(images[i], [4])
        assert torch.equal(ours[i], padded[:, top[i] : top[i] + 32, left[i] : left[i] + 32])


def test_svhn_aug_is_seeded_differs_per_sample_and_stays_in_range(images):
    augment = BA.build_batch_augment("svhn-aug", 32, 3)
    torch.manual_seed(3)
    a = augment(images)
    torch.manual_seed(3)
    b = augment(images)
    assert torch.equal(a, b) and a.shape == images.shape and a.dtype == images.dtype
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    same = images[:1].expand(8, -1, -1, -1).contiguous()
    views = augment(same)
    assert len({hash(v.numpy().tobytes()) for v in views}) == 8  # each sample its own parameters
    assert BA.build_batch_augment("flip-crop", 32, 3) is None  # no batched form: the per-sample one is used


def test_parameter_draws_stay_in_the_presets_ranges(monkeypatch, images):
    seen = {}

    def spy(name, fn):
        def wrapped(*args):
            seen[name] = args
            return fn(*args)

        monkeypatch.setattr(BA, name, wrapped)

    for name in ("affine", "jitter", "perspective", "crop"):
        spy(name, getattr(BA, name))
    torch.manual_seed(0)
    batch = images.repeat(40, 1, 1, 1)  # 240 samples
    BA.svhn_aug(32, 3)(batch)
    _, angle, tx, ty, scale = seen["affine"]
    assert angle.abs().max() <= 10 and angle.abs().max() > 8
    assert tx.abs().max() <= 3 and torch.equal(tx, tx.round()) and ty.abs().max() <= 3
    assert scale.min() >= 0.9 and scale.max() <= 1.1
    _, b, c, first = seen["jitter"]
    assert b.min() >= 0.8 and b.max() <= 1.2 and c.min() >= 0.8 and c.max() <= 1.2
    assert 0.3 < first.float().mean() < 0.7
    perspective_images, end = seen["perspective"]
    assert 0.35 < len(perspective_images) / len(batch) < 0.65  # p 0.5
    assert end[:, 0].max() < 4 and end[:, 2].min() >= 28  # corners move inward by at most 0.2 * 16 px
    _, padding, top, left = seen["crop"]
    assert padding == 4 and top.min() >= 0 and top.max() <= 8 and left.max() <= 8


def test_a_dataset_applies_the_batched_form_to_float_and_uint8_batches(monkeypatch):
    from nnlab.data import load_dataset

    ds = load_dataset("colordigits", "train", augment="svhn-aug", limit=24)
    calls = []
    batched = ds._batch_augment
    monkeypatch.setattr(ds, "_batch_augment", lambda x: calls.append(len(x)) or batched(x))
    monkeypatch.setattr(ds, "_augment", None)  # the per-sample form must not be needed
    rows = list(range(24))
    torch.manual_seed(0)
    floats = torch.stack([x for x, _ in ds.__getitems__(rows)])
    view = ds.uint8_view()
    assert view is not None  # colordigits keeps a uint8 cache: training reads this view
    torch.manual_seed(0)
    pixels = torch.stack([x for x, _ in view.__getitems__(rows)])
    assert calls == [24, 24] and pixels.dtype == torch.uint8
    clean = ds.as_tensors()[0]
    assert not torch.equal(floats, clean) and float(floats.max()) <= 1.0
    assert (pixels.float() / 255 - floats).abs().max() <= 1 / 255 + 1e-6  # the same views, rounded to bytes
