"""Adversarial training helper: replace a chosen fraction of training batches by adversarial ones."""

from __future__ import annotations

import torch
from torch import Tensor

from nnlab.errors import NnlabError
from nnlab.robustness.base import Attack


def adversarial_batch(
    attack: Attack, images: Tensor, labels: Tensor, *, ratio: float, generator: torch.Generator
) -> tuple[Tensor, bool]:
    """Return ``(batch, attacked)``: the batch made adversarial with probability ``ratio``, else as is.

    The decision is per batch (the seed study made half of the batches adversarial): one uniform draw
    from ``generator`` (a CPU ``torch.Generator`` the training loop seeds once) per call, adversarial
    when it is below ``ratio`` — so ratio 0 never attacks, 1 always does, and the sequence of choices
    is reproducible. ``attack`` must be built on the model being trained (``create_attack(name,
    model, ...)``): it holds a reference, so the examples are generated against the current weights.
    The attack runs the model in eval mode and restores its train mode, ``requires_grad`` flags and
    ``.grad`` fields, so the caller's optimisation step is unaffected. The returned images are
    detached and live on the model's device.
    """
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio <= 1.0:
        raise NnlabError(f"the adversarial batch ratio must be between 0 and 1, got {ratio!r}")
    draw = torch.rand((), generator=generator).item()
    if draw < ratio:
        return attack(images, labels).detach(), True
    return images, False
