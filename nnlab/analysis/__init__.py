"""Separation-index analysis: exact indices, forward feature ranking, activations and per-layer SI profiles.

Distances are Euclidean on z-scored float64 features; ties between equally near neighbours go to the lowest
sample index (see :mod:`nnlab.analysis.separation` for the exact definitions, :mod:`nnlab.analysis.neighbours` for
the exact nearest-neighbour engine under them).
"""

from nnlab.analysis.hooks import (
    canonical_layer,
    extract_activations,
    module_for,
    si_profile,
    si_profile_features,
)
from nnlab.analysis.neighbours import nearest_neighbors
from nnlab.analysis.ranking import RankingResult, forward_ranking, univariate_ranking
from nnlab.analysis.separation import (
    anti_si,
    center_separation_index,
    high_order_si,
    normalize_features,
    separation_index,
    separation_indices,
    soft_order_si,
    validate_inputs,
)

__all__ = [
    "RankingResult",
    "anti_si",
    "canonical_layer",
    "center_separation_index",
    "extract_activations",
    "forward_ranking",
    "high_order_si",
    "module_for",
    "nearest_neighbors",
    "normalize_features",
    "separation_index",
    "separation_indices",
    "si_profile",
    "si_profile_features",
    "soft_order_si",
    "univariate_ranking",
    "validate_inputs",
]
