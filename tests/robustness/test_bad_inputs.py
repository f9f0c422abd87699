"""Bad attack names, parameters and batches raise one clear NnlabError."""

from __future__ import annotations

import pytest
import torch

from nnlab.errors import NnlabError, UnknownNameError
from nnlab.robustness import KNNClassifier, adversarial_batch, create_attack, parse_eps


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("fgsm", {"eps": -0.01}, "eps must be between 0 and 1"),
        ("fgsm", {"eps": 1.5}, "eps must be between 0 and 1"),
        ("pgd", {"eps": 2.0}, "eps must be between 0 and 1"),
        ("pgd", {"steps": 0}, "steps must be an integer of at least 1"),
        ("pgd", {"steps": 2.5}, "steps must be an integer of at least 1"),
        ("pgd", {"alpha": -1.0}, "alpha must be between 0 and 1"),
        ("pixels", {"n": -1}, "n must be an integer of at least 0"),
        ("gaussian", {"sigma": -0.1}, "sigma must be between 0 and 1"),
        ("pixels+fgsm", {"eps": 3.0}, "eps must be between 0 and 1"),
        ("fgsm", {"steps": 3}, "does not take a parameter 'steps'; it takes: channels_last, eps"),
        ("pixels+", {}, "empty part"),
        ("", {}, "an attack name is required"),
        ("fgsm", {"eps": float("nan")}, "eps must be a number"),
    ],
)
def test_bad_parameters(model, name, params, message):
    with pytest.raises(NnlabError, match=message):
        create_attack(name, model, **params)


@pytest.mark.parametrize("name", ["cw", "pixels+deepfool"])
def test_unknown_attack_lists_valid_names(model, name):
    with pytest.raises(UnknownNameError) as info:
        create_attack(name, model)
    message = str(info.value)
    assert all(valid in message for valid in ("fgsm", "pgd", "pixels", "gaussian"))


@pytest.mark.parametrize("text", ["-0.1", "1.01", "2/255x", "8/0", "abc", "", True])
def test_parse_eps_rejects(text):
    with pytest.raises(NnlabError):
        parse_eps(text)


def test_bad_batches(model, batch):
    images, labels = batch
    attack = create_attack("fgsm", model, eps=0.1)
    with pytest.raises(NnlabError, match="N×C×H×W"):
        attack(images[0], labels)
    with pytest.raises(NnlabError, match="one integer label per image"):
        attack(images, labels[:3])
    with pytest.raises(NnlabError, match="exceeds"):
        create_attack("pixels", model, n=65)(images, labels)
    with pytest.raises(NnlabError, match="attack needs a torch model"):
        create_attack("fgsm", object())


def test_gradient_attack_on_knn_model_points_to_evaluate_adversarial(batch):
    images, labels = batch
    head = KNNClassifier(5, k=3, embeddings=torch.randn(20, 192), labels=torch.randint(0, 5, (20,)))
    model = torch.nn.Sequential(torch.nn.Flatten(), head)
    with pytest.raises(NnlabError, match="stored adversarial set"):
        create_attack("fgsm", model, eps=0.1)(images, labels)


def test_bad_adversarial_ratio(model, batch):
    images, labels = batch
    attack = create_attack("fgsm", model)
    for ratio in (-0.1, 1.5, True):
        with pytest.raises(NnlabError, match="ratio"):
            adversarial_batch(attack, images, labels, ratio=ratio, generator=torch.Generator())
