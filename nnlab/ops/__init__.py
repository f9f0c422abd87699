"""Torch-only tensor operations shared by models and the stages above them (no nnlab imports but the base).

:mod:`nnlab.ops.regions`: image arrays to tensors, cropping boxes, feature-pyramid levels, pooled-map reduction.
"""

from __future__ import annotations

from nnlab.ops.regions import (
    POOLS,
    as_boxes,
    as_image,
    crop_regions,
    image_to_tensor,
    normalize,
    pyramid_levels,
    reduce_pooled,
    scale_image,
)

__all__ = [
    "POOLS",
    "as_boxes",
    "as_image",
    "crop_regions",
    "image_to_tensor",
    "normalize",
    "pyramid_levels",
    "reduce_pooled",
    "scale_image",
]
