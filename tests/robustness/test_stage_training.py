"""nnlab.robustness.training and stage: the adversarial batch hook, circle-loss k-NN models, attack runs."""

from __future__ import annotations

import pytest
import torch

from nnlab.errors import NnlabError
from nnlab.models import create_classifier, feature_layer, load_model, save_model
from nnlab.robustness import create_attack
from nnlab.robustness.stage import AttackRun, attack_dataset, check_attackable
from nnlab.robustness.training import (
    RobustnessSettings,
    adversarial_hook,
    batch_votes,
    circle_hooks,
    knn_head,
    to_knn_model,
)


def _classifier(seed: int = 0):
    torch.manual_seed(seed)
    return create_classifier("cnn", [str(i) for i in range(4)], channels=1, size=8, width=0.25)


class _Tensors(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, 1, 8, 8, generator=g)
        self.y = torch.arange(n) % 4

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], int(self.y[i])


def test_settings_validate_before_training():
    assert RobustnessSettings().settings() == {}
    adv = RobustnessSettings(adv="pixels+fgsm", eps="8/255", pixels=5).settings()
    assert adv["attack_params"] == {"eps": pytest.approx(8 / 255), "n": 5} and adv["adv_ratio"] == 0.5
    assert RobustnessSettings(loss="circle").settings()["knn"] == 3
    for kwargs, fragment in [
        ({"adv": "fgsm", "eps": "-0.1"}, "between 0 and 1"),
        ({"adv": "pgd", "steps": 0}, "at least 1"),
        ({"adv": "nope"}, "unknown attack"),
        ({"adv": "fgsm", "adv_ratio": 1.5}, "adv_ratio"),
        ({"eps": "0.1"}, "only apply to adversarial training"),
        ({"adv": "fgsm", "loss": "circle"}, "cannot be combined"),
        ({"loss": "hinge"}, "unknown loss"),
        ({"loss": "circle", "knn": 0}, "knn"),
    ]:
        with pytest.raises(NnlabError, match=fragment):
            RobustnessSettings(**kwargs)


def test_settings_are_the_training_hooks_of_run_train(tmp_path):
    """A TrainRequest with robustness settings as hooks trains a k-NN model and records the settings."""
    from nnlab.data import DataSelection
    from nnlab.runtime import Runtime
    from nnlab.training.config import TrainConfig
    from nnlab.training.train_run import TrainRequest, run_train

    out = tmp_path / "circle.safetensors"
    hooks = RobustnessSettings(loss="circle", knn=2)
    run_train(
        TrainRequest(
            output=out,
            model="cnn",
            width=0.25,
            config=TrainConfig(epochs=1),
            data=DataSelection(dataset="digits", limit=80),
            runtime=Runtime(device="cpu"),
            hooks=hooks,
        )
    )
    model = load_model(out)
    assert knn_head(model) is not None and knn_head(model).k == 2
    assert model.provenance["train_config"]["extra"] == hooks.settings()


def test_adversarial_hook_follows_the_ratio_and_the_budget():
    model = _classifier()
    images, labels = torch.rand(6, 1, 8, 8), torch.arange(6) % 4
    torch.manual_seed(0)
    same, _ = adversarial_hook("fgsm", {"eps": 0.1}, 0.0)(model, images, labels, 0)
    assert torch.equal(same, images)
    torch.manual_seed(0)
    adv, out_labels = adversarial_hook("fgsm", {"eps": 0.1}, 1.0)(model, images, labels, 0)
    assert torch.equal(out_labels, labels) and not torch.equal(adv, images)
    assert (adv - images).abs().max() <= 0.1 + 1e-6
    torch.manual_seed(0)
    again, _ = adversarial_hook("pixels+fgsm", {"eps": 0.1, "n": 3}, 1.0)(model, images, labels, 0)
    torch.manual_seed(0)
    twice, _ = adversarial_hook("pixels+fgsm", {"eps": 0.1, "n": 3}, 1.0)(model, images, labels, 0)
    assert torch.equal(again, twice)  # seeded from the (epoch-reseeded) global generator


def test_batch_votes_leave_each_sample_out():
    embeddings = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = torch.tensor([0, 0, 1, 1])
    votes = batch_votes(embeddings, labels, k=1, num_classes=2)
    assert votes.argmax(1).tolist() == [0, 0, 1, 1] and votes.sum(1).tolist() == [1.0] * 4


def test_circle_hooks_make_a_self_contained_knn_model(tmp_path):
    model = _classifier()
    train, val = _Tensors(24, 1), _Tensors(12, 2)
    hooks = circle_hooks(model, train, val, m=0.4, gamma=80.0, k=3)
    assert model.spec.surgery[-1] == {"op": "knn", "k": 3, "num_classes": 4}
    assert knn_head(model) is not None and feature_layer(model.net) == "flatten"
    loss, votes = hooks["loss_fn"](hooks["train_module"], train.x[:8], train.y[:8])
    loss.backward()
    assert loss.item() > 0 and votes.shape == (8, 4)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    _, accuracy = hooks["validate_fn"](model)
    assert 0.0 <= accuracy <= 1.0 and knn_head(model).bank.shape[0] == 24
    path = tmp_path / "circle.safetensors"
    save_model(path, model.eval())
    loaded = load_model(path)
    assert torch.equal(loaded(val.x), model(val.x))  # the bank travels in the artifact
    check_attackable(loaded, create_attack("pixels", loaded, n=2))  # model-free attacks are fine
    with pytest.raises(NnlabError, match="evaluating it on that adversarial set"):
        check_attackable(loaded, create_attack("pixels+fgsm", loaded, eps=0.1))


def test_run_attack_metrics():
    model = _classifier().eval()
    ds = _Tensors(10, 3)
    run = attack_dataset(model, ds, create_attack("fgsm", model, eps=0.05), device=torch.device("cpu"), batch_size=4)
    assert run.images.shape == (10, 1, 8, 8) and run.indices.tolist() == list(range(10))
    assert (run.linf <= 0.05 + 1e-6).all() and (run.l2 > 0).any()
    metrics = AttackRun(
        images=run.images,
        labels=torch.tensor([0, 1, 2, 3]),
        clean_pred=torch.tensor([0, 1, 2, 0]),
        adv_pred=torch.tensor([0, 2, 2, 3]),
        indices=torch.arange(4),
        linf=torch.ones(4),
        l2=torch.full((4,), 2.0),
        attack="x",
    ).metrics()
    assert metrics["clean_accuracy"] == 0.75 and metrics["adversarial_accuracy"] == 0.75
    assert metrics["success_rate"] == pytest.approx(1 / 3)
    assert metrics["mean_linf"] == 1.0 and metrics["mean_l2"] == 2.0


def test_knn_surgery_rebuilds_from_the_spec():
    model = to_knn_model(_classifier(), 1)
    knn_head(model).set_bank(torch.randn(5, model.net[:-1](torch.zeros(1, 1, 8, 8)).shape[1]), torch.arange(5) % 4)
    from nnlab.models import build_classifier

    rebuilt = build_classifier(model.spec)
    rebuilt.net.load_state_dict(model.net.state_dict())
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(rebuilt.eval()(x), model.eval()(x))
