"""`nnlab detect`'s library side: inputs, class checks, per-class NMS, stored proposals, drawings; the two stage
calls."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from nnlab import artifacts
from nnlab.detection import propose_regions, voc
from nnlab.detection.align import build_align_model
from nnlab.detection.stage import (
    DetectOptions,
    DetectRequest,
    ProposeRequest,
    check_classes,
    collect_inputs,
    detect_images,
    draw_all,
    max_same_class_overlap,
    run_detect,
    run_propose_regions,
)
from nnlab.errors import NnlabError
from nnlab.models import create_classifier, save_model

CLASSES = [str(i) for i in range(10)]


@pytest.fixture(scope="module")
def detector():
    torch.manual_seed(1)
    return create_classifier("mobilenet_v2", ["background", *CLASSES], size=16, width=0.25).eval()


FAST = dict(max_side=96, max_per_image=60, search_threads=1, batch_size=128)


def test_detections_of_one_class_never_overlap_above_nms_iou(scenes_dir, detector):
    options = DetectOptions(score=0.0, nms_iou=0.3, top=None, **FAST)
    result = detect_images(detector, [scenes_dir], options, split="train")
    dets = result.detections
    assert list(dets.columns) == ["image", "x1", "y1", "x2", "y2", "score", "class"]
    assert len(dets) > 20 and dets["class"].isin(CLASSES).all()
    assert max_same_class_overlap(dets) <= 0.3 + 1e-6
    assert result.regions > 0 and result.regions_per_second > 0
    frame = result.metrics.to_frame()
    assert frame["class"].iloc[-1] == "all" and 0 <= result.metrics.map50 <= 1
    assert set(result.images) == set(voc.list_images(scenes_dir, "train"))


def test_top_and_score_limit_the_detections(scenes_dir, detector):
    result = detect_images(detector, [scenes_dir], DetectOptions(score=0.0, top=3, **FAST), split="val")
    assert result.detections.groupby("image").size().max() <= 3
    none = detect_images(detector, [scenes_dir], DetectOptions(score=1.0, **FAST), split="val")
    assert len(none.detections) == 0 and none.metrics.map50 == 0


def test_align_mode_runs_a_roi_align_model(scenes_dir, detector):
    model, _ = build_align_model(detector, ["background", *CLASSES], {})
    result = detect_images(model.eval(), [scenes_dir], DetectOptions(roi_mode="align", score=0.0, **FAST), split="test")
    assert len(result.detections) > 0 and max_same_class_overlap(result.detections) <= 0.3 + 1e-6
    with pytest.raises(NnlabError, match="roi_align"):
        detect_images(detector, [scenes_dir], DetectOptions(roi_mode="align", **FAST), split="test")


def test_loose_images_missing_and_corrupt_files_are_skipped_and_named(scenes_dir, detector, tmp_path):
    good = voc.image_path(scenes_dir, voc.list_images(scenes_dir, "test")[0])
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all")
    images, root, skipped = collect_inputs([good, bad, tmp_path / "missing.png"])
    assert root is None and set(images) == {good.stem, "broken"} and "missing" in skipped
    result = detect_images(detector, [good, bad], DetectOptions(score=0.5, **FAST))
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
        detect_images(mismatched, [scenes_dir], DetectOptions(**FAST), split="test")


def test_stored_proposals_replace_the_search_and_must_fit_the_model(scenes_dir, detector, tmp_path):
    df, meta = propose_regions(scenes_dir, "test", max_side=96, max_per_image=60, add_gt=False)
    path = artifacts.save_table(tmp_path / "test.parquet", df, meta)
    result = detect_images(detector, [scenes_dir], DetectOptions(score=0.0, **FAST), split="test", proposals=path)
    assert result.regions == len(df)
    with_gt = artifacts.save_table(tmp_path / "gt.parquet", *propose_regions(scenes_dir, "test", max_side=96))
    with pytest.raises(NnlabError, match="without adding the ground-truth boxes"):
        detect_images(detector, [scenes_dir], DetectOptions(**FAST), split="test", proposals=with_gt)
    meta["classes"] = ["cat", "3"]
    other = artifacts.save_table(tmp_path / "other.parquet", df, meta)
    with pytest.raises(NnlabError, match="proposals' labels"):
        detect_images(detector, [scenes_dir], DetectOptions(**FAST), split="test", proposals=other)


def test_malformed_annotation_is_one_error_naming_the_file(scenes_dir, detector, tmp_path):
    copy = tmp_path / "voc"
    shutil.copytree(scenes_dir, copy)
    image_id = voc.list_images(copy, "test")[0]
    voc.annotation_path(copy, image_id).write_text("<annotation><size><width>9")
    with pytest.raises(NnlabError, match=f"{image_id}.xml"):
        detect_images(detector, [copy], DetectOptions(**FAST), split="test")


def test_draw_all_writes_one_png_per_image(scenes_dir, detector, tmp_path):
    result = detect_images(detector, [scenes_dir], DetectOptions(score=0.2, **FAST), split="test")
    assert draw_all(result, tmp_path / "drawn") == len(result.images)
    pngs = sorted((tmp_path / "drawn").glob("*.png"))
    assert len(pngs) == len(result.images)
    image = voc.read_image(pngs[0])
    assert image.shape[:2] == (96, 96) and np.asarray(image).std() > 0


def test_run_detect_writes_detections_metrics_curves_and_drawings(scenes_dir, detector, tmp_path):
    model_path = tmp_path / "det.safetensors"
    save_model(model_path, detector)
    out = tmp_path / "dets.parquet"
    outcome = run_detect(
        DetectRequest(
            model=model_path,
            inputs=[scenes_dir],
            output=out,
            split="test",
            options=DetectOptions(score=0.0, **FAST),
            draw=tmp_path / "drawn",
            device="cpu",
        ),
        provenance={"command": "pytest"},
    )
    images = voc.list_images(scenes_dir, "test")
    assert outcome.metrics_path == tmp_path / "dets.metrics.parquet" and outcome.plot == tmp_path / "dets.pr.png"
    assert outcome.plot.stat().st_size > 1000 and outcome.drawn == len(images)
    assert sorted(p.stem for p in (tmp_path / "drawn").iterdir()) == sorted(images)
    dets, meta = artifacts.load_table(out, table="detections")
    assert dets.equals(outcome.result.detections) and meta["provenance"]["command"] == "pytest"
    assert meta["options"]["search_threads"] == 1
    metrics, mmeta = artifacts.load_table(outcome.metrics_path, table="detection_metrics")
    assert mmeta["map50"] == pytest.approx(outcome.result.metrics.map50) and metrics["class"].iloc[-1] == "all"


def test_run_detect_without_annotations_writes_only_detections(scenes_dir, detector, tmp_path):
    model_path = tmp_path / "det.safetensors"
    save_model(model_path, detector)
    image = voc.image_path(scenes_dir, voc.list_images(scenes_dir, "test")[0])
    outcome = run_detect(
        DetectRequest(
            model=model_path,
            inputs=[image],
            output=tmp_path / "d.parquet",
            options=DetectOptions(score=0.0, **FAST),
            device="cpu",
        )
    )
    assert outcome.metrics_path is None and outcome.plot is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.parquet", "det.safetensors"]


def test_run_propose_regions_writes_the_labelled_table(scenes_dir, tmp_path):
    out = tmp_path / "props.parquet"
    outcome = run_propose_regions(
        ProposeRequest(voc_dir=scenes_dir, output=out, split="val", max_side=96, max_per_image=40, search_threads=1),
        provenance={"command": "pytest"},
    )
    df, meta = artifacts.load_table(out, table="proposals")
    assert df.equals(outcome.frame) and meta["labelled"] and meta["provenance"]["command"] == "pytest"
    assert set(df["image"]) == set(voc.list_images(scenes_dir, "val")) and outcome.summary["proposals"] == len(df)
    with pytest.raises(NnlabError, match="no such object"):
        run_propose_regions(
            ProposeRequest(
                voc_dir=scenes_dir,
                output=tmp_path / "x.parquet",
                split="val",
                max_side=96,
                max_per_image=40,
                search_threads=1,
                classes=["zebra"],
            )
        )
    assert not (tmp_path / "x.parquet").exists()
