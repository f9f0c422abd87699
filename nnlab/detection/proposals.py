"""Region proposals by OpenCV selective search, and their labels by IoU with the ground truth.

The pipeline is R-CNN's: selective search proposes class-agnostic boxes; each box gets the IoU of
its best-matching ground-truth box and a label (that box's class when IoU >= ``pos_iou``,
``"background"`` when IoU < ``neg_iou``, dropped in between); the ground-truth boxes themselves are
added as positives. The result is one DataFrame that :mod:`nnlab.detection.dataset` cuts crops from
on the fly, so no crop is ever written to disk.

Boxes use nnlab's 0-based continuous convention (see :mod:`nnlab.detection.voc`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from nnlab.detection import voc
from nnlab.detection._search import MODES, propose_one, selective_search
from nnlab.errors import NnlabError, ParameterError

__all__ = ["BACKGROUND", "MODES", "label_proposals", "propose_images", "propose_regions", "selective_search"]

BACKGROUND = "background"
BOX_COLUMNS = ["x1", "y1", "x2", "y2"]


def propose_images(
    paths: Sequence[str | os.PathLike],
    *,
    names: Sequence[str] | None = None,
    mode: str = "fast",
    max_side: int | None = 256,
    min_size: float = 8,
    max_per_image: int | None = 2000,
    search_threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, tuple[np.ndarray, tuple[int, int]]], dict[str, str]]:
    """Selective search over many image files, ``search_threads`` at a time (threads; OpenCV drops the GIL).

    Returns ``(results, skipped)``: ``results[name] = (boxes N x 4 float32, (width, height))`` in the
    input order, and ``skipped[name] = reason`` for every unreadable or corrupt image (never a crash).
    ``names`` defaults to the file stems. ``progress(done, total)`` is called after each image.
    """
    if mode not in MODES:
        raise NnlabError(f"unknown selective-search mode {mode!r}; valid modes: {', '.join(MODES)}")
    if search_threads < 1:
        raise ParameterError(
            "search_threads", f"search_threads (selective-search threads) must be at least 1, got {search_threads}"
        )
    names = list(names) if names is not None else [Path(p).stem for p in paths]
    if len(names) != len(paths):
        raise ValueError("names and paths differ in length")
    options = {"mode": mode, "max_side": max_side, "min_size": min_size, "max_per_image": max_per_image}
    jobs = [(n, str(p), options) for n, p in zip(names, paths, strict=False)]
    results: dict[str, tuple[np.ndarray, tuple[int, int]]] = {}
    skipped: dict[str, str] = {}

    def collect(outcomes) -> None:
        for done, (name, boxes, size, error) in enumerate(outcomes, start=1):
            if error is not None:
                skipped[name] = error
            else:
                results[name] = (boxes, size)
            if progress is not None:
                progress(done, len(jobs))

    if search_threads == 1 or len(jobs) <= 1:
        collect(map(propose_one, jobs))
    else:
        # Threads, not processes: OpenCV releases the GIL while it decodes and searches, so threads
        # run in parallel. A forked process inherits OpenCV's thread pool in a locked state and can
        # deadlock in it (seen here); a spawned one re-imports the caller's main module and torch.
        with ThreadPoolExecutor(min(search_threads, len(jobs))) as pool:
            collect(pool.map(propose_one, jobs))
    ordered = {n: results[n] for n in names if n in results}
    return ordered, skipped


def label_proposals(
    boxes: np.ndarray | "torch.Tensor",  # noqa: F821
    gt_boxes: np.ndarray | "torch.Tensor",  # noqa: F821
    gt_classes: Sequence[str],
    pos_iou: float = 0.5,
    neg_iou: float = 0.5,
    classes: Sequence[str] | None = None,
    add_gt: bool = True,
) -> pd.DataFrame:
    """Label proposals by IoU with the ground truth; returns x1, y1, x2, y2, iou, gt_class, label, source.

    For every proposal, ``iou`` is the IoU (torchvision.ops.box_iou) with its best-matching
    ground-truth box and ``gt_class`` that box's class ("" when the image has none). ``label`` is
    ``gt_class`` when ``iou >= pos_iou``, ``"background"`` when ``iou < neg_iou``; proposals in
    between are dropped (none when the two thresholds are equal).

    ``classes`` restricts the positive classes (the seed's single "cat"). Ground-truth objects of
    other classes are ignored when matching, so a proposal on them is labelled ``background``
    (a dog is a negative for a cat detector). With ``add_gt`` every kept ground-truth box is
    added as a positive with ``iou = 1`` and ``source = "gt"`` (R-CNN); proposals have ``source = "ss"``.
    """
    import torch
    from torchvision.ops import box_iou

    if neg_iou > pos_iou:
        raise ParameterError(("neg_iou", "pos_iou"), f"neg_iou ({neg_iou}) must not exceed pos_iou ({pos_iou})")
    props = torch.tensor(np.array(boxes, dtype=np.float32).reshape(-1, 4))
    gts = torch.tensor(np.array(gt_boxes, dtype=np.float32).reshape(-1, 4))
    gt_names = [str(c) for c in gt_classes]
    if len(gt_names) != len(gts):
        raise ValueError("gt_boxes and gt_classes differ in length")
    if classes is not None:
        wanted = {str(c) for c in classes}
        keep = [i for i, c in enumerate(gt_names) if c in wanted]
        gts, gt_names = gts[keep], [gt_names[i] for i in keep]
    if add_gt and len(gts):
        sources = ["ss"] * len(props) + ["gt"] * len(gts)
        props = torch.cat([props, gts])
    else:
        sources = ["ss"] * len(props)
    if len(gts) and len(props):
        best_iou, best = box_iou(props, gts).max(dim=1)
        iou = best_iou.numpy()
        gt_class = np.asarray(gt_names, dtype=object)[best.numpy()]
    else:
        iou = np.zeros(len(props), dtype=np.float32)
        gt_class = np.full(len(props), "", dtype=object)
    label = np.where(iou >= pos_iou, gt_class, BACKGROUND).astype(object)
    keep_rows = (iou >= pos_iou) | (iou < neg_iou)
    frame = pd.DataFrame(props.numpy(), columns=BOX_COLUMNS)
    frame["iou"] = iou.astype(np.float32)
    frame["gt_class"] = gt_class
    frame["label"] = label
    frame["source"] = sources
    return frame[keep_rows].reset_index(drop=True)


def propose_regions(
    voc_dir: str | os.PathLike,
    split: str | None = "train",
    *,
    mode: str = "fast",
    max_side: int | None = 256,
    min_size: float = 8,
    max_per_image: int | None = 2000,
    search_threads: int = 1,
    annotations: bool | None = None,
    pos_iou: float = 0.5,
    neg_iou: float = 0.5,
    classes: Sequence[str] | None = None,
    add_gt: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Proposals for one split of a VOC folder, labelled when annotated; returns ``(df, meta)``.

    Columns: image (id), file (name inside ``meta["image_root"]``), split, x1, y1, x2, y2, width,
    height (of the image) and, with annotations, iou, gt_class, label, source (see
    :func:`label_proposals`). ``annotations=None`` uses them when the folder has any.
    ``add_gt`` (adding the ground-truth boxes as positives) is for training tables only: proposals
    for detection must use ``add_gt=False`` (or :func:`propose_images`), else the ground truth leaks
    into the detector's input. An image without an annotation file gets only background rows.
    ``meta`` (``table = "proposals"``) records every option plus ``image_root`` (absolute), ``classes`` (the positive
    class
    list: ``classes`` if given, else every object name in the folder, natural order),
    ``labelled``, ``images`` and ``skipped`` ({image id: reason}); save both with
    ``nnlab.artifacts.save_table(path, df, meta)``. Unreadable images are skipped, never fatal.
    """
    root = Path(voc_dir)
    ids = voc.list_images(root, split)
    labelled = voc.has_annotations(root) if annotations is None else annotations
    if labelled and not voc.has_annotations(root):
        raise NnlabError(f"{root} has no annotations (Annotations/*.xml)")
    paths, names, skipped = [], [], {}
    for image_id in ids:
        try:
            paths.append(voc.image_path(root, image_id))
            names.append(image_id)
        except NnlabError as exc:
            skipped[image_id] = str(exc)
    class_list = [str(c) for c in classes] if classes else (voc.class_names(root) if labelled else [])
    results, failed = propose_images(
        paths,
        names=names,
        mode=mode,
        max_side=max_side,
        min_size=min_size,
        max_per_image=max_per_image,
        search_threads=search_threads,
        progress=progress,
    )
    skipped.update(failed)
    files = {n: Path(p).name for n, p in zip(names, paths, strict=False)}
    frames = []
    for image_id, (boxes, (width, height)) in results.items():
        if labelled:
            ann = voc.annotation_path(root, image_id)
            objects = voc.read_annotation(ann)[1] if ann.exists() else []
            frame = label_proposals(
                boxes,
                [o["box"] for o in objects],
                [o["name"] for o in objects],
                pos_iou=pos_iou,
                neg_iou=neg_iou,
                classes=class_list,
                add_gt=add_gt,
            )
        else:
            frame = pd.DataFrame(boxes, columns=BOX_COLUMNS)
        frame.insert(0, "image", image_id)
        frame.insert(1, "file", files[image_id])
        frame.insert(2, "split", split or "all")
        frame["width"], frame["height"] = width, height
        frames.append(frame)
    columns = ["image", "file", "split", *BOX_COLUMNS, "width", "height"]
    if labelled:
        columns += ["iou", "gt_class", "label", "source"]
    df = pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    df = df.astype({c: "float32" for c in BOX_COLUMNS} | {"width": "int32", "height": "int32"})
    if labelled:
        df["iou"] = df["iou"].astype("float32")
    meta = {
        "table": "proposals",
        "voc_dir": str(root.resolve()),
        "image_root": str(voc.image_dir(root).resolve()),
        "split": split or "all",
        "mode": mode,
        "max_side": max_side,
        "min_size": min_size,
        "max_per_image": max_per_image,
        "labelled": bool(labelled),
        "pos_iou": pos_iou,
        "neg_iou": neg_iou,
        "classes": class_list,
        "add_gt": add_gt,
        "images": len(results),
        "skipped": skipped,
    }
    if not results:
        raise NnlabError(f"no readable image in {root} split {split!r}: " + "; ".join(skipped.values())[:300])
    return df, meta
