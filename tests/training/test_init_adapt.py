"""`--init` across grey and colour inputs: the first conv's weights are adapted, not dropped."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from nnlab.training.recipe import adapt_input_weight


def test_grey_conv_on_grey_equals_adapted_conv_on_repeated_rgb():
    torch.manual_seed(0)
    grey_w = torch.randn(4, 1, 3, 3)
    grey = torch.rand(2, 1, 8, 8)
    rgb_w = adapt_input_weight(grey_w, 3)
    assert rgb_w.shape == (4, 3, 3, 3)
    assert torch.allclose(F.conv2d(grey, grey_w), F.conv2d(grey.repeat(1, 3, 1, 1), rgb_w), atol=1e-6)
    back = adapt_input_weight(rgb_w, 1)
    assert torch.allclose(back, grey_w, atol=1e-6)
    assert adapt_input_weight(grey_w, 1) is grey_w
