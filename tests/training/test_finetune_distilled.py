"""DeiT distilled under a block preset: both heads train (CE + CE), prediction is their mean, frozen stays frozen."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from nnlab.models import create_classifier, load_model, save_model
from nnlab.models.presets import apply_block_preset
from nnlab.training.config import TrainConfig
from nnlab.training.engine import fit, predict

CLASSES = [str(i) for i in range(10)]


def _tiny_deit():
    torch.manual_seed(0)
    return create_classifier(
        "timm:deit_tiny_distilled_patch16_224", CLASSES, size=32, patch_size=8, depth=2, embed_dim=32, num_heads=2
    )


def _two_head_loss(model, images, labels) -> float:
    net = model.net
    with torch.no_grad():
        tokens = net.forward_features(model.normalize(images))
        return (
            F.cross_entropy(net.head(tokens[:, 0]), labels) + F.cross_entropy(net.head_dist(tokens[:, 1]), labels)
        ).item()


def test_one_step_lowers_the_two_head_loss_keeps_frozen_weights_and_predicts_the_mean(tmp_path):
    model = _tiny_deit()
    apply_block_preset(model, "last")
    model.net.set_distilled_training(True)
    generator = torch.Generator().manual_seed(1)
    images, labels = torch.rand(16, 3, 32, 32, generator=generator), torch.arange(16) % 10
    frozen = {n: p.detach().clone() for n, p in model.net.named_parameters() if not p.requires_grad}
    model.train()
    assert isinstance(model(images), tuple)  # timm returns both heads in distilled training
    before = _two_head_loss(model, images, labels)

    config = TrainConfig(epochs=1, batch_size=16, optimizer="adam", lr=1e-3, weight_decay=0.0, precision="32")
    fit(model, TensorDataset(images, labels), None, config, torch.device("cpu"))
    model.net.set_distilled_training(False)

    assert _two_head_loss(model, images, labels) < before
    after = dict(model.net.named_parameters())
    assert frozen and all(torch.equal(value, after[name]) for name, value in frozen.items())
    model.eval()
    with torch.no_grad():
        tokens = model.net.forward_features(model.normalize(images))
        mean = (model.net.head(tokens[:, 0]) + model.net.head_dist(tokens[:, 1])) / 2
    logits, _ = predict(model, [(images, labels)], torch.device("cpu"))
    assert torch.allclose(logits, mean, atol=1e-5)

    path = save_model(tmp_path / "deit.safetensors", model)
    reloaded = load_model(path)
    reloaded_logits, _ = predict(reloaded, [(images, labels)], torch.device("cpu"))
    assert torch.allclose(reloaded_logits, mean, atol=1e-5)


def test_the_engine_loss_sums_the_heads_and_reports_their_mean():
    from nnlab.training.engine import cross_entropy_loss

    model = _tiny_deit()
    model.net.set_distilled_training(True)
    model.train()
    images, labels = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    loss, logits = cross_entropy_loss(TrainConfig(precision="32"), torch.device("cpu"))(model, images, labels)
    cls, dist = model(images)
    assert torch.allclose(loss, F.cross_entropy(cls, labels) + F.cross_entropy(dist, labels), atol=1e-5)
    assert torch.allclose(logits, (cls + dist) / 2, atol=1e-5)
