"""`nnlab models` and `nnlab datasets`: what the registries hold."""

from __future__ import annotations

from typing import Annotated

import typer

from nnlab.cli.common import command, console


@command
def models(
    presets: Annotated[
        bool,
        typer.Option(
            "--presets",
            help="List the single-block fine-tuning presets (seed S3) with the block and the trainable parameters "
            "for a 10-class head (counted on the meta device, no weights).",
        ),
    ] = False,
) -> None:
    """List the registered model names (plus tv:NAME and timm:NAME), or the fine-tuning presets."""
    if presets:
        from rich.table import Table

        from nnlab.models.presets import preset_rows

        out = Table(
            title="fine-tuning presets (--block-preset last; trainable with a 10-class head)",
            title_justify="left",
            header_style="bold",
        )
        for name in ("paper model", "timm name", "block", "heads"):
            out.add_column(name, overflow="fold")
        for name in ("trainable", "paper's trainable", "paper's val acc %"):
            out.add_column(name, justify="right", no_wrap=True)
        for r in preset_rows(num_classes=10):
            out.add_row(
                r["paper_model"],
                r["timm_name"],
                r["block"],
                r["heads"],
                f"{r['trainable']:,}",
                f"{r['paper_trainable']:,}" if r["paper_trainable"] else "",
                f"{r['paper_val_accuracy']:.2f}" if r["paper_val_accuracy"] else "",
            )
        console.print(out)
        return
    from nnlab.models import MODELS
    from nnlab.report import table

    console.print(table("models", ["name", "description"], [[k, v] for k, v in MODELS.help().items()]))


@command
def datasets() -> None:
    """List the registered datasets (built-in ones work offline)."""
    from nnlab.data import DATASETS
    from nnlab.report import table

    console.print(table("datasets", ["name", "description"], [[k, v] for k, v in DATASETS.help().items()]))
