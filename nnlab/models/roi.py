"""``roi:BACKBONE`` (e.g. ``roi:mobilenet_v2``), the roi_align detector: a region classifier made of a backbone's ``features`` and a new head (Fast R-CNN style).

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

POOLS = ("avg", "max", "flatten")


class RoIAlignNet(nn.Module):
    """Backbone ``features`` (optionally only the first ``blocks``), then pooling and the seed head."""

    nnlab_chain = ("features", "roi_pool", "flatten", "classifier")
    nnlab_profile = ("features*", "roi_pool", "flatten", "classifier")
    nnlab_feature_layer = "flatten"

    def __init__(self, features: nn.Module, in_channels: int, *, num_classes: int, output_size: int = 2,
                 pool: str = "avg", image_scale: float = 1.0, sampling_ratio: int = 2, hidden: int = 256,
                 dropout: float = 0.2):
        super().__init__()
        if pool not in POOLS:
            raise NnlabError(f"unknown RoI pooling {pool!r}; valid: {', '.join(POOLS)}")
        if output_size < 1 or image_scale <= 0:
            raise NnlabError("output_size must be at least 1 and image_scale positive")
        self.features = features
        self.roi_pool = nn.AdaptiveAvgPool2d(output_size) if pool != "max" else nn.AdaptiveMaxPool2d(output_size)
        self.flatten = nn.Flatten()
        with torch.no_grad():
            was = features.training
            features.eval()
            channels = features(torch.zeros(1, in_channels, 64, 64)).shape[1]
            features.train(was)
        dim = channels * output_size * output_size if pool == "flatten" else channels
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                                        nn.Linear(hidden, num_classes))
        self.pool = pool
        self.roi_options = {"output_size": int(output_size), "pool": pool, "image_scale": float(image_scale),
                            "sampling_ratio": int(sampling_ratio), "channels": int(in_channels)}

    def region_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features of whole (normalized) crops, as RoIAlign would pool a box covering the crop."""
        pooled = self.roi_pool(self.features(x))
        if self.pool == "avg":
            return pooled.mean(dim=(2, 3))
        if self.pool == "max":
            return pooled.amax(dim=(2, 3))
        return self.flatten(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.region_features(x))


def _roi_defaults(backbone: str) -> dict[str, Any]:
    return {"image_size": 32, "channels": 3, "mean": None, "std": None, "pretrained": False}


@register_model("roi:", defaults=_roi_defaults)
def build_roi_align(backbone: str, *, num_classes, in_channels, image_size, width, pretrained,
                    backbone_kwargs: dict[str, Any] | None = None, blocks: int | None = None, output_size: int = 2,
                    pool: str = "avg", image_scale: float = 1.0, sampling_ratio: int = 2, hidden: int = 256,
                    dropout: float = 0.2, **kwargs) -> nn.Module:
    """Region classifier for align-mode detection: a backbone's ``features`` (first ``blocks``) + RoIAlign + seed head."""
    if kwargs:
        raise NnlabError(f"roi:{backbone} does not take {', '.join(sorted(kwargs))}")
    if pretrained:
        raise NnlabError("a roi_align model takes its backbone from a model artifact (--init), not from the hub")
    source = create_model(backbone, num_classes=2, in_channels=in_channels, image_size=image_size, width=width,
                          **dict(backbone_kwargs or {}))
    features = getattr(source, "features", None)
    if not isinstance(features, nn.Sequential):
        raise NnlabError(f"roi_align needs a backbone with a `features` block (mobilenet_v2, vgg16), not {backbone}")
    if blocks is not None:
        if not 1 <= int(blocks) <= len(features):
            raise NnlabError(f"blocks must be in 1..{len(features)} for {backbone}, got {blocks}")
        features = features[: int(blocks)]
    return RoIAlignNet(features, in_channels, num_classes=num_classes, output_size=output_size, pool=pool,
                       image_scale=image_scale, sampling_ratio=sampling_ratio, hidden=hidden, dropout=dropout)
