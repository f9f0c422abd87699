"""`nnlab propose-regions`: selective-search proposals of a VOC split, labelled by IoU, as a parquet table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.common import OutputOpt, QuietOpt, cli_provenance, command, console, progress, split_list

EXAMPLES = """
Examples:

  nnlab propose-regions artifacts/detect-demo/voc --split train -o artifacts/detect-demo/proposals.parquet

  nnlab propose-regions VOC2007 --split trainval --classes cat --pos-iou 0.7 --neg-iou 0.3 --workers 4 -o cat.parquet

  nnlab train --dataset proposals:cat.parquet --model mobilenet_v2 --freeze features --balance undersample -o cat.safetensors
"""


@command
def propose_regions(
    voc_dir: Annotated[Path, typer.Argument(metavar="VOC_DIR", help="Pascal-VOC folder (JPEGImages/, Annotations/, ImageSets/Main/).")],
    output: OutputOpt,
    split: Annotated[str, typer.Option("--split", help="Image set (ImageSets/Main/SPLIT.txt), or 'all' for every image.")] = "train",
    mode: Annotated[str, typer.Option("--mode", help="Selective search: fast (as the seed), quality or single.")] = "fast",
    max_side: Annotated[int, typer.Option("--max-side", min=0, help="Search on a copy whose longer side is at most this (0: full size); boxes map back to the original pixels.")] = 192,
    min_size: Annotated[float, typer.Option("--min-size", min=0, help="Drop boxes narrower or shorter than this many pixels.")] = 8,
    max_per_image: Annotated[int, typer.Option("--max-per-image", min=0, help="Keep the first N boxes per image after de-duplication (0: all).")] = 500,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Images searched in parallel (threads).")] = 2,
    annotations: Annotated[Optional[bool], typer.Option("--annotations/--no-annotations", help="Label by IoU with the ground truth (default: when the folder has annotations).")] = None,
    pos_iou: Annotated[float, typer.Option("--pos-iou", help="IoU at or above which a proposal takes its box's class.")] = 0.5,
    neg_iou: Annotated[Optional[float], typer.Option("--neg-iou", help="IoU below which a proposal is background (default: --pos-iou); proposals in between are dropped.")] = None,
    classes: Annotated[Optional[str], typer.Option("--classes", help="Comma-separated positive classes (default: every object name); other objects count as background.")] = None,
    add_gt: Annotated[bool, typer.Option("--add-gt/--no-add-gt", help="Add the ground-truth boxes as positives (R-CNN training tables).")] = True,
    quiet: QuietOpt = False,
) -> None:
    """Propose regions with selective search on a VOC split and label them by IoU with the ground truth."""
    from nnlab import artifacts
    from nnlab.detection.proposals import propose_regions as run
    from nnlab.errors import NnlabError
    from nnlab.report import key_values, table

    if output.suffix != ".parquet":
        raise NnlabError(f"the proposals table must be a .parquet file, got {output}")
    neg = pos_iou if neg_iou is None else neg_iou
    if not (0 < pos_iou <= 1 and 0 <= neg <= 1):
        raise NnlabError(f"--pos-iou must be in (0, 1] and --neg-iou in [0, 1], got {pos_iou} and {neg}")
    wanted = split_list(classes) or None
    with progress(quiet) as bar:
        task = bar.add_task(f"selective search ({split})", total=None)
        df, meta = run(voc_dir, split, mode=mode, max_side=max_side or None, min_size=min_size,
                       max_per_image=max_per_image or None, workers=workers, annotations=annotations,
                       pos_iou=pos_iou, neg_iou=neg, classes=wanted, add_gt=add_gt,
                       progress=lambda done, total: bar.update(task, completed=done, total=total))
    if wanted and meta["labelled"]:
        known = set(df["gt_class"]) - {""}
        missing = [c for c in wanted if c not in known]
        if len(missing) == len(wanted):
            raise NnlabError(f"--classes {', '.join(wanted)}: no such object in {voc_dir} split {split!r}")
    meta["provenance"] = cli_provenance()
    artifacts.save_table(output, df, meta)
    if quiet:
        return
    skipped = meta["skipped"]
    summary = {"table": str(output), "images": meta["images"], "proposals": len(df),
               "per image": round(len(df) / max(meta["images"], 1), 1), "skipped images": len(skipped)}
    if meta["labelled"]:
        counts = df["label"].value_counts()
        rows = [(c, int(counts.get(c, 0))) for c in ["background", *meta["classes"]]]
        console.print(table("labels", ["label", "proposals"], rows))
        if "source" in df.columns and len(df):
            ss = df[df["source"] == "ss"]
            summary["proposals at IoU >= pos-iou"] = int((ss["iou"] >= pos_iou).sum())
    console.print(key_values("propose-regions", summary))
    if skipped:
        console.print(table(f"skipped {len(skipped)} image(s)", ["image", "reason"], sorted(skipped.items())))
