"""``roi:BACKBONE`` (e.g. ``roi:mobilenet_v2``), the roi_align detector: a region classifier made of a backbone's
``features`` and a new head (Fast R-CNN style).

The net keeps the backbone's ``features`` (same state-dict keys as ``mobilenet_v2`` or ``vgg16``, so
weights copy across by name) and the seed-S1 head under ``classifier``. Two ways to run it:

* on region crops, ``forward(x)``: features → adaptive pooling to ``output_size`` → ``pool`` →
  classifier, so ``evaluate`` and crop-mode detection accept the artifact like any classifier;
* on whole images, ``nnlab.detection.roi.RoIAlignHead(net.features, net.classifier, **net.roi_options)``:
  the backbone runs once per image and every region is pooled with ``torchvision.ops.roi_align``.

Every option lives in the spec's ``arch_kwargs``, so the artifact rebuilds itself from the file.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nnlab.errors import NnlabError
from nnlab.models.registry import create_model, register_model
from nnlab.ops.regions import POOLS, reduce_pooled


def feature_strides(features: nn.Sequential, in_channels: int, size: int = 64) -> list[int]:
    """The stride (input side / map side) after each block of ``features``, from one dummy pass."""
    strides = []
    was = features.training
    features.eval()
    with torch.no_grad():
        x = torch.zeros(1, in_channels, size, size)
        for block in features:
            x = block(x)
            strides.append(max(1, round(size / x.shape[-1])) if x.ndim == 4 else strides[-1])
    features.train(was)
    return strides


def c4_split(features: nn.Sequential, in_channels: int, stride: int = 16) -> int | None:
    """Blocks of ``features`` up to the deepest one at ``stride`` or less (Faster R-CNN's C4 split).

    None when no block would remain after the split.
    """
    strides = feature_strides(features, in_channels)
    split = max((i + 1 for i, s in enumerate(strides) if s <= stride), default=None)
    return split if split is not None and split < len(features) else None


class RoIAlignNet(nn.Module):
    """Backbone ``features`` (optionally only the first ``blocks``), then pooling and the seed head.

    With ``split``, regions are pooled after the first ``split`` blocks (the trunk, run once per
    image and pyramid level) and the remaining blocks (the tail) run on every pooled region before
    the head, Faster R-CNN's C4 design: a region then goes through the same layers as a crop does.
    """

    nnlab_chain = ("features", "roi_pool", "flatten", "classifier")
    nnlab_profile = ("features*", "roi_pool", "flatten", "classifier")
    nnlab_feature_layer = "flatten"

    def __init__(
        self,
        features: nn.Module,
        in_channels: int,
        *,
        num_classes: int,
        output_size: int = 2,
        pool: str = "avg",
        image_scale: float = 1.0,
        sampling_ratio: int = 2,
        hidden: int = 256,
        dropout: float = 0.2,
        split: int | None = None,
        scales: list[float] | None = None,
        roi_size: int | None = None,
    ):
        super().__init__()
        if pool not in POOLS:
            raise NnlabError(f"unknown RoI pooling {pool!r}; valid: {', '.join(POOLS)}")
        if output_size < 1 or image_scale <= 0:
            raise NnlabError("output_size must be at least 1 and image_scale positive")
        if split is not None and not 1 <= int(split) < len(features):
            if len(features) < 2:
                raise NnlabError(f"the backbone has {len(features)} feature block(s), too few to split, got {split}")
            raise NnlabError(f"split must be in 1..{len(features) - 1}, got {split}")
        if scales is not None and (not scales or min(scales) <= 0 or not roi_size):
            raise NnlabError("scales must be positive numbers and need roi_size (the crop side the backbone knows)")
        self.features = features
        self.split = int(split) if split is not None else None
        # roi_align averages; with a tail the pooled cells stand for a crop's map, so they are averaged too
        max_pool = pool == "max" and split is None
        self.roi_pool = nn.AdaptiveMaxPool2d(output_size) if max_pool else nn.AdaptiveAvgPool2d(output_size)
        self.flatten = nn.Flatten()
        with torch.no_grad():
            was = features.training
            features.eval()
            out = self.pooled_map(torch.zeros(1, in_channels, 64, 64))
            features.train(was)
        dim = out[0].numel() if pool == "flatten" else out.shape[1]
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
        )
        self.pool = pool
        self.roi_options = {
            "output_size": int(output_size),
            "pool": pool,
            "image_scale": float(image_scale),
            "sampling_ratio": int(sampling_ratio),
            "channels": int(in_channels),
        }
        if scales is not None:
            self.roi_options.update(scales=[float(v) for v in scales], roi_size=int(roi_size))

    @property
    def trunk(self) -> nn.Module:
        """The blocks that run once per image (all of ``features`` without a split)."""
        return self.features[: self.split] if self.split is not None else self.features

    @property
    def tail(self) -> nn.Module | None:
        """The blocks that run on every pooled region (None without a split)."""
        return self.features[self.split :] if self.split is not None else None

    def pooled_map(self, x: torch.Tensor) -> torch.Tensor:
        """Whole (normalized) crops → the map a box covering each crop gets: pooled trunk map, then the tail."""
        if self.split is None:
            return self.roi_pool(self.features(x))
        return self.tail(self.roi_pool(self.trunk(x)))

    def region_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features of whole (normalized) crops, as RoIAlign would pool a box covering the crop."""
        return reduce_pooled(self.pooled_map(x), self.pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.region_features(x))


def _roi_defaults(backbone: str) -> dict[str, Any]:
    return {"image_size": 32, "channels": 3, "mean": None, "std": None, "pretrained": False}


@register_model(
    "roi:",
    defaults=_roi_defaults,
    arch_args={
        "backbone_kwargs": dict,
        "blocks": (int, None),
        "output_size": int,
        "pool": POOLS,
        "image_scale": float,
        "sampling_ratio": int,
        "hidden": int,
        "dropout": float,
        "split": (int, None),
        "scales": (list, None),
        "roi_size": (int, None),
    },
)
def build_roi_align(
    backbone: str,
    *,
    num_classes,
    in_channels,
    image_size,
    width,
    pretrained,
    backbone_kwargs: dict[str, Any] | None = None,
    blocks: int | None = None,
    output_size: int = 2,
    pool: str = "avg",
    image_scale: float = 1.0,
    sampling_ratio: int = 2,
    hidden: int = 256,
    dropout: float = 0.2,
    split: int | None = None,
    scales: list[float] | None = None,
    roi_size: int | None = None,
    **kwargs,
) -> nn.Module:
    """Region classifier for align-mode detection: a backbone's ``features`` (first ``blocks``) + RoIAlign + seed head.

    ``split`` pools regions inside the backbone (C4 head: the blocks after ``split`` run per
    region); ``scales`` and ``roi_size`` make a feature pyramid (each region pooled at the level
    where its side is closest to ``roi_size``).
    """
    if kwargs:
        raise NnlabError(f"roi:{backbone} does not take {', '.join(sorted(kwargs))}")
    if pretrained:
        raise NnlabError(
            "a roi_align model takes its backbone from a model artifact (the init model), not from the hub"
        )
    source = create_model(
        backbone,
        num_classes=2,
        in_channels=in_channels,
        image_size=image_size,
        width=width,
        **dict(backbone_kwargs or {}),
    )
    features = getattr(source, "features", None)
    if not isinstance(features, nn.Sequential):
        raise NnlabError(f"roi_align needs a backbone with a `features` block (mobilenet_v2, vgg16), not {backbone}")
    if blocks is not None:
        if not 1 <= int(blocks) <= len(features):
            if not len(features):
                raise NnlabError(f"the {backbone} backbone has no feature blocks to keep, got blocks={blocks}")
            raise NnlabError(f"blocks must be in 1..{len(features)} for {backbone}, got {blocks}")
        features = features[: int(blocks)]
    return RoIAlignNet(
        features,
        in_channels,
        num_classes=num_classes,
        output_size=output_size,
        pool=pool,
        image_scale=image_scale,
        sampling_ratio=sampling_ratio,
        hidden=hidden,
        dropout=dropout,
        split=split,
        scales=scales,
        roi_size=roi_size,
    )
