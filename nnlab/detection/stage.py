"""The detection stages: `nnlab propose-regions` and `nnlab detect`, each one library call that writes its files.

:func:`run_propose_regions` writes a labelled proposals table of a VOC split; :func:`run_detect`
loads a detector, detects (:func:`detect_images`: proposals → batched region classification →
per-class NMS → metrics) and writes the detections table, the metrics table, precision-recall
curves and optionally drawn images, all only after the whole run succeeded (no partial output).
:func:`detect_images` does everything except writing files. Inputs are a VOC folder (a split of it, with
metrics when annotated) or loose image files. Regions are never classified one forward pass at a
time: ``crop`` mode cuts and classifies every region of an image in batches (R-CNN, how the model
was trained), ``align`` mode runs a ``roi_align`` model's frozen backbone once per image and pools
each region from the feature map (Fast R-CNN).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from nnlab import artifacts
from nnlab.artifacts import load_table, sibling
from nnlab.detection import voc
from nnlab.detection.align import roi_head
from nnlab.detection.metrics import detection_metrics, draw_detections, plot_pr_curves
from nnlab.detection.proposals import BACKGROUND, BOX_COLUMNS, propose_images, propose_regions
from nnlab.detection.roi import classify_crops, detections_frame, postprocess
from nnlab.device import resolve_device
from nnlab.errors import NnlabError, ParameterError
from nnlab.models import load_model

ROI_MODES = ("crop", "align")


@dataclass
class DetectOptions:
    """How regions are proposed, classified and filtered (every `nnlab detect` option but the files)."""

    roi_mode: str = "crop"
    score: float = 0.01
    nms_iou: float = 0.3
    top: int | None = 100
    batch_size: int = 512
    mode: str = "fast"
    max_side: int | None = 192
    min_size: float = 8
    max_per_image: int | None = 500
    search_threads: int = 2

    def check(self) -> None:
        """Clear errors for impossible values."""
        if self.roi_mode not in ROI_MODES:
            raise ParameterError("roi_mode", f"unknown roi_mode {self.roi_mode!r}; valid: {', '.join(ROI_MODES)}")
        if not 0 <= self.score <= 1:
            raise ParameterError("score", f"score threshold must be in [0, 1], got {self.score}")
        if not 0 < self.nms_iou <= 1:
            raise ParameterError("nms_iou", f"nms_iou must be in (0, 1], got {self.nms_iou}")
        if self.top is not None and self.top < 1:
            raise ParameterError("top", f"top must be at least 1, got {self.top}")
        if self.search_threads < 1:
            raise ParameterError("search_threads", f"search_threads must be at least 1, got {self.search_threads}")


@dataclass
class DetectResult:
    """Detections (image, x1, y1, x2, y2, score, class), ground truth, metrics and what was skipped."""

    detections: pd.DataFrame
    images: dict[str, Path]
    classes: list[str]
    ground_truth: pd.DataFrame | None = None
    metrics: object | None = None  # nnlab.detection.metrics.DetectionMetrics
    skipped: dict[str, str] = field(default_factory=dict)
    regions: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def regions_per_second(self) -> float:
        """Regions classified per second of classification time."""
        return self.regions / max(self.seconds.get("classify", 0.0), 1e-9)


def collect_inputs(
    inputs: Sequence[str | os.PathLike], split: str | None = None
) -> tuple[dict[str, Path], Path | None, dict[str, str]]:
    """``({image id: file}, voc_dir or None, {id: reason} skipped)`` for one VOC folder or image files.

    A folder is read as VOC: ``split`` (default ``test`` when the folder has that split, else every
    image). Files are taken as they are; a missing one is skipped and named, never fatal.
    """
    paths = [Path(p) for p in inputs]
    if not paths:
        raise NnlabError("give a VOC folder or image files to detect on")
    folders = [p for p in paths if p.is_dir()]
    if folders:
        if len(paths) > 1:
            raise NnlabError("give either one VOC folder or image files, not both")
        root = folders[0]
        if split is None:
            split = "test" if (root / "ImageSets" / "Main" / "test.txt").is_file() else "all"
        images, skipped = {}, {}
        for image_id in voc.list_images(root, split):
            try:
                images[image_id] = voc.image_path(root, image_id)
            except NnlabError as exc:
                skipped[image_id] = str(exc)
        return images, root, skipped
    images, skipped = {}, {}
    for p in paths:
        name = p.stem if p.stem not in images else f"{p.stem}_{len(images)}"
        if p.is_file():
            images[name] = p
        else:
            skipped[name] = f"{p} does not exist"
    return images, None, skipped


def check_classes(model_classes: Sequence[str], truth_classes: Sequence[str] | None = None) -> list[str]:
    """The model's positive classes; clear errors for a model that is no detector or does not know the annotations.

    A detector's first class is ``background`` (how `propose-regions` labels and `train` orders
    proposals); annotated classes the model lacks would make the metrics meaningless.
    """
    classes = [str(c) for c in model_classes]
    if not classes or classes[0] != BACKGROUND or len(classes) < 2:
        raise NnlabError(
            f"the model's classes ({', '.join(classes[:6])}) do not match proposal labels: a detector "
            "is trained on a proposals:PATH dataset and has 'background' first"
        )
    if truth_classes:
        unknown = sorted(set(truth_classes) - set(classes[1:]))
        if len(unknown) == len(set(truth_classes)):
            raise NnlabError(
                f"the model's classes ({', '.join(classes[1:8])}) do not match the annotated classes "
                f"({', '.join(voc.natural_sorted(set(truth_classes))[:8])})"
            )
    return classes[1:]


def detect_images(
    model,
    inputs: Sequence[str | os.PathLike],
    options: DetectOptions,
    *,
    split: str | None = None,
    proposals: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    progress: Callable[[str, int, int], None] | None = None,
) -> DetectResult:
    """Detect objects in a VOC split or image files with a detector model artifact (a loaded Classifier).

    Steps: selective search (threads) → region scores (crop or align mode, batched) → per-class
    threshold, NMS and top-k (:func:`nnlab.detection.roi.postprocess`) → COCO AP against the
    annotations when the folder has them. ``proposals`` (a `propose-regions --no-add-gt` table of
    these images) replaces the search, e.g. to compare roi modes on identical regions.
    ``progress(stage, done, total)`` reports each step.
    Raises NnlabError before any work for a model whose classes do not fit, a malformed annotation
    or an input without readable images.
    """

    options.check()
    images, root, skipped = collect_inputs(inputs, split)
    gts = None
    if root is not None and voc.has_annotations(root):
        gts = voc.read_ground_truth(root, list(images))  # a malformed annotation fails here, before any work
    classes = check_classes(model.spec.classes, gts["class"].tolist() if gts is not None else None)
    model = model.to(device).eval()
    head = None
    if options.roi_mode == "align":
        head = roi_head(model).eval()
    size, channels = model.spec.size, model.spec.channels
    report = (lambda stage: lambda done, total: progress(stage, done, total)) if progress else (lambda stage: None)

    t0 = time.perf_counter()
    if proposals is not None:
        found, failed = stored_proposals(proposals, images, classes)
    else:
        found, failed = propose_images(
            list(images.values()),
            names=list(images),
            mode=options.mode,
            max_side=options.max_side,
            min_size=options.min_size,
            max_per_image=options.max_per_image,
            search_threads=options.search_threads,
            progress=report("proposals"),
        )
    skipped.update(failed)
    if not found:
        raise NnlabError("no readable image to detect on: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())[:400])
    seconds = {"proposals": time.perf_counter() - t0, "classify": 0.0}
    frames, regions = [], 0
    tick = report("classify")
    with torch.inference_mode():
        for done, (name, (boxes, _size)) in enumerate(found.items(), start=1):
            image = voc.read_image(images[name])
            t1 = time.perf_counter()
            if len(boxes) == 0:
                scores = torch.zeros(0, len(classes) + 1)
            elif head is not None:
                scores = head.predict_proba(image, boxes, batch=options.batch_size)
            else:
                scores = classify_crops(model, image, boxes, size, batch=options.batch_size, channels=channels)
            seconds["classify"] += time.perf_counter() - t1
            regions += len(boxes)
            kept = postprocess(boxes, scores, score_thr=options.score, nms_iou=options.nms_iou, top=options.top)
            frames.append(detections_frame(name, *kept, ["background", *classes]))
            if tick:
                tick(done, len(found))
    columns = ["image", *BOX_COLUMNS, "score", "class"]
    detections = pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    detections = detections.astype({c: "float32" for c in [*BOX_COLUMNS, "score"]})
    result = DetectResult(
        detections=detections,
        images={n: images[n] for n in found},
        classes=classes,
        skipped=skipped,
        regions=regions,
        seconds=seconds,
    )
    if gts is not None:
        result.ground_truth = gts[gts["image"].isin(found)].reset_index(drop=True)
        t2 = time.perf_counter()
        result.metrics = detection_metrics(detections, result.ground_truth, classes, images=list(found))
        seconds["metrics"] = time.perf_counter() - t2
    return result


def stored_proposals(
    path: str | os.PathLike, images: dict[str, Path], classes: Sequence[str]
) -> tuple[dict[str, tuple[np.ndarray, tuple[int, int]]], dict[str, str]]:
    """Boxes of ``images`` from a proposals table, in :func:`propose_images`' shape; checks it fits the model.

    The table must not contain added ground-truth boxes (``--no-add-gt``) and its positive classes
    must be among the model's; images it lacks are skipped and named.
    """

    df, meta = load_table(path, table="proposals")
    if meta.get("add_gt") and meta.get("labelled"):
        raise NnlabError(
            f"{path} has the ground-truth boxes added (training table); "
            "make detection proposals without adding the ground-truth boxes"
        )
    unknown = [c for c in meta.get("classes") or [] if c not in set(classes)]
    if meta.get("labelled") and unknown:
        raise NnlabError(
            f"the model's classes ({', '.join(classes)}) do not match the proposals' labels "
            f"({', '.join(meta.get('classes') or [])}) in {path}"
        )
    groups = df.groupby("image", sort=False).indices
    found, missing = {}, {}
    for name in images:
        rows = groups.get(name)
        if rows is None:
            missing[name] = f"no proposals for it in {path}"
            continue
        part = df.iloc[rows]
        found[name] = (
            part[BOX_COLUMNS].to_numpy(np.float32),
            (int(part["width"].iloc[0]), int(part["height"].iloc[0])),
        )
    return found, missing


def draw_all(result: DetectResult, out_dir: str | os.PathLike) -> int:
    """Write every image with its detections (and ground truth in green) as ``OUT_DIR/<id>.png``; returns the count."""

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NnlabError(f"drawing folder {out} exists and is not a folder")
    dets = result.detections.groupby("image").indices if len(result.detections) else {}
    truth = (
        result.ground_truth.groupby("image").indices
        if result.ground_truth is not None and len(result.ground_truth)
        else {}
    )
    for name, path in result.images.items():
        part = result.detections.iloc[dets.get(name, np.zeros(0, dtype=np.int64))]
        gt = result.ground_truth.iloc[truth[name]] if name in truth else None
        draw_detections(voc.read_image(path), part, gt, out / f"{name}.png", classes=result.classes)
    return len(result.images)


def max_same_class_overlap(detections: pd.DataFrame) -> float:
    """The largest IoU between two detections of one class in one image (0 when none overlap)."""
    from torchvision.ops import box_iou

    worst = 0.0
    for _, part in detections.groupby(["image", "class"]):
        if len(part) < 2:
            continue
        iou = box_iou(*(torch.tensor(part[BOX_COLUMNS].to_numpy(np.float32)),) * 2)
        iou.fill_diagonal_(0)
        worst = max(worst, float(iou.max()))
    return worst


# --------------------------------------------------------------------------- the whole stages


@dataclass
class DetectRequest:
    """Every input of the detect stage as plain values (what `nnlab detect` is given).

    ``inputs`` is one VOC folder or image files; ``metrics`` and ``plot`` (written when the images are
    annotated) default to files beside ``output`` (``.metrics.parquet``, ``.pr.png``); ``draw`` is a
    folder for one PNG per image with its detections, or None.
    """

    model: Path
    inputs: Sequence[Path]
    output: Path
    options: DetectOptions = field(default_factory=DetectOptions)
    split: str | None = None
    proposals: Path | None = None
    draw: Path | None = None
    metrics: Path | None = None
    plot: Path | None = None
    device: str = "auto"


@dataclass
class DetectOutcome:
    """What the detect stage found and wrote."""

    result: DetectResult
    output: Path
    metrics_path: Path | None
    plot: Path | None
    drawn: int
    summary: dict[str, object]


def run_detect(
    request: DetectRequest,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    provenance: Mapping[str, object] | None = None,
) -> DetectOutcome:
    """The detect stage: load a detector artifact, detect in a VOC split or images, write every output.

    Writes the detections table (image, x1, y1, x2, y2, score, class) and, for annotated images, the
    metrics table (AP per class, mAP@0.5 and mAP@[.5:.95] in its metadata) and the precision-recall
    PNG; with ``draw`` one PNG per image. Nothing is written unless the whole run succeeds.
    ``provenance`` (e.g. the command line) is stored in the tables; ``progress(stage, done, total)``
    reports the proposal and classification steps.
    """
    output = Path(request.output)
    if output.suffix != ".parquet":
        raise NnlabError(f"the detections table must be a .parquet file, got {output}")
    metrics_path = Path(request.metrics) if request.metrics is not None else sibling(output, ".metrics.parquet")
    plot_path = Path(request.plot) if request.plot is not None else sibling(output, ".pr.png")
    if metrics_path.suffix != ".parquet" or plot_path.suffix != ".png":
        raise NnlabError(
            f"the metrics table must be a .parquet file and the PR curves a .png file, got "
            f"{metrics_path} and {plot_path}"
        )
    options = request.options
    options.check()
    device = resolve_device(request.device)
    model = load_model(request.model, device=device)
    result = detect_images(
        model,
        request.inputs,
        options,
        split=request.split,
        proposals=request.proposals,
        device=device,
        progress=progress,
    )
    drawn = draw_all(result, request.draw) if request.draw is not None else 0
    meta = {
        "table": "detections",
        "model": str(request.model),
        "inputs": [str(p) for p in request.inputs],
        "split": request.split,
        "classes": result.classes,
        "skipped": result.skipped,
        "options": vars(options),
        "provenance": artifacts.provenance(base=provenance),
    }
    if result.metrics is not None:
        artifacts.save_table(
            metrics_path,
            result.metrics.to_frame(),
            {**meta, "table": "detection_metrics", "map50": result.metrics.map50, "map": result.metrics.map},
        )
        plot_pr_curves(result.metrics, plot_path, title=f"{Path(request.model).stem} ({options.roi_mode})")
    else:
        metrics_path = plot_path = None
    artifacts.save_table(output, result.detections, meta)
    summary: dict[str, object] = {
        "images": len(result.images),
        "regions": result.regions,
        "roi mode": options.roi_mode,
        "regions/s (classification)": round(result.regions_per_second, 1),
        "proposals s": round(result.seconds["proposals"], 2),
        "classify s": round(result.seconds["classify"], 2),
        "detections": len(result.detections),
        "skipped images": len(result.skipped),
        "detections table": str(output),
    }
    if result.metrics is not None:
        summary.update(
            {
                "mAP@0.5": round(result.metrics.map50, 4),
                "mAP@[.5:.95]": round(result.metrics.map, 4),
                "metrics table": str(metrics_path),
                "PR curves": str(plot_path),
            }
        )
    if request.draw is not None:
        summary["drawn"] = f"{drawn} PNG in {request.draw}"
    return DetectOutcome(
        result=result, output=output, metrics_path=metrics_path, plot=plot_path, drawn=drawn, summary=summary
    )


@dataclass
class ProposeRequest:
    """Every input of the propose-regions stage (what `nnlab propose-regions` is given).

    ``neg_iou`` defaults to ``pos_iou``; ``classes`` (None: every object name) are the positive
    classes; ``annotations`` None labels the proposals when the folder has annotations. See
    :func:`nnlab.detection.proposals.propose_regions` for the rest.
    """

    voc_dir: Path
    output: Path
    split: str = "train"
    mode: str = "fast"
    max_side: int | None = 192
    min_size: float = 8
    max_per_image: int | None = 500
    search_threads: int = 2
    annotations: bool | None = None
    pos_iou: float = 0.5
    neg_iou: float | None = None
    classes: Sequence[str] | None = None
    add_gt: bool = True


@dataclass
class ProposeOutcome:
    """The proposals table written, its metadata and what to show about it."""

    frame: pd.DataFrame
    meta: dict
    output: Path
    summary: dict[str, object]


def run_propose_regions(
    request: ProposeRequest,
    *,
    progress: Callable[[int, int], None] | None = None,
    provenance: Mapping[str, object] | None = None,
) -> ProposeOutcome:
    """The propose-regions stage: selective search on a VOC split, labelled by IoU, written as a proposals table.

    Refuses positive ``classes`` of which no object occurs in the split (a typo would otherwise
    give an all-background table). ``provenance`` is stored in the table's metadata;
    ``progress(done, total)`` reports images searched.
    """
    output = Path(request.output)
    if output.suffix != ".parquet":
        raise NnlabError(f"the proposals table must be a .parquet file, got {output}")
    neg = request.pos_iou if request.neg_iou is None else request.neg_iou
    if not (0 < request.pos_iou <= 1 and 0 <= neg <= 1):
        raise NnlabError(
            f"the positive IoU must be in (0, 1] and the negative IoU in [0, 1], got {request.pos_iou} and {neg}"
        )
    wanted = list(request.classes) if request.classes else None
    df, meta = propose_regions(
        request.voc_dir,
        request.split,
        mode=request.mode,
        max_side=request.max_side,
        min_size=request.min_size,
        max_per_image=request.max_per_image,
        search_threads=request.search_threads,
        annotations=request.annotations,
        pos_iou=request.pos_iou,
        neg_iou=neg,
        classes=wanted,
        add_gt=request.add_gt,
        progress=progress,
    )
    if wanted and meta["labelled"]:
        known = set(df["gt_class"]) - {""}
        if not any(c in known for c in wanted):
            raise NnlabError(
                f"classes {', '.join(wanted)}: no such object in {request.voc_dir} split {request.split!r}"
            )
    meta["provenance"] = artifacts.provenance(base=provenance)
    artifacts.save_table(output, df, meta)
    summary: dict[str, object] = {
        "table": str(output),
        "images": meta["images"],
        "proposals": len(df),
        "per image": round(len(df) / max(meta["images"], 1), 1),
        "skipped images": len(meta["skipped"]),
    }
    if meta["labelled"] and "source" in df.columns and len(df):
        ss = df[df["source"] == "ss"]
        summary["proposals at IoU >= pos-iou"] = int((ss["iou"] >= request.pos_iou).sum())
    return ProposeOutcome(frame=df, meta=meta, output=output, summary=summary)
