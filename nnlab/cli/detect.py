"""`nnlab detect`: selective search, batched region classification (crop or align), per-class NMS, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.choices import RoiMode, SearchMode
from nnlab.cli.common import cli_provenance, command, console, progress
from nnlab.cli.options import (
    DATA_PANEL,
    DETECTION_PANEL,
    OUTPUT_PANEL,
    SEARCH_PANEL,
    BatchSizeOpt,
    DeviceOpt,
    OutputOpt,
    QuietOpt,
)

EXAMPLES = """
Examples:

  nnlab detect artifacts/detect-demo/detector.safetensors artifacts/detect-demo/voc -o dets.parquet --draw drawn/

  nnlab detect align.safetensors artifacts/detect-demo/voc --split test --roi-mode align --score 0.01 -o dets.parquet

  nnlab detect detector.safetensors photo1.jpg photo2.jpg --score 0.5 --top 10 -o dets.parquet --draw out/
"""


@command
def detect(
    model_path: Annotated[
        Path, typer.Argument(metavar="MODEL", help="Detector model artifact (trained on a proposals:PATH dataset).")
    ],
    inputs: Annotated[list[Path], typer.Argument(metavar="VOC_DIR|IMAGE...", help="One VOC folder, or image files.")],
    output: OutputOpt,
    split: Annotated[
        Optional[str],
        typer.Option(
            "--split",
            help="Image set of a VOC folder (default: test when present, else all).",
            rich_help_panel=DATA_PANEL,
        ),
    ] = None,
    proposals: Annotated[
        Optional[Path],
        typer.Option(
            "--proposals",
            help="Use a `propose-regions --no-add-gt` table of these images instead of searching again.",
            rich_help_panel=DATA_PANEL,
        ),
    ] = None,
    roi_mode: Annotated[
        RoiMode,
        typer.Option(
            "--roi-mode",
            help="crop: cut and classify each region (R-CNN); align: backbone once per image + roi_align (needs a "
            "roi_align model).",
            rich_help_panel=DETECTION_PANEL,
        ),
    ] = "crop",
    score: Annotated[
        float,
        typer.Option(
            "--score",
            help="Keep (box, class) pairs with probability at least this (low values help mAP).",
            rich_help_panel=DETECTION_PANEL,
        ),
    ] = 0.01,
    nms_iou: Annotated[
        float,
        typer.Option(
            "--nms-iou",
            help="Per-class NMS: same-class detections overlapping more than this are suppressed.",
            rich_help_panel=DETECTION_PANEL,
        ),
    ] = 0.3,
    top: Annotated[
        int,
        typer.Option(
            "--top", min=0, help="Keep the best N detections per image (0: all).", rich_help_panel=DETECTION_PANEL
        ),
    ] = 100,
    mode: Annotated[
        SearchMode, typer.Option("--mode", help="Selective-search strategy.", rich_help_panel=SEARCH_PANEL)
    ] = "fast",
    max_side: Annotated[
        int,
        typer.Option(
            "--max-side",
            min=0,
            help="Selective search on a copy whose longer side is at most this (0: full size).",
            rich_help_panel=SEARCH_PANEL,
        ),
    ] = 192,
    min_size: Annotated[
        float,
        typer.Option(
            "--min-size",
            min=0,
            help="Drop proposals narrower or shorter than this many pixels.",
            rich_help_panel=SEARCH_PANEL,
        ),
    ] = 8,
    max_per_image: Annotated[
        int,
        typer.Option("--max-per-image", min=0, help="Proposals kept per image (0: all).", rich_help_panel=SEARCH_PANEL),
    ] = 500,
    search_threads: Annotated[
        int,
        typer.Option(
            "--search-threads", min=1, help="Images searched in parallel (threads).", rich_help_panel=SEARCH_PANEL
        ),
    ] = 2,
    draw: Annotated[
        Optional[Path],
        typer.Option(
            "--draw",
            help="Write each image with its detections (ground truth in green) as PNG into this folder.",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = None,
    metrics_path: Annotated[
        Optional[Path],
        typer.Option(
            "--metrics",
            help="Metrics table (default: beside the output, .metrics.parquet).",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = None,
    plot: Annotated[
        Optional[Path],
        typer.Option(
            "--plot", help="Precision-recall PNG (default: beside the output, .pr.png).", rich_help_panel=OUTPUT_PANEL
        ),
    ] = None,
    batch_size: BatchSizeOpt = 512,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
) -> None:
    """Detect objects in a VOC folder or images; with annotations, report AP@0.5 per class, mAP@0.5 and mAP@[.5:.95]."""
    from nnlab.detection.stage import DetectOptions, DetectRequest, run_detect
    from nnlab.report import frame_table, key_values, table

    options = DetectOptions(
        roi_mode=roi_mode,
        score=score,
        nms_iou=nms_iou,
        top=top or None,
        batch_size=batch_size,
        mode=mode,
        max_side=max_side or None,
        min_size=min_size,
        max_per_image=max_per_image or None,
        search_threads=search_threads,
    )
    request = DetectRequest(
        model=model_path,
        inputs=inputs,
        output=output,
        options=options,
        split=split,
        proposals=proposals,
        draw=draw,
        metrics=metrics_path,
        plot=plot,
        device=device,
    )
    with progress(quiet) as bar:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        outcome = run_detect(request, progress=report, provenance=cli_provenance())
    if quiet:
        return
    result = outcome.result
    if result.metrics is not None:
        console.print(frame_table("AP per class (IoU 0.5; ap = AP@[.5:.95])", result.metrics.to_frame()))
    console.print(key_values("detect", outcome.summary))
    if result.skipped:
        console.print(
            table(f"skipped {len(result.skipped)} image(s)", ["image", "reason"], sorted(result.skipped.items()))
        )
