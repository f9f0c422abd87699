"""Detection metrics (COCO-style AP through torchmetrics) and drawings of detections.

AP comes from ``torchmetrics.detection.MeanAveragePrecision`` with the ``faster_coco_eval``
backend (``pycocotools`` when only that one is installed): COCO's 101-point interpolated AP.
Per-class AP@0.5 and the precision-recall curves are read from its extended summary
(``precision[T, R, K, A, M]`` at IoU 0.5, all areas, the largest max-detections setting).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np
import pandas as pd
import torch

from nnlab.artifacts import save_figure
from nnlab.detection.proposals import BOX_COLUMNS
from nnlab.detection.voc import write_image
from nnlab.errors import NnlabError
from nnlab.report import subplots

GT_COLOR = (0, 200, 0)
PALETTE = [
    (230, 25, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (170, 110, 40),
    (128, 0, 0),
    (0, 0, 128),
]


def _backend() -> str:
    try:
        import faster_coco_eval  # noqa: F401

        return "faster_coco_eval"
    except ImportError:
        try:
            import pycocotools  # noqa: F401

            return "pycocotools"
        except ImportError:
            raise NnlabError(
                "detection metrics need faster-coco-eval or pycocotools; pip install faster-coco-eval"
            ) from None


@dataclass
class DetectionMetrics:
    """Result of :func:`detection_metrics`.

    ``per_class``: DataFrame class, ap50, ap (AP@[.5:.95]), n_gt, n_det (NaN AP for a class with no
    ground truth). ``map50`` / ``map``: means over classes with ground truth. ``pr_curves``:
    {class: (recall R, precision R)} at IoU 0.5 on COCO's 101 recall points (precision -1 where
    unreachable is cut off).
    """

    per_class: pd.DataFrame
    map50: float
    map: float
    pr_curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per class plus a row with class ``all``: class, ap50, ap, n_gt, n_det."""
        total = pd.DataFrame(
            [
                {
                    "class": "all",
                    "ap50": self.map50,
                    "ap": self.map,
                    "n_gt": int(self.per_class["n_gt"].sum()),
                    "n_det": int(self.per_class["n_det"].sum()),
                }
            ]
        )
        return pd.concat([self.per_class, total], ignore_index=True)


def _to_targets(frame: pd.DataFrame, images: Sequence[str], index: dict[str, int], with_scores: bool) -> list[dict]:
    out = []
    groups = frame.groupby("image", sort=False).indices if len(frame) else {}
    for image in images:
        rows = groups.get(image, np.zeros(0, dtype=np.int64))
        part = frame.iloc[rows]
        entry = {
            "boxes": torch.tensor(part[BOX_COLUMNS].to_numpy(np.float32).reshape(-1, 4)),
            "labels": torch.tensor(part["class"].map(index).to_numpy(np.int64)),
        }
        if with_scores:
            entry["scores"] = torch.tensor(part["score"].to_numpy(np.float32))
        out.append(entry)
    return out


