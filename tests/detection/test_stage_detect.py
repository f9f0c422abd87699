"""`nnlab detect`'s library side: inputs, class checks, per-class NMS, stored proposals, drawings."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from nnlab import artifacts
from nnlab.detection import propose_regions, voc
from nnlab.detection.align import build_align_model
from nnlab.detection.stage import (
    DetectOptions, check_classes, collect_inputs, draw_all, max_same_class_overlap, run_detection,
)
from nnlab.errors import NnlabError
from nnlab.models import create_classifier

CLASSES = [str(i) for i in range(10)]


@pytest.fixture(scope="module")
def detector():
    torch.manual_seed(1)
    return create_classifier("mobilenet_v2", ["background", *CLASSES], size=16, width=0.25).eval()


FAST = dict(max_side=96, max_per_image=60, workers=1, batch_size=128)


def test_detections_of_one_class_never_overlap_above_nms_iou(scenes_dir, detector):
    options = DetectOptions(score=0.0, nms_iou=0.3, top=None, **FAST)
    result = run_detection(detector, [scenes_dir], options, split="train")
    dets = result.detections
    assert list(dets.columns) == ["image", "x1", "y1", "x2", "y2", "score", "class"]
    assert len(dets) > 20 and dets["class"].isin(CLASSES).all()
    assert max_same_class_overlap(dets) <= 0.3 + 1e-6
    assert result.regions > 0 and result.regions_per_second > 0
    frame = result.metrics.to_frame()
    assert frame["class"].iloc[-1] == "all" and 0 <= result.metrics.map50 <= 1
    assert set(result.images) == set(voc.list_images(scenes_dir, "train"))


def test_top_and_score_limit_the_detections(scenes_dir, detector):
    result = run_detection(detector, [scenes_dir], DetectOptions(score=0.0, top=3, **FAST), split="val")
    assert result.detections.groupby("image").size().max() <= 3
    none = run_detection(detector, [scenes_dir], DetectOptions(score=1.0, **FAST), split="val")
    assert len(none.detections) == 0 and none.metrics.map50 == 0


def test_align_mode_runs_a_roi_align_model(scenes_dir, detector):
    model, _ = build_align_model(detector, ["background", *CLASSES], {})
    result = run_detection(model.eval(), [scenes_dir], DetectOptions(roi_mode="align", score=0.0, **FAST), split="test")
    assert len(result.detections) > 0 and max_same_class_overlap(result.detections) <= 0.3 + 1e-6
    with pytest.raises(NnlabError, match="roi_align"):
        run_detection(detector, [scenes_dir], DetectOptions(roi_mode="align", **FAST), split="test")


def test_loose_images_missing_and_corrupt_files_are_skipped_and_named(scenes_dir, detector, tmp_path):
    good = voc.image_path(scenes_dir, voc.list_images(scenes_dir, "test")[0])
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all")
    images, root, skipped = collect_inputs([good, bad, tmp_path / "missing.png"])
    assert root is None and set(images) == {good.stem, "broken"} and "missing" in skipped
    result = run_detection(detector, [good, bad], DetectOptions(score=0.5, **FAST))
    assert "broken" in result.skipped and result.metrics is None and list(result.images) == [good.stem]


def test_clear_errors_for_models_and_inputs(tmp_path, detector, scenes_dir):
    with pytest.raises(NnlabError, match="background"):
        check_classes(CLASSES)
    with pytest.raises(NnlabError, match="do not match the annotated classes"):
        check_classes(["background", "cat", "dog"], ["3", "5"])
    assert check_classes(["background", "3", "5"], ["3"]) == ["3", "5"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NnlabError, match="JPEGImages"):
        collect_inputs([empty])
    with pytest.raises(NnlabError, match="roi_mode"):
        DetectOptions(roi_mode="pool").check()
    mismatched = create_classifier("mobilenet_v2", ["background", "cat"], size=16, width=0.25)
    with pytest.raises(NnlabError, match="do not match"):
        run_detection(mismatched, [scenes_dir], DetectOptions(**FAST), split="test")


def test_stored_proposals_replace_the_search_and_must_fit_the_model(scenes_dir, detector, tmp_path):
    df, meta = propose_regions(scenes_dir, "test", max_side=96, max_per_image=60, add_gt=False)
    path = artifacts.save_table(tmp_path / "test.parquet", df, meta)
    result = run_detection(detector, [scenes_dir], DetectOptions(score=0.0, **FAST), split="test", proposals=path)
    assert result.regions == len(df)
    with_gt = artifacts.save_table(tmp_path / "gt.parquet", *propose_regions(scenes_dir, "test", max_side=96))
    with pytest.raises(NnlabError, match="without adding the ground-truth boxes"):
        run_detection(detector, [scenes_dir], DetectOptions(**FAST), split="test", proposals=with_gt)
    meta["classes"] = ["cat", "3"]
    other = artifacts.save_table(tmp_path / "other.parquet", df, meta)
    with pytest.raises(NnlabError, match="proposals' labels"):
        run_detection(detector, [scenes_dir], DetectOptions(**FAST), split="test", proposals=other)


def test_malformed_annotation_is_one_error_naming_the_file(scenes_dir, detector, tmp_path):
    copy = tmp_path / "voc"
    shutil.copytree(scenes_dir, copy)
    image_id = voc.list_images(copy, "test")[0]
    voc.annotation_path(copy, image_id).write_text("<annotation><size><width>9")
    with pytest.raises(NnlabError, match=f"{image_id}.xml"):
        run_detection(detector, [copy], DetectOptions(**FAST), split="test")


def test_draw_all_writes_one_png_per_image(scenes_dir, detector, tmp_path):
    result = run_detection(detector, [scenes_dir], DetectOptions(score=0.2, **FAST), split="test")
    assert draw_all(result, tmp_path / "drawn") == len(result.images)
    pngs = sorted((tmp_path / "drawn").glob("*.png"))
    assert len(pngs) == len(result.images)
    image = voc.read_image(pngs[0])
    assert image.shape[:2] == (96, 96) and np.asarray(image).std() > 0
