"""`nnlab detect`: selective search, batched region classification (crop or align), per-class NMS, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.common import (
    BatchSizeOpt, DeviceOpt, OutputOpt, QuietOpt, cli_provenance, command, console, progress, sibling,
)

EXAMPLES = """
Examples:

  nnlab detect artifacts/detect-demo/detector.safetensors artifacts/detect-demo/voc -o dets.parquet --draw drawn/

  nnlab detect align.safetensors artifacts/detect-demo/voc --split test --roi-mode align --score 0.01 -o dets.parquet

  nnlab detect detector.safetensors photo1.jpg photo2.jpg --score 0.5 --top 10 -o dets.parquet --draw out/
"""


@command
def detect(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="Detector model artifact (trained on a proposals:PATH dataset).")],
    inputs: Annotated[list[Path], typer.Argument(metavar="VOC_DIR|IMAGE...", help="One VOC folder, or image files.")],
    output: OutputOpt,
    split: Annotated[Optional[str], typer.Option("--split", help="Image set of a VOC folder (default: test when present, else all).")] = None,
    roi_mode: Annotated[str, typer.Option("--roi-mode", help="crop: cut and classify each region (R-CNN); align: backbone once per image + roi_align (needs a roi_align model).")] = "crop",
    score: Annotated[float, typer.Option("--score", help="Keep (box, class) pairs with probability at least this (low values help mAP).")] = 0.01,
    nms_iou: Annotated[float, typer.Option("--nms-iou", help="Per-class NMS: same-class detections overlapping more than this are suppressed.")] = 0.3,
    top: Annotated[int, typer.Option("--top", min=0, help="Keep the best N detections per image (0: all).")] = 100,
    mode: Annotated[str, typer.Option("--mode", help="Selective search: fast, quality or single.")] = "fast",
    max_side: Annotated[int, typer.Option("--max-side", min=0, help="Selective search on a copy whose longer side is at most this (0: full size).")] = 192,
    min_size: Annotated[float, typer.Option("--min-size", min=0, help="Drop proposals narrower or shorter than this many pixels.")] = 8,
    max_per_image: Annotated[int, typer.Option("--max-per-image", min=0, help="Proposals kept per image (0: all).")] = 500,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Images searched in parallel (threads).")] = 2,
    proposals: Annotated[Optional[Path], typer.Option("--proposals", help="Use a `propose-regions --no-add-gt` table of these images instead of searching again.")] = None,
    draw: Annotated[Optional[Path], typer.Option("--draw", help="Write each image with its detections (ground truth in green) as PNG into this folder.")] = None,
    metrics_path: Annotated[Optional[Path], typer.Option("--metrics", help="Metrics table (default: beside the output, .metrics.parquet).")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Precision-recall PNG (default: beside the output, .pr.png).")] = None,
    batch_size: BatchSizeOpt = 512,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
) -> None:
    """Detect objects in a VOC folder or images; with annotations, report AP@0.5 per class, mAP@0.5 and mAP@[.5:.95]."""
    from nnlab import artifacts
    from nnlab.detection.stage import DetectOptions, draw_all, run_detection
    from nnlab.device import resolve_device
    from nnlab.errors import NnlabError
    from nnlab.models import load_model
    from nnlab.report import frame_table, key_values, table

    if output.suffix != ".parquet":
        raise NnlabError(f"the detections table must be a .parquet file, got {output}")
    options = DetectOptions(roi_mode=roi_mode, score=score, nms_iou=nms_iou, top=top or None, batch_size=batch_size,
                            mode=mode, max_side=max_side or None, min_size=min_size,
                            max_per_image=max_per_image or None, workers=workers)
    options.check()
    dev = resolve_device(device)
    model = load_model(model_path, device=dev)
    with progress(quiet) as bar:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        result = run_detection(model, inputs, options, split=split, proposals=proposals, device=dev,
                               progress=report)
        drawn = 0
        if draw is not None:
            drawn = draw_all(result, draw)
    meta = {"table": "detections", "model": str(model_path), "inputs": [str(p) for p in inputs], "split": split,
            "classes": result.classes, "skipped": result.skipped, "options": vars(options),
            "provenance": cli_provenance()}
    metrics_out = plot_out = None
    if result.metrics is not None:
        metrics_out = metrics_path or sibling(output, ".metrics.parquet")
        plot_out = plot or sibling(output, ".pr.png")
        frame = result.metrics.to_frame()
        artifacts.save_table(metrics_out, frame, {**meta, "table": "detection_metrics", "map50": result.metrics.map50,
                                                  "map": result.metrics.map})
        from nnlab.detection.metrics import plot_pr_curves

        plot_pr_curves(result.metrics, plot_out, title=f"{Path(model_path).stem} ({roi_mode})")
    artifacts.save_table(output, result.detections, meta)
    if quiet:
        return
    if result.metrics is not None:
        console.print(frame_table("AP per class (IoU 0.5; ap = AP@[.5:.95])", result.metrics.to_frame()))
    summary = {"images": len(result.images), "regions": result.regions, "roi mode": roi_mode,
               "regions/s (classification)": round(result.regions_per_second, 1),
               "proposals s": round(result.seconds["proposals"], 2), "classify s": round(result.seconds["classify"], 2),
               "detections": len(result.detections), "skipped images": len(result.skipped), "detections table": str(output)}
    if result.metrics is not None:
        summary.update({"mAP@0.5": round(result.metrics.map50, 4), "mAP@[.5:.95]": round(result.metrics.map, 4),
                        "metrics table": str(metrics_out), "PR curves": str(plot_out)})
    if draw is not None:
        summary["drawn"] = f"{drawn} PNG in {draw}"
    console.print(key_values("detect", summary))
    if result.skipped:
        console.print(table(f"skipped {len(result.skipped)} image(s)", ["image", "reason"], sorted(result.skipped.items())))
