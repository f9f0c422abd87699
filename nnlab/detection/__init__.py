"""Region proposals and R-CNN-style detection (issue 6).

Stages, each a function the CLI wraps:

* :func:`make_scenes` — synthetic digit scenes written as a Pascal-VOC folder (offline demo data).
* :func:`propose_regions` — selective search on a VOC split, proposals labelled by IoU → (DataFrame, meta);
  :func:`propose_images` for any list of image files.
* :func:`load_proposals_dataset` / :class:`ProposalsDataset` — crops cut on the fly for training.
* :func:`classify_crops` (crop mode) and :class:`RoIAlignHead` / :func:`extract_roi_features` /
  :func:`extract_proposal_features` (align mode) — batched region classification;
  :func:`postprocess` — per-class threshold, NMS, top-k.
* :func:`detection_metrics` — COCO AP through torchmetrics; :func:`draw_detections`, :func:`plot_pr_curves`.

Box convention everywhere: 0-based continuous ``(x1, y1, x2, y2)`` (see :mod:`nnlab.detection.voc`).

Importing this package declares the ``proposals:PATH`` dataset opener and the ``align`` roi mode
(:mod:`nnlab.detection.plugin`), which the registries of nnlab.data and nnlab.training then import on first
use; its other names are imported lazily (PEP 562), so importing the package costs no torch.
"""

from __future__ import annotations

from nnlab.detection import plugin as _plugin  # noqa: F401  declares proposals: and the align roi mode
from nnlab.registry import lazy_exports

_EXPORTS = {
    "dataset": [
        "BALANCE_MODES",
        "ProposalsDataset",
        "class_list",
        "class_weights",
        "image_to_tensor",
        "load_proposals_dataset",
        "split_by_image",
        "undersample",
    ],
    "metrics": ["DetectionMetrics", "detection_metrics", "draw_detections", "plot_pr_curves"],
    "proposals": ["BACKGROUND", "MODES", "label_proposals", "propose_images", "propose_regions", "selective_search"],
    "roi": [
        "RoIAlignHead",
        "classify_crops",
        "crop_regions",
        "detections_frame",
        "extract_proposal_features",
        "extract_roi_features",
        "postprocess",
        "pyramid_levels",
    ],
    "scenes": ["make_scenes", "render_scene"],
    "voc": [
        "annotation_path",
        "class_names",
        "has_annotations",
        "image_path",
        "list_images",
        "read_annotation",
        "read_ground_truth",
        "read_image",
        "write_annotation",
        "write_image",
        "write_split",
    ],
}
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
