"""Circle loss equals pytorch-metric-learning's CircleLoss, value and gradient."""

from __future__ import annotations

import pytest
import torch
from pytorch_metric_learning.losses import CircleLoss as ReferenceCircleLoss

from nnlab.errors import NnlabError
from nnlab.robustness import CircleLoss, circle_loss


@pytest.mark.parametrize(
    "seed, n, dim, classes, m, gamma",
    [
        (0, 32, 16, 4, 0.4, 80.0),
        (1, 64, 8, 10, 0.4, 80.0),  # some classes have a single member (anchors without positives)
        (2, 20, 32, 3, 0.25, 256.0),
        (3, 50, 4, 5, 0.1, 10.0),
    ],
)
def test_circle_loss_equals_reference(seed, n, dim, classes, m, gamma):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, classes, (n,), generator=generator)
    ours_input = embeddings.clone().requires_grad_(True)
    ref_input = embeddings.clone().requires_grad_(True)
    ours = circle_loss(ours_input, labels, m=m, gamma=gamma)
    reference = ReferenceCircleLoss(m=m, gamma=gamma)(ref_input, labels)
    ours.backward()
    reference.backward()
    assert ours.item() > 0
    torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ours_input.grad, ref_input.grad, rtol=1e-8, atol=1e-10)


def test_circle_loss_float32_close_to_reference():
    generator = torch.Generator().manual_seed(4)
    embeddings = torch.randn(128, 64, generator=generator)
    labels = torch.randint(0, 10, (128,), generator=generator)
    torch.testing.assert_close(
        CircleLoss()(embeddings, labels), ReferenceCircleLoss()(embeddings, labels), rtol=1e-5, atol=1e-5
    )


def test_circle_loss_without_pairs_is_zero_and_differentiable():
    embeddings = torch.randn(4, 3, requires_grad=True)
    loss = circle_loss(embeddings, torch.arange(4))  # no positives at all
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(embeddings.grad, torch.zeros(4, 3))


def test_circle_loss_bad_inputs():
    with pytest.raises(NnlabError, match="N×D embeddings"):
        circle_loss(torch.randn(4, 3, 2), torch.arange(4))
    with pytest.raises(NnlabError, match="gamma"):
        CircleLoss(m=0.4, gamma=0)
