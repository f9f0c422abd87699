"""FGSM (Goodfellow et al. 2015): one step of size eps along the sign of the input gradient."""

from __future__ import annotations

from torch import Tensor, nn

from nnlab.robustness.base import GradientAttack, check_unit, signed
from nnlab.robustness.registry import ATTACKS


@ATTACKS.register("fgsm")  # help: nnlab.robustness.plugin
class FGSM(GradientAttack):
    """Fast gradient sign method: ``clamp(x + eps · sign(∇ₓ CE(model(x), y)), 0, 1)``.

    Same arithmetic, in the same order, as ``torchattacks.FGSM`` (untargeted), so both give identical
    images on the same model and inputs (unless ``channels_last``, see :class:`GradientAttack`).
    """

    name = "fgsm"

    def __init__(self, model: nn.Module, eps: float = 8 / 255, channels_last: bool = False):
        super().__init__(model)
        self.eps = check_unit("eps", eps)
        self.channels_last = bool(channels_last)

    def params(self) -> dict[str, object]:
        return {"eps": self.eps, **({"channels_last": True} if self.channels_last else {})}

    def perturb(self, images: Tensor, labels: Tensor) -> Tensor:
        grad = self.input_gradient(images.detach(), labels)
        return signed(grad).mul_(self.eps).add_(images).clamp_(0, 1)
