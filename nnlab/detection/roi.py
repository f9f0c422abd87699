"""Batched region classification (R-CNN crops or Fast R-CNN RoIAlign) and detection post-processing.

Never one forward pass per region: ``crop`` mode cuts and resizes every region of an image in one
``roi_align`` call and classifies the crops in batches; ``align`` mode runs a frozen backbone once per
image and pools every region from its feature map.

How crops match training: :func:`nnlab.ops.crop_regions` is ``torchvision.ops.roi_align`` on the image itself
with ``aligned=True`` (a box ``(x1, y1, x2, y2)`` in nnlab's continuous pixel convention covers exactly
the pixels ``image[y1:y2, x1:x2]``), output ``size x size``, adaptive sampling (``ceil(box side /
size)`` bilinear samples per output pixel and axis, averaged, which anti-aliases large boxes).
:class:`~nnlab.detection.dataset.ProposalsDataset` calls the same function to make its training
crops, so a region is the same tensor at training and at detection time. A box exactly
``size`` pixels wide on integer coordinates gives the pixels themselves.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torchvision.ops import batched_nms, roi_align

from nnlab.detection.proposals import BOX_COLUMNS
from nnlab.device import module_device
from nnlab.errors import NnlabError
from nnlab.ops.regions import (
    POOLS,
    as_boxes,
    as_image,
    crop_regions,
    normalize,
    pyramid_levels,
    reduce_pooled,
    scale_image,
)


@torch.inference_mode()
def classify_crops(
    model: nn.Module,
    image: torch.Tensor | np.ndarray,
    boxes,
    size: int,
    batch: int = 256,
    channels: int = 3,
) -> torch.Tensor:
    """Class probabilities (softmax, N x K, on the CPU) of every region of one image, crop mode.

    ``model`` maps images in [0, 1] to logits (an nnlab Classifier, which normalizes inside) and
    should be in eval mode; ``image`` is C x H x W float in [0, 1] or an RGB uint8 array (converted
    to ``channels``). Regions are cut by :func:`crop_regions` on the model's device and classified
    ``batch`` at a time.
    """
    device = module_device(model)
    image = as_image(image, channels).to(device)
    boxes = as_boxes(boxes, device)
    outputs = []
    for start in range(0, len(boxes), batch):
        crops = crop_regions(image, boxes[start : start + batch], size)
        outputs.append(model(crops).float().softmax(dim=1).cpu())
    if not outputs:
        num = getattr(getattr(model, "spec", None), "classes", None)
        return torch.zeros(0, len(num) if num else 0)
    return torch.cat(outputs)


def extract_roi_features(
    backbone: nn.Module,
    image: torch.Tensor | np.ndarray,
    boxes,
    *,
    tail: nn.Module | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    output_size: int = 2,
    pool: str = "avg",
    image_scale: float = 1.0,
    scales: Sequence[float] | None = None,
    roi_size: float | None = None,
    spatial_scale: float | None = None,
    sampling_ratio: int = 2,
    channels: int = 3,
) -> torch.Tensor:
    """RoIAlign features of every box of one image, one backbone pass per pyramid level → N x D.

    The image (C x H x W in [0, 1]) is resized to each level of ``scales`` that some box needs
    (:func:`pyramid_levels` with ``roi_size``; without ``scales``, one level ``image_scale``),
    normalized with ``mean``/``std`` (what the Classifier wrapper would do) and passed through
    ``backbone`` (images → B x C' x h x w feature map). Each box, scaled alike, is pooled with
    ``roi_align(aligned=True)`` to ``output_size x output_size`` with ``spatial_scale`` = feature
    width / input width unless given (1/stride). ``tail`` (the backbone's remaining blocks, as in
    Faster R-CNN's C4 head) then runs on every pooled region. ``pool`` reduces the result: ``avg``
    (→ C', the shape a global-average-pooled classifier head takes), ``max`` (→ C') or
    ``flatten`` (→ C' x h' x w'). Used both to train an align head (features computed once per
    image, then a head fitted on them) and at detection time, so both see identical features.
    Gradients follow the caller's grad mode; the modules' train/eval modes are left as they are.
    """
    if pool not in POOLS:
        raise NnlabError(f"unknown RoI pooling {pool!r}; valid: {', '.join(POOLS)}")
    device = module_device(backbone)
    x = normalize(as_image(image, channels).to(device)[None].float(), mean, std)
    boxes = as_boxes(boxes, device)
    if scales:
        if roi_size is None:
            raise NnlabError("a feature pyramid (scales) needs roi_size, the side the backbone was trained on")
        levels, level_of = [float(s) for s in scales], pyramid_levels(boxes, scales, roi_size)
    else:
        levels, level_of = [float(image_scale)], torch.zeros(len(boxes), dtype=torch.long, device=device)
    features: torch.Tensor | None = None
    for level, scale in enumerate(levels):
        rows = (level_of == level).nonzero().flatten()
        if len(rows) == 0 and not (features is None and level == len(levels) - 1):
            continue
        # Normalizing before resizing equals resizing then normalizing (both are affine per channel).
        scaled = scale_image(x, scale)
        fmap = backbone(scaled)
        if fmap.ndim != 4:
            raise NnlabError(
                f"the RoIAlign backbone must output a B x C x h x w feature map, got shape {tuple(fmap.shape)}"
            )
        box_scale = torch.tensor([scaled.shape[-1] / x.shape[-1], scaled.shape[-2] / x.shape[-2]] * 2, device=device)
        stride_scale = spatial_scale if spatial_scale is not None else fmap.shape[-1] / scaled.shape[-1]
        pooled = roi_align(
            fmap,
            [boxes[rows] * box_scale],
            output_size=(output_size, output_size),
            spatial_scale=stride_scale,
            sampling_ratio=sampling_ratio,
            aligned=True,
        )
        if tail is not None:
            pooled = tail(pooled)
        reduced = reduce_pooled(pooled, pool)
        if features is None:
            features = reduced.new_empty(len(boxes), reduced.shape[1])
        features[rows] = reduced
    return features


class RoIAlignHead(nn.Module):
    """Fast R-CNN-style region classifier: frozen backbone once per image (per pyramid level), RoIAlign, then ``head``.

    ``forward(image, boxes) -> logits N x K`` for one C x H x W image in [0, 1]. ``head`` maps
    the pooled features of :func:`extract_roi_features` (same options, stored here) to logits, so
    a head trained on features from that function plugs in unchanged. ``tail``, when given, is the
    rest of the backbone, run on every pooled region. The backbone and tail are frozen and stay
    in eval mode even when this module is put in train mode.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        *,
        tail: nn.Module | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        output_size: int = 2,
        pool: str = "avg",
        image_scale: float = 1.0,
        scales: Sequence[float] | None = None,
        roi_size: float | None = None,
        sampling_ratio: int = 2,
        channels: int = 3,
    ):
        super().__init__()
        self.backbone = backbone
        self.tail = tail
        self.head = head
        self.options = {
            "mean": list(mean) if mean is not None else None,
            "std": list(std) if std is not None else None,
            "output_size": output_size,
            "pool": pool,
            "image_scale": image_scale,
            "scales": list(scales) if scales else None,
            "roi_size": roi_size,
            "sampling_ratio": sampling_ratio,
            "channels": channels,
        }
        for module in (self.backbone, self.tail):
            if module is not None:
                for p in module.parameters():
                    p.requires_grad_(False)
                module.eval()

    def train(self, mode: bool = True) -> "RoIAlignHead":
        super().train(mode)
        self.backbone.eval()
        if self.tail is not None:
            self.tail.eval()
        return self

    def features(self, image: torch.Tensor | np.ndarray, boxes) -> torch.Tensor:
        """Pooled region features (no gradient into the frozen backbone)."""
        with torch.no_grad():
            return extract_roi_features(self.backbone, image, boxes, tail=self.tail, **self.options)

    def forward(self, image: torch.Tensor | np.ndarray, boxes) -> torch.Tensor:
        return self.head(self.features(image, boxes))

    @torch.inference_mode()
    def predict_proba(self, image: torch.Tensor | np.ndarray, boxes, batch: int = 4096) -> torch.Tensor:
        """Softmax probabilities N x K on the CPU; the head runs ``batch`` regions at a time."""
        feats = self.features(image, boxes)
        return (
            torch.cat([self.head(feats[i : i + batch]).float().softmax(1).cpu() for i in range(0, len(feats), batch)])
            if len(feats)
            else torch.zeros(0, 0)
        )


@torch.no_grad()
def extract_proposal_features(
    backbone: nn.Module,
    dataset,
    *,
    tail: nn.Module | None = None,
    progress: Callable[[int, int], None] | None = None,
    **options,
) -> tuple[torch.Tensor, torch.Tensor]:
    """RoIAlign features of every row of a :class:`ProposalsDataset`, one backbone pass per image.

    Returns ``(features N x D on the CPU, targets N)`` in the dataset's row order, ready to fit an
    align-mode head (e.g. wrap them in a TensorDataset). ``tail`` and ``options`` go to
    :func:`extract_roi_features` (mean, std, output_size, pool, image_scale, ...); ``channels``
    defaults to the dataset's. ``progress(done, total)`` counts images.
    """
    options.setdefault("channels", dataset.channels)
    df = dataset.df
    groups = df.groupby("file", sort=False).indices
    features: torch.Tensor | None = None
    for done, (file, rows) in enumerate(groups.items(), start=1):
        image = dataset.load_image(file)
        feats = extract_roi_features(
            backbone, image, df[BOX_COLUMNS].to_numpy(np.float32)[rows], tail=tail, **options
        ).cpu()
        if features is None:
            features = torch.empty(len(df), feats.shape[1], dtype=feats.dtype)
        features[torch.as_tensor(rows)] = feats
        if progress is not None:
            progress(done, len(groups))
    if features is None:
        features = torch.zeros(0, 0)
    return features, torch.as_tensor(dataset.targets, dtype=torch.long)


def postprocess(
    boxes,
    scores: torch.Tensor,
    *,
    score_thr: float = 0.5,
    nms_iou: float = 0.3,
    top: int | None = 100,
    background: int | None = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class score threshold, per-class NMS and top-k of one image's region scores.

    ``scores`` is N x K (softmax probabilities, column ``background`` ignored when not None). Each
    (box, class) pair with score >= ``score_thr`` is a candidate; ``torchvision.ops.batched_nms``
    with ``nms_iou`` removes same-class overlaps (classes never suppress each other); the ``top``
    best survivors are kept. Returns ``(boxes M x 4, scores M, labels M)``, by decreasing score,
    labels being column indices of ``scores``.
    """
    boxes = as_boxes(boxes, "cpu")
    scores = torch.as_tensor(scores, dtype=torch.float32).cpu()
    if scores.ndim != 2 or len(scores) != len(boxes):
        raise ValueError(f"scores must be N x K for N={len(boxes)} boxes, got {tuple(scores.shape)}")
    mask = scores >= score_thr
    if background is not None and scores.shape[1]:
        mask[:, background] = False
    rows, labels = mask.nonzero(as_tuple=True)
    cand_boxes, cand_scores = boxes[rows], scores[rows, labels]
    keep = batched_nms(cand_boxes, cand_scores, labels, nms_iou)
    if top is not None:
        keep = keep[:top]
    return cand_boxes[keep], cand_scores[keep], labels[keep]


def detections_frame(
    image: str, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, classes: Sequence[str]
) -> "pandas.DataFrame":  # noqa: F821
    """The output of :func:`postprocess` for one image as rows image, x1, y1, x2, y2, score, class."""
    import pandas as pd

    frame = pd.DataFrame(
        torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4).numpy(), columns=["x1", "y1", "x2", "y2"]
    )
    frame.insert(0, "image", image)
    frame["score"] = torch.as_tensor(scores, dtype=torch.float32).numpy()
    frame["class"] = [str(classes[int(k)]) for k in labels]
    return frame
