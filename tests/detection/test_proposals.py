from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from nnlab.detection import label_proposals, propose_regions, selective_search, voc
from nnlab.errors import NnlabError

GT = [(0, 0, 10, 10), (20, 20, 40, 40)]


def test_iou_labels_match_hand_computed_boxes():
    boxes = [
        (0, 0, 10, 5),  # inside gt0, half its area: IoU 50/100 = 0.5 -> positive
        (5, 0, 15, 10),  # overlaps gt0 by 5x10: IoU 50/150 = 1/3 -> background
        (0, 0, 10, 8),  # IoU 80/100 = 0.8 -> positive
        (20, 20, 40, 30),  # half of gt1: IoU 200/400 = 0.5 -> positive "b"
        (50, 50, 60, 60),  # no overlap: IoU 0 -> background
    ]
    df = label_proposals(boxes, GT, ["a", "b"], add_gt=False)
    assert df["iou"].tolist() == pytest.approx([0.5, 1 / 3, 0.8, 0.5, 0.0])
    assert df["gt_class"].tolist()[:4] == ["a", "a", "a", "b"]
    assert df["label"].tolist() == ["a", "background", "a", "b", "background"]


def test_gap_between_thresholds_drops_proposals_and_gt_boxes_are_added():
    boxes = [(0, 0, 10, 5), (5, 0, 15, 10), (0, 0, 10, 8), (50, 50, 60, 60)]
    df = label_proposals(boxes, GT, ["a", "b"], pos_iou=0.7, neg_iou=0.4)
    ss = df[df["source"] == "ss"]
    assert ss["iou"].tolist() == pytest.approx([1 / 3, 0.8, 0.0])  # IoU 0.5 falls in the gap
    assert ss["label"].tolist() == ["background", "a", "background"]
    gt = df[df["source"] == "gt"]
    assert gt[["x1", "y1", "x2", "y2"]].to_numpy().tolist() == [list(map(float, b)) for b in GT]
    assert gt["label"].tolist() == ["a", "b"] and gt["iou"].tolist() == [1.0, 1.0]
    with pytest.raises(NnlabError):
        label_proposals(boxes, GT, ["a", "b"], pos_iou=0.3, neg_iou=0.5)


def test_classes_restriction_makes_other_objects_background():
    df = label_proposals([(20, 20, 40, 40), (0, 0, 10, 10)], GT, ["cat", "dog"], classes=["cat"])
    assert df["label"].tolist() == ["background", "cat", "cat"]  # the dog box is a negative; one gt row added
    assert df["source"].tolist() == ["ss", "ss", "gt"]
    empty = label_proposals([(0, 0, 5, 5)], np.zeros((0, 4)), [])
    assert empty["label"].tolist() == ["background"] and empty["iou"].tolist() == [0.0]


def test_selective_search_boxes_are_mapped_back_filtered_and_unique():
    rng = np.random.default_rng(0)
    image = np.full((120, 200, 3), 40, np.uint8)
    image[20:70, 30:90] = (220, 30, 30)
    image[60:110, 120:190] = (30, 200, 60)
    image = np.clip(image + rng.integers(0, 20, image.shape), 0, 255).astype(np.uint8)
    boxes = selective_search(image, mode="fast", max_side=64, min_size=10, max_per_image=None)
    assert boxes.dtype == np.float32 and boxes.shape[1] == 4 and len(boxes) > 0
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 200).all() and (boxes[:, 3] <= 120).all()
    assert (boxes[:, 2] - boxes[:, 0] >= 10).all() and (boxes[:, 3] - boxes[:, 1] >= 10).all()
    assert boxes[:, 2].max() > 64  # coordinates are in the original 200-pixel frame
    assert len(np.unique(np.round(boxes), axis=0)) == len(boxes)
    assert len(selective_search(image, max_side=64, min_size=10, max_per_image=3)) == 3
    # OpenCV ranks boxes randomly (a generator shared by threads); ours come in the same order every time
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: selective_search(image, max_side=64, min_size=10, max_per_image=None), range(4)))
    assert all(np.array_equal(run, boxes) for run in runs)
    with pytest.raises(NnlabError):
        selective_search(image, mode="slow")


@pytest.mark.parametrize("threads", [1, 2])
def test_propose_regions_skips_and_names_corrupt_images(scenes_dir, tmp_path, threads):
    folder = tmp_path / "voc"
    shutil.copytree(scenes_dir, folder)
    train = voc.list_images(folder, "train")
    voc.image_path(folder, train[1]).write_bytes(b"\xff\xd8 truncated jpeg")
    progress = []
    df, meta = propose_regions(
        folder,
        "train",
        max_side=64,
        search_threads=threads,
        max_per_image=50,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert list(meta["skipped"]) == [train[1]]
    assert train[1] in meta["skipped"][train[1]]
    assert set(df["image"]) == set(train) - {train[1]}
    assert progress[-1] == (len(train), len(train))
    assert {"image", "file", "split", "x1", "y1", "x2", "y2", "iou", "gt_class", "label"} <= set(df.columns)
    assert (df["split"] == "train").all() and meta["table"] == "proposals" and meta["labelled"]
    assert meta["classes"] == voc.class_names(folder)
    # every ground-truth object of a readable image is among the positives
    gt = voc.read_ground_truth(folder, sorted(set(train) - {train[1]}))
    assert (df["source"] == "gt").sum() == len(gt)


def test_folder_with_no_readable_image_is_one_clear_error(tmp_path):
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "JPEGImages" / "a.jpg").write_bytes(b"junk")
    with pytest.raises(NnlabError, match="no readable image"):
        propose_regions(tmp_path, None)
    (tmp_path / "empty" / "JPEGImages").mkdir(parents=True)
    with pytest.raises(NnlabError, match="no images"):
        propose_regions(tmp_path / "empty", None)
