"""Robustness: adversarial attacks, adversarial training, circle-loss embeddings with a k-NN head.

Attacks take any model mapping pixel-space images (N × C × H × W in [0, 1]) to logits; nnlab models
normalise inside, so ``eps`` is in pixel units::

    attack = create_attack("pixels+fgsm", model, n=20, eps=parse_eps("8/255"), seed=0)
    adversarial = attack(images, labels)

Importable without the CLI; torchattacks and pytorch-metric-learning are only test references.
"""

from __future__ import annotations

from nnlab.robustness.adversarial import adversarial_batch
from nnlab.robustness.base import Attack, GradientAttack, frozen_eval, parse_eps
from nnlab.robustness.circle import CircleLoss, circle_loss
from nnlab.robustness.factory import Chain, accepted_params, attack_names, create_attack
from nnlab.robustness.fgsm import FGSM
from nnlab.robustness.gaussian import Gaussian
from nnlab.robustness.knn import KNNClassifier, embedding_head
from nnlab.robustness.pgd import PGD
from nnlab.robustness.pixels import Pixels
from nnlab.robustness.registry import ATTACKS

__all__ = [
    "ATTACKS",
    "Attack",
    "Chain",
    "CircleLoss",
    "FGSM",
    "Gaussian",
    "GradientAttack",
    "KNNClassifier",
    "PGD",
    "Pixels",
    "accepted_params",
    "adversarial_batch",
    "attack_names",
    "circle_loss",
    "create_attack",
    "embedding_head",
    "frozen_eval",
    "parse_eps",
]
