"""`nnlab make-scenes`: synthetic digit scenes written as a Pascal-VOC folder (the offline detection demo data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnlab.cli.common import command, console, progress
from nnlab.cli.options import QuietOpt, SeedOpt

EXAMPLES = """
Examples:

  nnlab make-scenes artifacts/detect-demo/voc --count 300 --size 256 --seed 0

  nnlab make-scenes /tmp/scenes --count 20 --size 128
"""


@command
def make_scenes(
    out_dir: Annotated[
        Path, typer.Argument(metavar="OUT_DIR", help="VOC folder to write (JPEGImages, Annotations, ImageSets/Main).")
    ],
    count: Annotated[int, typer.Option("--count", help="Number of scenes (split 60/20/20 into train/val/test).")] = 300,
    size: Annotated[int, typer.Option("--size", help="Scene side in pixels (at least 64).")] = 256,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Write synthetic scenes of MNIST digits on cluttered backgrounds as a Pascal-VOC folder."""
    from nnlab.detection.scenes import make_scenes as build
    from nnlab.report import key_values

    with progress(quiet) as bar:
        task = bar.add_task("scenes", total=count)
        summary = build(
            out_dir,
            count=count,
            size=size,
            seed=seed,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if quiet:
        return
    splits = ", ".join(f"{k} {v}" for k, v in summary["splits"].items())
    console.print(
        key_values(
            "make-scenes",
            {
                "folder": str(out_dir),
                "images": summary["images"],
                "objects": summary["objects"],
                "splits": splits,
                "classes": ", ".join(summary["classes"]),
            },
        )
    )
