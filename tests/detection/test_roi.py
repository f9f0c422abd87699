from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.ops import box_iou

from nnlab.detection import (
    RoIAlignHead,
    classify_crops,
    crop_regions,
    detections_frame,
    extract_roi_features,
    postprocess,
    pyramid_levels,
)


class Counting(nn.Module):
    """Mean colour → 2 logits; counts forward calls and batch sizes."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.calls = []

    def forward(self, x):
        self.calls.append(len(x))
        return self.lin(x.mean(dim=(2, 3)))


def test_classify_crops_is_batched_and_matches_single_crops():
    image = torch.rand(3, 40, 60)
    boxes = torch.tensor(
        [[0, 0, 10, 10], [5, 5, 40, 30], [20, 0, 60, 40], [1, 2, 3, 4], [10, 10, 50, 39]], dtype=torch.float32
    )
    model = Counting().eval()
    probs = classify_crops(model, image, boxes, size=8, batch=2)
    assert model.calls == [2, 2, 1]  # never one forward pass per region
    assert probs.shape == (5, 2) and torch.allclose(probs.sum(1), torch.ones(5))
    single = torch.cat([model(crop_regions(image, b[None], 8)).softmax(1) for b in boxes]).detach()
    assert torch.allclose(probs, single, atol=1e-6)


def test_extract_roi_features_uses_one_backbone_pass_and_feature_stride():
    calls = []
    conv = nn.Conv2d(3, 4, kernel_size=4, stride=4)

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            calls.append(tuple(x.shape))
            return self.conv(x)

    image = torch.rand(3, 32, 48)
    boxes = torch.tensor([[0, 0, 16, 16], [8, 8, 40, 32], [0, 0, 48, 32]], dtype=torch.float32)
    feats = extract_roi_features(Backbone(), image, boxes, output_size=2, pool="avg")
    assert calls == [(1, 3, 32, 48)] and feats.shape == (3, 4)
    flat = extract_roi_features(
        Backbone(), image, boxes, output_size=2, pool="flatten", image_scale=0.5, mean=[0.5] * 3, std=[0.25] * 3
    )
    assert calls[-1] == (1, 3, 16, 24) and flat.shape == (3, 16)
    # a box on exactly one feature cell (stride 4) pools that cell's value
    fmap = conv(image[None])
    cell = extract_roi_features(Backbone(), image, torch.tensor([[8.0, 4, 12, 8]]), output_size=1, sampling_ratio=1)
    assert torch.allclose(cell[0], fmap[0, :, 1, 2], atol=1e-5)


def test_pyramid_levels_pick_the_scale_that_brings_a_box_closest_to_roi_size():
    boxes = torch.tensor([[0.0, 0, 32, 32], [0, 0, 64, 64], [0, 0, 128, 128], [0, 0, 40, 40], [0, 0, 16, 64]])
    assert pyramid_levels(boxes, [1.0, 0.5, 0.25], 32).tolist() == [0, 1, 2, 0, 0]
    assert pyramid_levels(boxes[:1], [2.0, 1.0], 64).tolist() == [0]


def test_extract_roi_features_runs_each_needed_pyramid_level_once_then_the_tail():
    calls = []

    class Backbone(nn.Module):
        def forward(self, x):
            calls.append(tuple(x.shape))
            return nn.functional.avg_pool2d(x, 4)

    tail = nn.Conv2d(3, 5, kernel_size=2)
    image = torch.rand(3, 64, 64)
    boxes = torch.tensor([[0.0, 0, 8, 8], [8, 8, 24, 24], [0, 0, 16, 16]])
    feats = extract_roi_features(
        Backbone(), image, boxes, tail=tail, output_size=2, scales=[2.0, 1.0, 0.5], roi_size=16
    )
    assert sorted(calls) == [(1, 3, 64, 64), (1, 3, 128, 128)] and feats.shape == (3, 5)
    # the 16-pixel boxes are pooled at scale 1 and go through the tail
    at_one = extract_roi_features(Backbone(), image, boxes[1:], tail=tail, output_size=2)
    assert torch.allclose(feats[1:], at_one, atol=1e-6)


def test_roialign_head_keeps_backbone_frozen_and_trains_head():
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    head = nn.Linear(8, 3)
    model = RoIAlignHead(backbone, head, output_size=2)
    model.train()
    assert not backbone.training and head.training
    image, boxes = torch.rand(3, 32, 32), torch.tensor([[0.0, 0, 16, 16], [8, 8, 32, 32]])
    logits = model(image, boxes)
    logits.sum().backward()
    assert logits.shape == (2, 3) and head.weight.grad is not None
    assert all(p.grad is None and not p.requires_grad for p in backbone.parameters())
    probs = model.predict_proba(image, boxes)
    assert probs.shape == (2, 3) and torch.allclose(probs.sum(1), torch.ones(2))


def test_postprocess_nms_leaves_no_same_class_overlap_above_threshold():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 2, generator=g) * 80
    wh = 10 + torch.rand(300, 2, generator=g) * 30
    boxes = torch.cat([xy, xy + wh], dim=1)
    scores = torch.rand(300, 4, generator=g).softmax(1)
    out_boxes, out_scores, labels = postprocess(boxes, scores, score_thr=0.2, nms_iou=0.3, top=1000)
    assert len(out_boxes) > 0 and (out_scores >= 0.2).all() and (labels != 0).all()
    assert (out_scores[:-1] >= out_scores[1:]).all()
    for k in labels.unique():
        same = out_boxes[labels == k]
        iou = box_iou(same, same).fill_diagonal_(0)
        assert iou.max() <= 0.3 + 1e-6
    # classes never suppress each other, and top keeps the best
    two = postprocess(
        torch.tensor([[0.0, 0, 10, 10]] * 2),
        torch.tensor([[0.1, 0.9, 0.0], [0.1, 0.0, 0.9]]),
        score_thr=0.5,
        nms_iou=0.3,
    )
    assert sorted(two[2].tolist()) == [1, 2]
    assert len(postprocess(boxes, scores, score_thr=0.2, nms_iou=0.3, top=5)[0]) == 5
    frame = detections_frame("im", *two, classes=["background", "cat", "dog"])
    assert frame.columns.tolist() == ["image", "x1", "y1", "x2", "y2", "score", "class"]
    assert sorted(frame["class"]) == ["cat", "dog"] and frame["score"].tolist() == pytest.approx([0.9, 0.9])
