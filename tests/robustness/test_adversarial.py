"""adversarial_batch: per-batch choice at the given ratio, reproducible, against the current weights."""

from __future__ import annotations

import torch

from nnlab.robustness import adversarial_batch, create_attack


def _choices(model, batch, ratio, seed, count=200):
    images, labels = batch
    attack = create_attack("pixels", model, n=1)
    generator = torch.Generator().manual_seed(seed)
    return [adversarial_batch(attack, images, labels, ratio=ratio, generator=generator)[1] for _ in range(count)]


def test_ratio_controls_fraction_of_batches(model, batch):
    assert not any(_choices(model, batch, 0.0, 0))
    assert all(_choices(model, batch, 1.0, 0))
    half = _choices(model, batch, 0.5, 0)
    assert 0.4 < sum(half) / len(half) < 0.6
    assert half == _choices(model, batch, 0.5, 0)  # same generator seed → same schedule
    assert half != _choices(model, batch, 0.5, 1)


def test_adversarial_batch_uses_current_weights_and_keeps_train_mode(model, batch):
    images, labels = batch
    model.train()
    attack = create_attack("fgsm", model, eps=0.1)
    generator = torch.Generator().manual_seed(0)
    first, attacked = adversarial_batch(attack, images, labels, ratio=1.0, generator=generator)
    assert attacked and model.training and not first.requires_grad
    assert torch.equal(first, create_attack("fgsm", model, eps=0.1)(images, labels))
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(-1.0)  # an optimiser step changes the weights in place
    second, _ = adversarial_batch(attack, images, labels, ratio=1.0, generator=generator)
    assert not torch.equal(first, second)
    clean, attacked = adversarial_batch(attack, images, labels, ratio=0.0, generator=generator)
    assert clean is images and not attacked
