"""Gaussian noise: add N(0, sigma²) to every pixel value, then clip to [0, 1]."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nnlab.robustness.base import Attack, check_count, check_unit
from nnlab.robustness.registry import ATTACKS


@ATTACKS.register("gaussian")  # help: nnlab.robustness.plugin
class Gaussian(Attack):
    """``clamp(x + sigma · N(0, 1), 0, 1)`` with noise from this attack's own CPU generator.

    A model-free baseline: how much of an attack's effect is just noise. Seeded like ``pixels``
    (successive calls continue the stream).
    """

    name = "gaussian"
    uses_model = False

    def __init__(self, model: nn.Module, sigma: float = 0.1, seed: int = 0):
        super().__init__(model)
        self.sigma = check_unit("sigma", sigma)
        self.seed = check_count("seed", seed, 0)
        self.generator = torch.Generator().manual_seed(seed)

    def params(self) -> dict[str, object]:
        return {"sigma": self.sigma, "seed": self.seed}

    def advance(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> None:
        torch.randn(shape, dtype=dtype, generator=self.generator)

    def perturb(self, images: Tensor, labels: Tensor) -> Tensor:
        noise = torch.randn(images.shape, dtype=images.dtype, generator=self.generator)
        return noise.to(images.device).mul_(self.sigma).add_(images.detach()).clamp_(0, 1)
