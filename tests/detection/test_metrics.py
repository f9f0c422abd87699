from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nnlab.detection import detection_metrics, draw_detections, plot_pr_curves, voc

CLASSES = ["a", "b"]


def _gts(n=20):
    rows = []
    for i in range(n):
        rows.append((f"im{i}", 10.0, 10.0, 40.0, 40.0, "a"))
        rows.append((f"im{i}", 50.0, 50.0, 90.0, 80.0, "b"))
    return pd.DataFrame(rows, columns=["image", "x1", "y1", "x2", "y2", "class"])


def test_perfect_detector_has_ap_one():
    gts = _gts()
    m = detection_metrics(gts.assign(score=0.9), gts, CLASSES)
    assert m.map50 == pytest.approx(1.0) and m.map == pytest.approx(1.0)
    assert m.per_class["ap50"].tolist() == pytest.approx([1.0, 1.0])
    table = m.to_frame()
    assert table["class"].tolist() == ["a", "b", "all"] and table["n_gt"].tolist() == [20, 20, 40]
    recall, precision = m.pr_curves["a"]
    assert recall[-1] == pytest.approx(1.0) and (precision == 1).all()


def test_detector_finding_half_the_objects_has_ap_about_half():
    gts = _gts()
    half = gts.iloc[::4].assign(score=0.9)  # every other image's "a"... and "b": half of each class
    half = pd.concat([gts[gts["class"] == "a"].iloc[::2], gts[gts["class"] == "b"].iloc[1::2]]).assign(score=0.8)
    m = detection_metrics(half, gts, CLASSES, images=sorted(gts["image"].unique()))
    assert m.map50 == pytest.approx(0.5, abs=0.02)
    # a false positive on an image with no objects lowers precision, hence AP
    fp = pd.concat(
        [
            gts.assign(score=0.5),
            pd.DataFrame([("empty", 0.0, 0.0, 9.0, 9.0, "a", 0.99)], columns=[*gts.columns, "score"]),
        ]
    )
    worse = detection_metrics(fp, gts, CLASSES, images=[*gts["image"].unique(), "empty"])
    assert worse.per_class["ap50"].iloc[0] < 1.0 and worse.per_class["ap50"].iloc[1] == pytest.approx(1.0)


def test_boxes_that_miss_by_iou_do_not_count_and_absent_class_is_nan():
    gts = _gts(4)
    shifted = gts.assign(x1=gts["x1"] + 20, x2=gts["x2"] + 20, score=0.9)  # IoU well below 0.5
    m = detection_metrics(shifted, gts, ["a", "b", "c"])
    assert m.per_class["ap50"].iloc[:2].tolist() == [0.0, 0.0]
    assert np.isnan(m.per_class["ap50"].iloc[2]) and m.map50 == 0.0
    nothing = detection_metrics(shifted.iloc[:0], gts, ["a", "b"])
    assert nothing.map50 == 0.0 and nothing.to_frame()["n_det"].tolist() == [0, 0, 0]


def test_draw_detections_and_pr_plot_write_pngs(tmp_path):
    image = np.zeros((100, 100, 3), np.uint8)
    gts = _gts(1)
    dets = gts.assign(score=0.75)
    path = draw_detections(image, dets, gts, tmp_path / "draw" / "im0.png", classes=CLASSES)
    drawn = voc.read_image(path)
    assert drawn.shape == image.shape and drawn.sum() > 0
    assert tuple(drawn[10, 25]) != (0, 0, 0)  # a box edge was drawn
    m = detection_metrics(dets, gts, CLASSES)
    assert plot_pr_curves(m, tmp_path / "pr.png").stat().st_size > 1000
