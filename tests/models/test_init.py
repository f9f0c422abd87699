"""The plain CNN starts from He-initialised convs, so its signal survives six ReLU layers without normalization."""

import math

import torch
from torch import nn

from nnlab.models import create_model


def test_cnn_convs_are_he_normal_with_zero_bias():
    torch.manual_seed(0)
    net = create_model("cnn", num_classes=10, in_channels=3, image_size=32, width=1.0)
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
            assert abs(module.weight.std().item() / math.sqrt(2 / fan_out) - 1) < 0.1
            assert torch.count_nonzero(module.bias) == 0
    assert abs(net.fc.weight.std().item() - 0.01) < 0.001


def test_cnn_logits_keep_their_scale_through_the_stack():
    torch.manual_seed(0)
    net = create_model("cnn", num_classes=10, in_channels=3, image_size=32, width=0.5).eval()
    x = torch.randn(64, 3, 32, 32)
    with torch.no_grad():
        for name, module in net.named_children():
            if name == "flatten":
                break
            x = module(x)
    # PyTorch's default init leaves an RMS of about 0.02 here (the signal shrinks at every conv); He init ~0.3.
    assert x.pow(2).mean().sqrt().item() > 0.2
