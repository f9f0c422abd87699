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


def test_init_skip_leaves_matched_parameters_new(tmp_path):
    """`--init-skip classifier` copies the features of the init model and keeps a fresh classifier (seed S0's
    row (b)); an unmatched pattern is an error naming the model's top-level names."""
    import pytest

    from nnlab.errors import NnlabError
    from nnlab.models import save_model
    from nnlab.training.recipe import DataOptions, build_new_model, init_from_artifact

    data = DataOptions(dataset="digits")
    torch.manual_seed(0)
    source = build_new_model("vgg16", data, width=0.125)
    save_model(tmp_path / "src.safetensors", source)
    torch.manual_seed(1)
    fresh = build_new_model("vgg16", data, width=0.125)
    before = {k: v.clone() for k, v in fresh.net.state_dict().items()}
    copied, total = init_from_artifact(fresh, tmp_path / "src.safetensors", skip=["classifier"])
    after, src = fresh.net.state_dict(), source.net.state_dict()
    assert copied == sum(1 for k in after if not k.startswith("classifier.")) and total == len(after)
    for key, value in after.items():
        expected = before[key] if key.startswith("classifier.") else src[key]
        assert torch.equal(value, expected), key
    assert not torch.equal(after["classifier.0.weight"], src["classifier.0.weight"])
    with pytest.raises(NnlabError, match="matches no parameter"):
        init_from_artifact(fresh, tmp_path / "src.safetensors", skip=["head"])
