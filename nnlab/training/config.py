"""Training options, validated once so the engine can trust them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from nnlab.data.selection import DataSelection
from nnlab.errors import NnlabError, ParameterError
from nnlab.runtime import PRECISIONS, Runtime

OPTIMIZERS = ("sgd", "adam", "adamw")
FROM_DATA = ("batch_size",)
FROM_RUNTIME = ("seed", "num_workers", "precision")
"""The options a training request says once, in its data selection and its runtime, and :meth:`TrainConfig.for_run`
copies into the config that `fit` reads."""
SCHEDULES = ("none", "step", "exponential", "cosine", "onecycle")


@dataclass
class TrainConfig:
    """Everything `fit` needs to know besides the model and the data.

    ``num_workers`` None: :func:`nnlab.data.loader.default_num_workers`. ``precision``: see
    :mod:`nnlab.training.precision`. ``grad_clip``: the largest global L2 norm of the gradients (clipped before
    each optimizer step). ``grad_accum``: micro-batches of ``batch_size`` per optimizer step, so the effective
    batch is ``batch_size × grad_accum``.
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.01
    lr_head: float | None = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "none"
    step_size: int = 30
    gamma: float = 0.1
    label_smoothing: float = 0.0
    patience: int | None = None
    seed: int = 0
    num_workers: int | None = None
    precision: str = "auto"
    grad_clip: float | None = None
    grad_accum: int = 1
    channels_last: bool = True
    sync_bn: bool = False
    class_weights: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ParameterError("epochs", f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ParameterError("batch_size", f"batch_size must be at least 1, got {self.batch_size}")
        if self.optimizer not in OPTIMIZERS:
            raise NnlabError(f"unknown optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise NnlabError(f"unknown schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}")
        if not self.lr > 0 or (self.lr_head is not None and not self.lr_head > 0):
            raise NnlabError("learning rates must be positive")
        if self.weight_decay < 0 or self.momentum < 0:
            raise ParameterError(("weight_decay", "momentum"), "weight_decay and momentum must not be negative")
        if not 0 <= self.label_smoothing < 1:
            raise ParameterError("label_smoothing", f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.patience is not None and self.patience < 1:
            raise ParameterError("patience", f"patience must be at least 1, got {self.patience}")
        if self.step_size < 1 or not self.gamma > 0:
            raise ParameterError(("step_size", "gamma"), "step_size must be at least 1 and gamma positive")
        if self.num_workers is not None and self.num_workers < 0:
            raise ParameterError("num_workers", "num_workers must not be negative")
        if str(self.precision) not in PRECISIONS:
            raise ParameterError("precision", f"unknown precision {self.precision!r}; valid: {', '.join(PRECISIONS)}")
        self.precision = str(self.precision)
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ParameterError("grad_clip", f"grad_clip must be positive, got {self.grad_clip}")
        if int(self.grad_accum) != self.grad_accum or self.grad_accum < 1:
            raise ParameterError(
                "grad_accum", f"grad_accum must be a whole number of at least 1, got {self.grad_accum}"
            )

    def for_run(self, data: DataSelection, runtime: Runtime) -> "TrainConfig":
        """This config with the batch size of ``data`` and the seed, workers and precision of ``runtime``.

        A request says those once, in its data selection and runtime; a config that sets one of them to anything
        but the default and the request's value is an error rather than silently overruled.
        """
        default = TrainConfig()
        given = {name: (getattr(data, name), "data") for name in FROM_DATA}
        given.update({name: (getattr(runtime, name), "runtime") for name in FROM_RUNTIME})
        for name, (value, where) in given.items():
            said = getattr(self, name)
            if said != getattr(default, name) and said != value:
                raise ParameterError(
                    name, f"{name} is said in the request's {where} ({where}.{name}), not in its training config"
                )
        return replace(self, **{name: value for name, (value, _) in given.items()})

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy, for provenance and checkpoints."""
        return asdict(self)
