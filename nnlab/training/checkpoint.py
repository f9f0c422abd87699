"""Training checkpoints as safetensors plus JSON, so resuming never unpickles a file.

A checkpoint is a nested structure (model, optimizer and scheduler state, history, settings).
Its tensors go into a safetensors file under generated names; everything else becomes JSON in the
file's metadata, with each tensor replaced by a reference to its name. Dictionary keys keep their
type (optimizer state is keyed by parameter index) and tuples stay tuples, so what comes back is
exactly what was saved and a resumed run continues bit for bit.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from nnlab.artifacts import open_tensors, save_tensors
from nnlab.errors import ArtifactError

KIND = "checkpoint"
STATE_KEY = "nnlab.checkpoint"


def _encode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = value.detach().to("cpu").contiguous().clone()
        return {"tensor": name}
    if isinstance(value, dict):
        return {"dict": [[_encode(k, tensors), _encode(v, tensors)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, tensors) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a checkpoint cannot hold a {type(value).__name__}")


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if isinstance(value, dict):
        if set(value) == {"tensor"}:
            return tensors[value["tensor"]]
        if set(value) == {"dict"}:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in value["dict"]}
        if set(value) == {"tuple"}:
            return tuple(_decode(v, tensors) for v in value["tuple"])
        if set(value) == {"float"} and value["float"] in ("nan", "inf", "-inf"):
            return float(value["float"])
        raise ValueError(f"unknown entry {sorted(value)}")
    return value


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` (nested dicts, lists, tuples, numbers, strings, tensors) atomically."""
    tensors: dict[str, torch.Tensor] = {}
    encoded = _encode(state, tensors)
    return save_tensors(path, tensors, {STATE_KEY: json.dumps(encoded)}, KIND)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; anything else is an :class:`ArtifactError`."""
    with contextlib.suppress(OSError), open(path, "rb") as f:
        head = f.read(9)  # safetensors: 8 bytes of header length, then the JSON header's "{"
        if head[8:9] != b"{" and (head[:1] == b"\x80" or head[:2] == b"PK"):  # a pickle, or torch.save's zip
            raise ArtifactError(
                f"{path} is a pickled checkpoint (an older nnlab's, or not nnlab's at all); "
                "nnlab does not unpickle files, so it cannot resume from it: start afresh"
            )
    tensors, metadata = open_tensors(path, KIND)
    try:
        state = _decode(json.loads(metadata[STATE_KEY]), tensors)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(
            f"{path} is not a readable nnlab checkpoint (its {STATE_KEY} metadata is broken: {type(exc).__name__})"
        ) from None
    if not isinstance(state, dict):
        raise ArtifactError(f"{path} is not a readable nnlab checkpoint ({STATE_KEY} is not a mapping)")
    return state