def detection_metrics(
    preds: pd.DataFrame,
    gts: pd.DataFrame,
    classes: Sequence[str],
    images: Sequence[str] | None = None,
) -> DetectionMetrics:
    """AP@0.5 per class, mAP@0.5, mAP@[.5:.95] and PR curves of detections against ground truth.

    ``preds``: image, x1, y1, x2, y2, score, class; ``gts``: image, x1, y1, x2, y2, class (e.g.
    :func:`nnlab.detection.voc.read_ground_truth`). ``classes`` are the positive classes (no
    background); rows of other classes are ignored. ``images`` lists every evaluated image (so an
    image without objects still counts its false positives); default: images in either table.
    """
    from torchmetrics.detection import MeanAveragePrecision

    classes = [str(c) for c in classes]
    if not classes:
        raise NnlabError("detection metrics need at least one class")
    index = {c: i for i, c in enumerate(classes)}
    preds = preds[preds["class"].astype(str).isin(index)].assign(**{"class": lambda d: d["class"].astype(str)})
    gts = gts[gts["class"].astype(str).isin(index)].assign(**{"class": lambda d: d["class"].astype(str)})
    if images is None:
        images = list(dict.fromkeys([*gts["image"].tolist(), *preds["image"].tolist()]))
    per_image_max = int(preds.groupby("image").size().max()) if len(preds) else 0
    metric = MeanAveragePrecision(
        box_format="xyxy",
        iou_type="bbox",
        class_metrics=True,
        extended_summary=True,
        max_detection_thresholds=[1, 10, max(100, per_image_max)],
        backend=_backend(),
    )
    metric.update(_to_targets(preds, images, index, True), _to_targets(gts, images, index, False))
    result = metric.compute()
    precision = result["precision"]  # T x R x K x A x M
    ids = result["classes"].reshape(-1).tolist() if "classes" in result else list(range(len(classes)))
    recall_points = np.linspace(0, 1, precision.shape[1])
    n_gt = gts["class"].value_counts()
    n_det = preds["class"].value_counts()
    rows, curves = [], {}
    map_per_class = result["map_per_class"].reshape(-1).tolist()
    for k, name in enumerate(classes):
        ap50 = ap = float("nan")
        if k in ids and n_gt.get(name, 0) > 0:
            pos = ids.index(k)
            p50 = precision[0, :, pos, 0, -1].numpy()
            ap50 = float(p50[p50 > -1].mean()) if (p50 > -1).any() else 0.0
            ap = float(map_per_class[pos]) if pos < len(map_per_class) else float("nan")
            ap = max(ap, 0.0)
            valid = p50 > -1
            curves[name] = (recall_points[valid], p50[valid])
        rows.append(
            {"class": name, "ap50": ap50, "ap": ap, "n_gt": int(n_gt.get(name, 0)), "n_det": int(n_det.get(name, 0))}
        )
    per_class = pd.DataFrame(rows, columns=["class", "ap50", "ap", "n_gt", "n_det"])
    scored = per_class[per_class["n_gt"] > 0]
    map50 = float(scored["ap50"].mean()) if len(scored) else float("nan")
    map_all = float(scored["ap"].mean()) if len(scored) else float("nan")
    return DetectionMetrics(per_class=per_class, map50=map50, map=map_all, pr_curves=curves)


def plot_pr_curves(metrics: DetectionMetrics, path: str | os.PathLike, title: str = "precision-recall at IoU 0.5"):
    """Save the per-class precision-recall curves at IoU 0.5 as a PNG (atomically)."""
    fig, ax = subplots(figsize=(6, 5))
    ap50 = dict(zip(metrics.per_class["class"], metrics.per_class["ap50"], strict=False))
    for name, (recall, precision) in metrics.pr_curves.items():
        ax.plot(recall, precision, label=f"{name} (AP50 {ap50[name]:.2f})")
    ax.set(
        xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=f"{title}; mAP50 {metrics.map50:.3f}"
    )
    if metrics.pr_curves:
        ax.legend(fontsize=7, loc="lower left", ncol=2)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def draw_detections(
    image: np.ndarray,
    dets: pd.DataFrame | None,
    gts: pd.DataFrame | None,
    path: str | os.PathLike,
    classes: Sequence[str] | None = None,
) -> os.PathLike:
    """Write ``image`` (RGB uint8) with detections (coloured per class, "class score") and ground truth (green).

    ``dets``: x1, y1, x2, y2, score, class rows of this image; ``gts``: x1, y1, x2, y2, class rows;
    either may be None. The file is encoded by its suffix (PNG) and written atomically.
    """

    canvas = np.ascontiguousarray(image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB))
    order = {c: i for i, c in enumerate(classes or [])}
    if gts is not None:
        for row in gts.to_dict("records"):
            x1, y1, x2, y2 = (int(round(row[c])) for c in BOX_COLUMNS)
            cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), GT_COLOR, 1)
    if dets is not None:
        for row in dets.to_dict("records"):
            name = str(row["class"])
            color = PALETTE[order.get(name, zlib.crc32(name.encode())) % len(PALETTE)]
            x1, y1, x2, y2 = (int(round(row[c])) for c in BOX_COLUMNS)
            cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), color, 2)
            cv2.putText(
                canvas,
                f"{name} {row['score']:.2f}",
                (x1, max(10, y1 - 3)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                color,
                1,
                cv2.LINE_AA,
            )
    return write_image(path, canvas)
