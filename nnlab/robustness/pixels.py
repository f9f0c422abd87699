"""Pixel noise: set n random pixel positions of each image to white (all channels 1.0)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nnlab.errors import NnlabError
from nnlab.robustness.base import Attack, check_count
from nnlab.robustness.registry import ATTACKS


@ATTACKS.register("pixels")  # help: nnlab.robustness.plugin
class Pixels(Attack):
    """Whiten ``n`` distinct random pixel positions per image, the same positions in every channel.

    The seed study's noise (20 white pixels) before FGSM. Positions come from this attack's own CPU
    generator seeded by ``seed``; successive calls continue its stream, so attacking a dataset batch
    by batch in the same order reproduces the same images, and a new attack with the same seed
    reproduces the whole sequence. The model is not used.
    """

    name = "pixels"
    uses_model = False

    def __init__(self, model: nn.Module, n: int = 20, seed: int = 0):
        super().__init__(model)
        self.n = check_count("n", n, 0)
        self.seed = check_count("seed", seed, 0)
        self.generator = torch.Generator().manual_seed(seed)

    def params(self) -> dict[str, object]:
        return {"n": self.n, "seed": self.seed}

    def advance(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> None:
        if self.n and shape[0] and self.n <= shape[2] * shape[3]:
            torch.rand(shape[0], shape[2] * shape[3], generator=self.generator)

    def perturb(self, images: Tensor, labels: Tensor) -> Tensor:
        batch, channels, height, width = images.shape
        if self.n > height * width:
            raise NnlabError(f"pixels: n={self.n} exceeds the {height}×{width} pixels of an image")
        adv = images.detach().clamp(0, 1)
        if self.n == 0 or batch == 0:
            return adv
        scores = torch.rand(batch, height * width, generator=self.generator)
        positions = scores.topk(self.n, dim=1).indices.to(images.device)
        flat = adv.view(batch, channels, height * width)
        flat.scatter_(2, positions.unsqueeze(1).expand(batch, channels, self.n), 1.0)
        return adv
