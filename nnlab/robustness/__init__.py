"""Robustness: adversarial attacks, adversarial training, circle-loss embeddings with a k-NN head.

Attacks take any model mapping pixel-space images (N × C × H × W in [0, 1]) to logits; nnlab models
normalise inside, so ``eps`` is in pixel units::

    attack = create_attack("pixels+fgsm", model, n=20, eps=parse_eps("8/255"), seed=0)
    adversarial = attack(images, labels)

Importable without the CLI; torchattacks and pytorch-metric-learning are only test references.

Importing this package declares its attacks and the ``knn`` surgery operation (:mod:`nnlab.robustness.plugin`),
which the registries import on first use; the names below are imported lazily (PEP 562), so importing the
package costs no torch.
"""

from __future__ import annotations

from nnlab.registry import lazy_exports
from nnlab.robustness import plugin as _plugin  # noqa: F401  declares the attacks and the knn surgery operation

_EXPORTS = {
    "adversarial": ["adversarial_batch"],
    "base": ["Attack", "GradientAttack", "frozen_eval", "parse_eps"],
    "circle": ["CircleLoss", "circle_loss"],
    "factory": ["Chain", "accepted_params", "attack_names", "create_attack"],
    "fgsm": ["FGSM"],
    "gaussian": ["Gaussian"],
    "knn": ["KNNClassifier", "embedding_head"],
    "pgd": ["PGD"],
    "pixels": ["Pixels"],
    "registry": ["ATTACKS"],
}
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
