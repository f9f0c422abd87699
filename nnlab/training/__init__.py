"""The fit/evaluate engine: training loop, schedules, early stopping, checkpoints, metrics."""

from nnlab.training.config import TrainConfig
from nnlab.training.engine import (
    EvalResult,
    FitResult,
    evaluate,
    evaluate_tensors,
    fit,
    predict,
    seed_everything,
)
from nnlab.training.metrics import classification_table, confusion_from_table

__all__ = [
    "TrainConfig",
    "EvalResult",
    "FitResult",
    "evaluate",
    "evaluate_tensors",
    "fit",
    "predict",
    "seed_everything",
    "classification_table",
    "confusion_from_table",
]
