"""Circle loss (Sun et al. 2020) on cosine similarities, for training embeddings that k-NN can classify."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nnlab.errors import NnlabError


def circle_loss(embeddings: Tensor, labels: Tensor, m: float = 0.4, gamma: float = 80.0) -> Tensor:
    """Mean circle loss over the anchors of a batch, with every same-label pair positive.

    Pairs are scored by cosine similarity s. Positives (same label, i ≠ j) get logits
    ``−γ·relu(1 + m − s)·(s − (1 − m))``, negatives ``γ·relu(s + m)·(s − m)`` (the relu weights are
    detached, as in the paper); each anchor's loss is ``softplus(logsumexp(pos) + logsumexp(neg))``.
    The result is the mean over anchors that have at least one positive and one negative and a
    non-zero loss — the definition of pytorch-metric-learning's ``CircleLoss(m, gamma)`` with its
    default reducer, which the tests check against. A batch without any such anchor gives a zero
    that still depends on ``embeddings`` (so ``backward`` works).
    """
    if embeddings.dim() != 2 or labels.dim() != 1 or labels.shape[0] != embeddings.shape[0]:
        raise NnlabError(
            f"circle loss needs N×D embeddings and N labels, got {tuple(embeddings.shape)} and {tuple(labels.shape)}"
        )
    normalized = F.normalize(embeddings, p=2, dim=1)
    sim = normalized @ normalized.t()
    same = labels.unsqueeze(1) == labels.unsqueeze(0)
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    negative = ~same
    detached = sim.detach()
    pos_logits = -gamma * torch.relu((1 + m) - detached) * (sim - (1 - m))
    neg_logits = gamma * torch.relu(detached - (-m)) * (sim - m)
    lowest = torch.finfo(sim.dtype).min
    lse_pos = torch.logsumexp(pos_logits.masked_fill(~positive, lowest), dim=1)
    lse_neg = torch.logsumexp(neg_logits.masked_fill(~negative, lowest), dim=1)
    losses = F.softplus(lse_pos + lse_neg)
    valid = positive.any(dim=1) & negative.any(dim=1) & (losses > 0)
    if not bool(valid.any()):
        return embeddings.sum() * 0.0
    return losses[valid].mean()


class CircleLoss(nn.Module):
    """Module form of :func:`circle_loss`, called as ``loss(embeddings, labels)``."""

    def __init__(self, m: float = 0.4, gamma: float = 80.0):
        super().__init__()
        if not 0.0 <= m <= 1.0 or gamma <= 0:
            raise NnlabError(f"circle loss needs 0 ≤ m ≤ 1 and gamma > 0, got m={m}, gamma={gamma}")
        self.m = float(m)
        self.gamma = float(gamma)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return circle_loss(embeddings, labels, self.m, self.gamma)
