"""Devices: choosing one (``auto|cpu|cuda|mps``) and telling where a module lives."""

from __future__ import annotations

import torch

from nnlab.errors import NnlabError


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter (else first buffer); CPU for a module with neither."""
    tensor = next(module.parameters(), None)
    if tensor is None:
        tensor = next(module.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def resolve_device(name: str = "auto") -> torch.device:
    """Turn a device name into a torch device; 'auto' prefers CUDA, then MPS, then CPU."""
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise NnlabError(f"device {name!r} was asked for but CUDA is not available on this machine")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise NnlabError("device 'mps' was asked for but MPS is not available on this machine")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise NnlabError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    return torch.device(name)
