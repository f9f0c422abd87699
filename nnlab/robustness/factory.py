"""``create_attack``: build one attack, or a chain such as ``pixels+fgsm``, from its name and parameters."""

from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from torch import Tensor, nn

from nnlab.errors import NnlabError
from nnlab.robustness import fgsm, gaussian, pgd, pixels  # noqa: F401  (registration)
from nnlab.robustness.base import Attack
from nnlab.robustness.registry import ATTACKS


class Chain(Attack):
    """Attacks applied one after another: ``pixels+fgsm`` whitens pixels, then runs FGSM on the result.

    Each part computes its perturbation on the previous part's output, so the L∞ distance to the
    clean images is bounded by the sum of the parts' budgets (pixel whitening can move a value by 1).
    """

    def __init__(self, model: nn.Module, parts: list[Attack]):
        super().__init__(model)
        self.parts = parts
        self.name = "+".join(part.name for part in parts)

    def params(self) -> dict[str, object]:
        return {part.name: part.params() for part in self.parts}

    def __call__(self, images: Tensor, labels: Tensor) -> Tensor:
        for part in self.parts:
            images = part(images, labels)
        return images

    def advance(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> None:
        for part in self.parts:
            part.advance(shape, dtype)


def attack_names() -> list[str]:
    """The names of the registered single attacks (combine them with ``+``)."""
    return ATTACKS.names()


def accepted_params(name: str) -> list[str]:
    """The parameter names that ``create_attack(name, model, ...)`` accepts, e.g. for CLI option routing."""
    found: list[str] = []
    for _, builder in _parts(name):
        found += [p for p in _signature_params(builder) if p not in found]
    return found


def create_attack(name: str, model: nn.Module, **params: Any) -> Attack:
    """Build the attack ``name`` against ``model`` (pixel-space images → logits).

    ``name`` is a registered attack (``fgsm``, ``pgd``, ``pixels``, ``gaussian``) or several joined by
    ``+`` and applied left to right. Each parameter goes to every part that accepts it (``eps`` to
    ``fgsm`` and ``pgd``, ``seed`` to ``pixels``/``gaussian``/``pgd``). ``seed`` is always accepted and
    simply unused by deterministic attacks, so a CLI can pass its ``--seed`` to any attack; any other
    parameter no part accepts, an unknown name or an out-of-range value raises NnlabError
    (UnknownNameError lists the valid names). :func:`accepted_params` lists what a name takes.
    """
    parts = _parts(name)
    accepted = {n: _signature_params(builder) for n, builder in parts}
    for key in params:
        if key != "seed" and not any(key in names for names in accepted.values()):
            options = ", ".join(sorted({p for names in accepted.values() for p in names})) or "none"
            raise NnlabError(f"attack {name!r} does not take a parameter {key!r}; it takes: {options}")
    built = [builder(model, **{k: v for k, v in params.items() if k in accepted[part]}) for part, builder in parts]
    return built[0] if len(built) == 1 else Chain(model, built)


def _parts(name: str) -> list[tuple[str, Callable[..., Attack]]]:
    if not isinstance(name, str) or not name.strip():
        raise NnlabError(f"an attack name is required; valid names: {', '.join(ATTACKS.names())}")
    pieces = [piece.strip().lower() for piece in name.split("+")]
    if any(not piece for piece in pieces):
        raise NnlabError(f"attack chain {name!r} has an empty part; write it like pixels+fgsm")
    return [(piece, ATTACKS.get(piece)) for piece in pieces]


def _signature_params(builder: Callable[..., Attack]) -> list[str]:
    names = list(inspect.signature(builder).parameters)
    return [n for n in names if n not in ("self", "model")]
