"""How and where a stage runs: device, numeric precision, data-loading workers and the seed.

A base module (no torch, so the command line can build one before anything heavy loads). Every stage's request
carries one :class:`Runtime` beside its :class:`~nnlab.data.selection.DataSelection` (which data, and how it is
batched); each option has its home in exactly one of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnlab.errors import ParameterError

PRECISIONS = ("32", "bf16", "16", "auto")
"""``--precision`` values (:mod:`nnlab.training.precision` says what each does)."""


@dataclass
class Runtime:
    """``device``: auto, cpu, cuda, cuda:N or mps (:func:`nnlab.device.resolve_device`). ``precision``: one of
    :data:`PRECISIONS`; the stages that train follow it, the others run in float32. ``num_workers`` None: the
    machine's default (:func:`nnlab.data.loader.default_num_workers`). ``seed`` seeds everything random in the
    stage: the val carve and subsets of the data, initialisation, shuffling, attacks, embeddings."""

    device: str = "auto"
    precision: str = "auto"
    num_workers: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_workers is not None and self.num_workers < 0:
            raise ParameterError("num_workers", "num_workers must not be negative")
        self.precision = str(self.precision)
        if self.precision not in PRECISIONS:
            raise ParameterError("precision", f"unknown precision {self.precision!r}; valid: {', '.join(PRECISIONS)}")
