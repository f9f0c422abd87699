"""`nnlab propose-regions`: selective-search proposals of a VOC split, labelled by IoU, as a parquet table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.choices import SearchMode
from nnlab.cli.common import cli_provenance, command, console, progress, split_list
from nnlab.cli.options import DATA_PANEL, LABELS_PANEL, SEARCH_PANEL, OutputOpt, QuietOpt

EXAMPLES = """
Examples:

  nnlab propose-regions artifacts/detect-demo/voc --split train -o artifacts/detect-demo/proposals.parquet

  nnlab propose-regions VOC2007 --split trainval --classes cat --pos-iou 0.7 --neg-iou 0.3 --search-threads 4 -o cat.parquet

  nnlab train --dataset proposals:cat.parquet --model mobilenet_v2 --freeze features --balance undersample -o cat.safetensors
"""


@command
def propose_regions(
    voc_dir: Annotated[
        Path, typer.Argument(metavar="VOC_DIR", help="Pascal-VOC folder (JPEGImages/, Annotations/, ImageSets/Main/).")
    ],
    output: OutputOpt,
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="Image set (ImageSets/Main/SPLIT.txt), or 'all' for every image.",
            rich_help_panel=DATA_PANEL,
        ),
    ] = "train",
    mode: Annotated[
        SearchMode,
        typer.Option("--mode", help="Selective-search strategy (fast as the seed).", rich_help_panel=SEARCH_PANEL),
    ] = "fast",
    max_side: Annotated[
        int,
        typer.Option(
            "--max-side",
            min=0,
            help="Search on a copy whose longer side is at most this (0: full size); boxes map back to the original "
            "pixels.",
            rich_help_panel=SEARCH_PANEL,
        ),
    ] = 192,
    min_size: Annotated[
        float,
        typer.Option(
            "--min-size",
            min=0,
            help="Drop boxes narrower or shorter than this many pixels.",
            rich_help_panel=SEARCH_PANEL,
        ),
    ] = 8,
    max_per_image: Annotated[
        int,
        typer.Option(
            "--max-per-image",
            min=0,
            help="Keep the first N boxes per image after de-duplication (0: all).",
            rich_help_panel=SEARCH_PANEL,
        ),
    ] = 500,
    search_threads: Annotated[
        int,
        typer.Option(
            "--search-threads", min=1, help="Images searched in parallel (threads).", rich_help_panel=SEARCH_PANEL
        ),
    ] = 2,
    annotations: Annotated[
        Optional[bool],
        typer.Option(
            "--annotations/--no-annotations",
            help="Label by IoU with the ground truth (default: when the folder has annotations).",
            rich_help_panel=LABELS_PANEL,
        ),
    ] = None,
    pos_iou: Annotated[
        float,
        typer.Option(
            "--pos-iou", help="IoU at or above which a proposal takes its box's class.", rich_help_panel=LABELS_PANEL
        ),
    ] = 0.5,
    neg_iou: Annotated[
        Optional[float],
        typer.Option(
            "--neg-iou",
            help="IoU below which a proposal is background (default: --pos-iou); proposals in between are dropped.",
            rich_help_panel=LABELS_PANEL,
        ),
    ] = None,
    classes: Annotated[
        Optional[str],
        typer.Option(
            "--classes",
            help="Comma-separated positive classes (default: every object name); other objects count as background.",
            rich_help_panel=LABELS_PANEL,
        ),
    ] = None,
    add_gt: Annotated[
        bool,
        typer.Option(
            "--add-gt/--no-add-gt",
            help="Add the ground-truth boxes as positives (R-CNN training tables).",
            rich_help_panel=LABELS_PANEL,
        ),
    ] = True,
    quiet: QuietOpt = False,
) -> None:
    """Propose regions with selective search on a VOC split and label them by IoU with the ground truth."""
    from nnlab.detection.stage import ProposeRequest, run_propose_regions
    from nnlab.report import key_values, table

    request = ProposeRequest(
        voc_dir=voc_dir,
        output=output,
        split=split,
        mode=mode,
        max_side=max_side or None,
        min_size=min_size,
        max_per_image=max_per_image or None,
        search_threads=search_threads,
        annotations=annotations,
        pos_iou=pos_iou,
        neg_iou=neg_iou,
        classes=split_list(classes) or None,
        add_gt=add_gt,
    )
    with progress(quiet) as bar:
        task = bar.add_task(f"selective search ({split})", total=None)
        outcome = run_propose_regions(
            request,
            provenance=cli_provenance(),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if quiet:
        return
    df, meta = outcome.frame, outcome.meta
    if meta["labelled"]:
        counts = df["label"].value_counts()
        rows = [(c, int(counts.get(c, 0))) for c in ["background", *meta["classes"]]]
        console.print(table("labels", ["label", "proposals"], rows))
    console.print(key_values("propose-regions", outcome.summary))
    skipped = meta["skipped"]
    if skipped:
        console.print(table(f"skipped {len(skipped)} image(s)", ["image", "reason"], sorted(skipped.items())))
