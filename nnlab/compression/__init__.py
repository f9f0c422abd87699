"""Compression by the Separation Index (seed S0): choose the cut from an SI profile, rank the cut's features,
fit a small head on the frozen backbone, compare the models.

    from nnlab.compression import choose_cut, truncate_model, run_fit_head, compare_models
"""

from __future__ import annotations

from nnlab.compression.compare import Comparison, compare_models, comparison_frame
from nnlab.compression.cut import DEFAULT_THRESHOLD, CutChoice, choose_cut, pooling_layers
from nnlab.compression.head import (
    FrozenBackbone,
    HeadRequest,
    HeadTrainer,
    backbone_features,
    build_headed,
    parse_hidden,
    require_truncated,
    run_fit_head,
    train_head,
)
from nnlab.compression.ranking_table import load_ranking, rank_features, select_from_ranking
from nnlab.compression.truncation import truncate_model

__all__ = [
    "DEFAULT_THRESHOLD",
    "Comparison",
    "CutChoice",
    "FrozenBackbone",
    "HeadRequest",
    "HeadTrainer",
    "backbone_features",
    "build_headed",
    "choose_cut",
    "compare_models",
    "comparison_frame",
    "load_ranking",
    "parse_hidden",
    "pooling_layers",
    "rank_features",
    "require_truncated",
    "run_fit_head",
    "select_from_ranking",
    "train_head",
    "truncate_model",
]
