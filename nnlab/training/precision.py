"""Mixed precision as Lightning and timm users expect it: ``--precision 32|bf16|16|auto``.

- ``32``: plain float32.
- ``bf16``: autocast to bfloat16, no gradient scaling (bf16 has float32's exponent range). On CUDA only where
  the GPU computes bf16 natively (``torch.cuda.is_bf16_supported(including_emulation=False)``: Ampere and
  newer); on the CPU through CPU autocast.
- ``16``: autocast to float16 with a :class:`torch.amp.GradScaler` (float16 gradients underflow without one);
  CUDA only.
- ``auto``: ``bf16`` on a CUDA GPU with native bf16, else ``16`` on CUDA, else ``32`` (CPU, MPS).
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from nnlab.errors import NnlabError, ParameterError
from nnlab.runtime import PRECISIONS


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` is a CUDA GPU that computes bfloat16 natively (not emulated)."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)


def resolve_precision(requested: str, device: torch.device) -> str:
    """The concrete precision (``32``, ``bf16`` or ``16``) for ``requested`` on ``device``; a combination the
    device cannot run (bf16 on a GPU that only emulates it, fp16 off CUDA) is a clear error."""
    requested = str(requested)
    if requested not in PRECISIONS:
        raise ParameterError("precision", f"unknown precision {requested!r}; valid: {', '.join(PRECISIONS)}")
    if requested == "auto":
        if device.type != "cuda":
            return "32"
        return "bf16" if native_bf16(device) else "16"
    if requested == "bf16" and device.type == "cuda" and not native_bf16(device):
        raise NnlabError(f"{device} has no native bfloat16 support (it would only be emulated); use precision 16")
    if requested == "bf16" and device.type not in ("cuda", "cpu"):
        raise NnlabError(f"bf16 mixed precision runs on CUDA or the CPU, not on {device.type}; use precision 32")
    if requested == "16" and device.type != "cuda":
        raise NnlabError(f"fp16 mixed precision needs a CUDA GPU (device is {device.type}); use precision bf16 or 32")
    return requested


def autocast(device: torch.device, precision: str):
    """The autocast context of a resolved ``precision`` (a no-op context for ``32``)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "16":
        return torch.autocast(device.type, dtype=torch.float16)
    return nullcontext()


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A gradient scaler, enabled only for fp16 (disabled it passes losses and steps through unchanged)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "16")
