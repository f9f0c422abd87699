"""Training checkpoints as safetensors plus JSON, so resuming never unpickles a file.

A checkpoint is a nested structure (model, optimizer and scheduler state, history, settings).
Its tensors go into a safetensors file under generated names; everything else becomes JSON in the
file's metadata, with each tensor replaced by a reference to its name. Dictionary keys keep their
type (optimizer state is keyed by parameter index) and tuples stay tuples, so what comes back is
exactly what was saved and a resumed run continues bit for bit.

What a training checkpoint carries is a :class:`FitState` (:meth:`FitState.state_dict`); the resume
policy — which checkpoints a run may continue from — is :func:`resume_fit`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nnlab.artifacts import open_tensors, save_tensors
from nnlab.errors import ArtifactError, NnlabError
from nnlab.training.config import TrainConfig

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


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s state dict on the CPU (contiguous tensors), unaffected by later training."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


@dataclass
class FitState:
    """Everything a training run's checkpoint carries: the model, optimizer, schedule and gradient scaler,
    and the loop's progress (last finished epoch, history, best-validation weights, epochs without progress).

    ``world`` is the number of processes that trained it; the batches depend on it, so a run resumes only
    with the same number.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    config: TrainConfig
    world: int = 1
    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None
    best_acc: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint's contents (CPU copies of the model and optimizer state)."""
        return {
            "world_size": self.world,
            "epoch": self.epoch,
            "model": cpu_state(self.model),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "config": self.config.to_dict(),
            "history": self.history,
            "best_state": self.best_state,
            "best_acc": self.best_acc,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (a :meth:`state_dict`): load the model, optimizer, schedule and scaler in
        place and take over the loop's progress."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.history, self.best_state, self.best_acc = state["history"], state["best_state"], state["best_acc"]
        self.best_epoch, self.bad_epochs, self.epoch = state["best_epoch"], state["bad_epochs"], state["epoch"]


def save_fit_state(path: str | os.PathLike, state: FitState) -> Path:
    """Write ``state``'s checkpoint to ``path`` atomically."""
    return save_checkpoint(path, state.state_dict())


RESUME_KEYS = (
    "batch_size",
    "optimizer",
    "lr",
    "lr_head",
    "momentum",
    "weight_decay",
    "schedule",
    "step_size",
    "gamma",
    "label_smoothing",
    "seed",
    "class_weights",
    "grad_accum",
)
"""Settings a resumed run must share with its checkpoint: they decide the batches and the steps."""
_RESUME_DEFAULTS = {"grad_accum": 1}  # checkpoints made before the option existed

_CHECKPOINT_TYPES = {
    "epoch": int,
    "model": dict,
    "optimizer": dict,
    "scheduler": (dict, type(None)),
    "config": dict,
    "history": list,
    "best_state": (dict, type(None)),
    "best_acc": (float, int, type(None)),
    "best_epoch": int,
    "bad_epochs": int,
}


def resume_fit(state: FitState, path: str | os.PathLike | None) -> int:
    """Continue ``state`` from the checkpoint at ``path``; returns the first epoch still to train.

    The resume policy: the checkpoint must exist, be a complete training checkpoint, come from the same
    number of processes and the same :data:`RESUME_KEYS` settings (and the same epochs for a schedule that
    depends on them), and fit the model and optimizer. Anything else is one clear error.
    """
    if path is None or not Path(path).exists():
        raise NnlabError(f"cannot resume: no checkpoint at {path}; start afresh instead")
    saved = _resumable(Path(path), state.config, state.world)
    try:
        state.load_state_dict(saved)
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ArtifactError(f"{path} does not fit this model and optimizer ({first})") from None
    return state.epoch + 1


def _resumable(path: Path, config: TrainConfig, world: int) -> dict[str, Any]:
    """The checkpoint at ``path`` if this run (``config``, ``world`` processes) may continue from it."""
    state = load_checkpoint(path)
    wrong = [k for k, t in _CHECKPOINT_TYPES.items() if k not in state or not isinstance(state[k], t)]
    if wrong:
        raise ArtifactError(f"{path} is not a usable nnlab checkpoint (missing or malformed {', '.join(wrong)})")
    saved_world = state.get("world_size", 1)
    if saved_world != world:
        raise NnlabError(
            f"cannot resume: the checkpoint was made by {saved_world} process(es) and this run has {world}; "
            "the batches depend on it, so resume with the same number of processes or start afresh"
        )
    saved = state["config"]
    changed = [k for k in RESUME_KEYS if saved.get(k, _RESUME_DEFAULTS.get(k)) != getattr(config, k)]
    if changed:
        raise NnlabError(
            f"cannot resume: the checkpoint was made with different {', '.join(changed)}; "
            "use the same options or start afresh"
        )
    if saved.get("epochs") != config.epochs and config.schedule in ("cosine", "onecycle"):
        raise NnlabError(
            "cannot resume: the checkpoint was made with a different number of epochs, which changes this schedule"
        )
    return state
