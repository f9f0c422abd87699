"""`nnlab summarize`: join figures of per-model tables into one study table beside the seed's figures."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from nnlab.cli.common import cli_provenance, command, print_whole
from nnlab.cli.options import QuietOpt

EXAMPLES = """
Examples:

  nnlab summarize clean.clean_acc=clean.clean-metrics.parquet clean.adv_acc=clean.adv-metrics.parquet \\
    --reference s4-robustness -o summary.parquet

  nnlab summarize plain.si_val=plain.profile.parquet#avgpool:val:si plain.val_acc=plain.history.parquet \\
    plain.params=plain.safetensors --key variant --plot curves.png --plot-kind si-curves --plot-split val

Selectors (after #): a metrics table's overall column (accuracy) or class:NAME:COLUMN; a history's
best_val_accuracy, seconds_per_epoch, epochs or last/max/min/mean:COLUMN; a profile's LAYER:SPLIT:MEASURE
(avgpool:val:si); a comparison's ROW:COLUMN; a model's params.
"""


class PlotKind(str, Enum):
    bars = "bars"
    si_curves = "si-curves"
    confusion = "confusion"


@command
def summarize(
    cells: Annotated[
        list[str],
        typer.Argument(
            metavar="ROW.COLUMN=FILE[#SELECTOR]...",
            help="One figure of the study table each: row, column, the table or model it comes from and what to read.",
        ),
    ],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the study table (.parquet).")] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            "-r",
            help="Seed figures and findings to put beside the rows: a registered reference (s0-compression, "
            "s1-norm, s2-transfer, s3-finetune, s4-generalization, s4-robustness), a .toml reference file, or a "
            ".parquet/.csv table whose first column names the rows (figures only). Each finding is printed with "
            "this run's verdict and stored in the table's metadata (findings).",
        ),
    ] = None,
    key: Annotated[str, typer.Option("--key", help="Name of the row-name column.")] = "model",
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a figure of the study (.png).")] = None,
    plot_kind: Annotated[
        PlotKind,
        typer.Option(
            "--plot-kind",
            help="bars of columns, si-curves of each row's profile, or confusion matrices of each row's metrics table.",
        ),
    ] = PlotKind.bars,
    plot_columns: Annotated[
        str | None,
        typer.Option(
            "--plot-columns", help="Comma-separated columns for the bars (default: every numeric study column)."
        ),
    ] = None,
    plot_split: Annotated[
        str, typer.Option("--plot-split", help="Split(s) of the si-curves, comma-separated: one row of panels each.")
    ] = "test",
    plot_measure: Annotated[
        str,
        typer.Option(
            "--plot-measure", help="Measure(s) of the si-curves (si, csi, …), comma-separated: one panel each."
        ),
    ] = "si",
    title: Annotated[str | None, typer.Option("--title", help="Title of the printed table and the figure.")] = None,
    column_as: Annotated[
        str | None,
        typer.Option(
            "--column-as",
            metavar="STUDY=SEED,...",
            help="Study columns that stand for the seed's in the findings, e.g. colordigits_acc=svhn_acc "
            "(default: a finding reads the study column of its own name).",
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Join per-model metrics, history, SI-profile and comparison tables into one study table (and figure)."""
    from nnlab.report import table
    from nnlab.studies import summarize as run_summarize

    columns = [c.strip() for c in plot_columns.split(",") if c.strip()] if plot_columns else None
    pairs = [p.strip() for p in column_as.split(",") if p.strip()] if column_as else []
    bad = [p for p in pairs if p.count("=") != 1 or not all(p.split("="))]
    if bad:
        raise typer.BadParameter(f"write STUDY=SEED pairs, got {bad[0]!r}", param_hint="--column-as")
    result = run_summarize(
        cells,
        key=key,
        reference=reference,
        output=output,
        plot=plot,
        plot_kind=plot_kind.value,
        plot_columns=columns,
        plot_split=plot_split,
        plot_measure=plot_measure,
        title=title,
        column_as=dict(p.split("=") for p in pairs),
        provenance=cli_provenance(),
    )
    if not quiet:
        columns = result.all_columns
        shown = table(title or "study summary", columns, [[row.get(c) for c in columns] for row in result.rows])
        shown.caption = " · ".join(str(p) for p in (result.output, result.plot) if p is not None) or None
        print_whole(shown)
        if result.findings:
            rows = [
                [mine.claim, mine.verdict, mine.measured, seed.verdict]
                for mine, seed in zip(result.findings, result.seed_findings, strict=True)
            ]
            checked = table(
                "the seed's findings, checked on this run", ["finding", "this run", "measured", "seed"], rows
            )
            for column in checked.columns:
                column.justify = "left"
            print_whole(checked)
