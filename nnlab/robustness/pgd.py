"""PGD (Madry et al. 2018), L∞: repeated signed-gradient steps projected onto the eps-ball and [0, 1]."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nnlab.robustness.base import GradientAttack, check_count, check_unit, signed
from nnlab.robustness.registry import ATTACKS


@ATTACKS.register("pgd")  # help: nnlab.robustness.plugin
class PGD(GradientAttack):
    """Projected gradient descent in L∞.

    Each step: ``x ← x + alpha · sign(∇ₓ CE)``, then ``x ← clamp(x₀ + clamp(x − x₀, −eps, eps), 0, 1)`` —
    the arithmetic and order of ``torchattacks.PGD``, so without random start both give identical
    images (unless ``channels_last``, see :class:`GradientAttack`). With ``random_start`` the start is ``clamp(x₀
    + U(−eps, eps), 0, 1)`` drawn from this
    attack's own generator (seeded by ``seed``, on the CPU so every device sees the same noise);
    successive calls continue that stream.
    """

    name = "pgd"

    def __init__(
        self,
        model: nn.Module,
        eps: float = 8 / 255,
        alpha: float = 2 / 255,
        steps: int = 10,
        random_start: bool = True,
        seed: int = 0,
        channels_last: bool = False,
    ):
        super().__init__(model)
        self.channels_last = bool(channels_last)
        self.eps = check_unit("eps", eps)
        self.alpha = check_unit("alpha", alpha)
        self.steps = check_count("steps", steps, 1)
        self.random_start = bool(random_start)
        self.seed = check_count("seed", seed, 0)
        self.generator = torch.Generator().manual_seed(seed)

    def params(self) -> dict[str, object]:
        return {
            "eps": self.eps,
            "alpha": self.alpha,
            "steps": self.steps,
            "random_start": self.random_start,
            "seed": self.seed,
            **({"channels_last": True} if self.channels_last else {}),
        }

    def advance(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> None:
        if self.random_start:
            torch.empty(shape, dtype=dtype).uniform_(-self.eps, self.eps, generator=self.generator)

    def perturb(self, images: Tensor, labels: Tensor) -> Tensor:
        images = images.detach()
        if self.random_start:
            noise = torch.empty(images.shape, dtype=images.dtype).uniform_(
                -self.eps, self.eps, generator=self.generator
            )
            adv = (images + noise.to(images.device)).clamp_(0, 1)
        else:
            adv = images.clone()
        for _ in range(self.steps):
            grad = self.input_gradient(adv, labels)
            adv.add_(signed(grad).mul_(self.alpha))
            adv.sub_(images).clamp_(-self.eps, self.eps).add_(images).clamp_(0, 1)
        return adv
