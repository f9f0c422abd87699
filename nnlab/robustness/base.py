"""Shared machinery for attacks: input checks, the model guard, parameter validation, ``parse_eps``.

Every attack is an :class:`Attack`: built once with a model and its parameters, then called as
``attack(images, labels)`` on pixel-space batches (N × C × H × W in [0, 1]). The base class checks the
batch, moves it to the model's device, runs the attack with gradients enabled (even when the caller is
inside ``torch.no_grad`` or ``torch.inference_mode``) and leaves the model exactly as it found it.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from fractions import Fraction
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nnlab.errors import NnlabError


def parse_eps(value: str | float | int) -> float:
    """Parse a perturbation size such as ``"8/255"``, ``"0.03"`` or ``0.03`` into a float in [0, 1].

    The CLI takes ``--eps 8/255`` because papers state budgets as fractions of 255; a bad string or a
    value outside [0, 1] raises NnlabError.
    """
    return check_unit("eps", value)


def check_unit(name: str, value: str | float | int) -> float:
    """Return ``value`` as a float in [0, 1] (pixel units), else raise NnlabError.

    Accepts numbers and strings such as ``"0.03"`` or ``"8/255"``, so attack parameters can come
    straight from a command line.
    """
    number: float | None = None
    if isinstance(value, str):
        text = value.strip()
        try:
            if "/" in text:
                numerator, denominator = text.split("/", 1)
                number = float(Fraction(numerator.strip()) / Fraction(denominator.strip()))
            else:
                number = float(text)
        except (ValueError, ZeroDivisionError):
            number = None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    if number is None or not math.isfinite(number):
        raise NnlabError(
            f"{name} must be a number between 0 and 1 (pixel units) or a fraction such as 8/255, got {value!r}"
        )
    if not 0.0 <= number <= 1.0:
        raise NnlabError(f"{name} must be between 0 and 1 (pixel units), got {number:g}")
    return number


def check_count(name: str, value: int, minimum: int) -> int:
    """Return ``value`` if it is an integer ≥ ``minimum``, else raise NnlabError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise NnlabError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return value


def model_device(model: nn.Module) -> torch.device | None:
    """The device of the model's first parameter or buffer; None for a stateless model."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return None


@contextmanager
def frozen_eval(model: nn.Module) -> Iterator[None]:
    """Put ``model`` in eval mode with ``requires_grad=False`` on every parameter, then restore both.

    Attacks need gradients with respect to the input only; freezing the parameters keeps autograd from
    recording weight-gradient work, and eval mode keeps BatchNorm statistics and dropout out of the
    attack. Each module's own ``training`` flag and each parameter's ``requires_grad`` flag are restored
    exactly, even when they were mixed. ``.grad`` fields are never touched (attacks use
    ``torch.autograd.grad``).
    """
    modes = [(module, module.training) for module in model.modules()]
    flags = [(param, param.requires_grad) for param in model.parameters()]
    try:
        model.eval()
        for param, _ in flags:
            param.requires_grad_(False)
        yield
    finally:
        for module, training in modes:
            module.training = training
        for param, requires_grad in flags:
            param.requires_grad_(requires_grad)


class Attack:
    """Base class: ``attack(images, labels) -> adversarial images`` in [0, 1], on the model's device.

    Subclasses set ``uses_model`` (False for noise that ignores the model) and implement
    :meth:`perturb`, which receives a checked batch and may assume gradients are enabled and the model
    is frozen in eval mode.
    """

    name = "attack"
    uses_model = True

    def __init__(self, model: nn.Module):
        if not isinstance(model, nn.Module):
            raise NnlabError(f"an attack needs a torch model, got {type(model).__name__}")
        self.model = model

    def params(self) -> dict[str, object]:
        """The attack's parameters, for artifact metadata."""
        return {}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{self.name}({inner})"

    def __call__(self, images: Tensor, labels: Tensor) -> Tensor:
        """Return adversarial versions of ``images`` (a new tensor; the inputs are not modified)."""
        images, labels = self._check(images, labels)
        with torch.inference_mode(False), torch.enable_grad():
            if images.is_inference():
                images = images.clone()
            if labels.is_inference():
                labels = labels.clone()
            if not self.uses_model:
                return self.perturb(images, labels)
            with frozen_eval(self.model):
                return self.perturb(images, labels)

    def perturb(self, images: Tensor, labels: Tensor) -> Tensor:
        """Compute the adversarial batch; implemented by each attack."""
        raise NotImplementedError

    def advance(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> None:
        """Move this attack's random stream past one batch of ``shape`` without attacking it.

        A seeded attack continues its stream from batch to batch; a rank that attacks only a later share of
        a split (under torchrun) first skips the earlier batches, so it draws exactly what a one-process run
        draws for its batches. Attacks without randomness have nothing to skip.
        """

    def _check(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise NnlabError(f"attacks take a float image batch N×C×H×W, got {shape}")
        if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.shape[0] != images.shape[0]:
            shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
            raise NnlabError(f"attacks take one integer label per image ({images.shape[0]}), got {shape}")
        device = model_device(self.model)
        if device is not None:
            images = images.to(device)
            labels = labels.to(device)
        return images, labels.long()


class GradientAttack(Attack):
    """An attack that follows the sign of the cross-entropy gradient with respect to the input.

    ``channels_last`` passes the batch to the model in channels-last memory format (timm's
    ``--channels-last``): oneDNN's channels-last convolution and pooling kernels make a VGG-like
    CNN's passes about 1.3-1.4x faster on the CPU (benchmarks/attacks.py; ResNet18: FGSM 1.17x,
    PGD no gain), but they sum in another order, so the gradient differs by float rounding and,
    where a component is that close to zero, its sign can flip; PGD's later steps then drift apart
    (0.3-1.8 % of the pixel values of a 128-image PGD-10 batch differ from torchattacks'). Off by
    default, so that FGSM and PGD reproduce torchattacks exactly.
    """

    channels_last = False

    def input_gradient(self, inputs: Tensor, labels: Tensor) -> Tensor:
        """Gradient of the mean cross-entropy loss with respect to ``inputs`` (a detached leaf)."""
        inputs.requires_grad_(True)
        model_inputs = inputs
        if self.channels_last and inputs.dim() == 4:
            model_inputs = inputs.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(self.model(model_inputs), labels)
        if not loss.requires_grad:
            raise NnlabError(
                f"{self.name} needs a model whose output is differentiable in its input; this one "
                "(e.g. a k-NN head) is not, so attack a differentiable model and evaluate this one on "
                "the stored adversarial set (a transfer attack)"
            )
        (grad,) = torch.autograd.grad(loss, inputs)
        inputs.requires_grad_(False)
        return grad.contiguous()


def signed(grad: Tensor) -> Tensor:
    """``grad.sign()``, computed in place when ``grad`` owns plain contiguous storage."""
    return grad.sign_() if grad.is_contiguous() else grad.sign()
