"""`nnlab attack`: an adversarial version of a dataset split, its metrics table and a figure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.common import cli_provenance, command, console, from_options, progress
from nnlab.cli.options import (
    ATTACK_PANEL,
    OUTPUT_PANEL,
    DatasetOpt,
    FractionOpt,
    LimitOpt,
    SplitOpt,
    ValFractionOpt,
    data_options,
)

EXAMPLES = """
Examples:

  nnlab attack artifacts/clean.safetensors --dataset mnist5k --split test --attack pixels+fgsm --eps 8/255 -o artifacts/adv.safetensors

  nnlab attack artifacts/clean.safetensors --attack pgd --eps 0.1 --alpha 0.01 --steps 10 --limit 500 -o artifacts/pgd.safetensors

  nnlab evaluate artifacts/circle.safetensors --adversarial artifacts/adv.safetensors   # k-NN models: transfer
"""


def complete_attack(incomplete: str) -> list[str]:
    """Shell completion for --attack: the registered attacks, after the last '+' of a chain."""
    from nnlab.robustness.factory import attack_names

    head, plus, last = incomplete.rpartition("+")
    return [head + plus + name for name in attack_names() if name.startswith(last)]


@command
@data_options(batch_size=256)
def attack(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="Model artifact to attack (.safetensors).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Adversarial artifact (.safetensors).", rich_help_panel=OUTPUT_PANEL)
    ],
    dataset: DatasetOpt = None,
    split: SplitOpt = "test",
    val_fraction: ValFractionOpt = 0.1,
    fraction: FractionOpt = None,
    limit: LimitOpt = None,
    attack_name: Annotated[
        str,
        typer.Option(
            "--attack",
            "-a",
            help="fgsm, pgd, pixels, gaussian, or a chain applied left to right such as pixels+fgsm.",
            autocompletion=complete_attack,
            rich_help_panel=ATTACK_PANEL,
        ),
    ] = "pixels+fgsm",
    eps: Annotated[
        Optional[str],
        typer.Option(
            "--eps",
            help="L∞ budget of fgsm/pgd in pixel units, e.g. 8/255 (default 8/255).",
            rich_help_panel=ATTACK_PANEL,
        ),
    ] = None,
    alpha: Annotated[
        Optional[str],
        typer.Option("--alpha", help="PGD step size in pixel units (default 2/255).", rich_help_panel=ATTACK_PANEL),
    ] = None,
    steps: Annotated[
        Optional[int], typer.Option("--steps", help="PGD steps (default 10).", rich_help_panel=ATTACK_PANEL)
    ] = None,
    random_start: Annotated[
        Optional[bool],
        typer.Option(
            "--random-start/--no-random-start", help="PGD random start (default on).", rich_help_panel=ATTACK_PANEL
        ),
    ] = None,
    pixels: Annotated[
        Optional[int],
        typer.Option(
            "--pixels",
            help="Pixels set to white per image by the pixels attack (default 20).",
            rich_help_panel=ATTACK_PANEL,
        ),
    ] = None,
    sigma: Annotated[
        Optional[str],
        typer.Option(
            "--sigma", help="Std of the gaussian noise in pixel units (default 0.1).", rich_help_panel=ATTACK_PANEL
        ),
    ] = None,
    channels_last: Annotated[
        bool,
        typer.Option(
            "--channels-last",
            help="fgsm/pgd: feed the model channels-last batches (faster on the CPU; images may differ from "
            "torchattacks' by float rounding).",
            rich_help_panel=ATTACK_PANEL,
        ),
    ] = False,
    metrics: Annotated[
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
            "--plot",
            help="Figure of clean / adversarial / perturbation (default: beside the output, .grid.png).",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = None,
    quiet: bool = False,
) -> None:
    """Attack a model on a dataset split: adversarial artifact, metrics table and a figure of the perturbations."""
    from nnlab.report import key_values
    from nnlab.robustness.stage import AttackRequest, run_attack

    params = {
        "eps": eps,
        "alpha": alpha,
        "steps": steps,
        "random_start": random_start,
        "n": pixels,
        "sigma": sigma,
        "channels_last": channels_last or None,
    }
    request = from_options(
        AttackRequest,
        model=model_path,
        attack=attack_name,
        params={k: v for k, v in params.items() if v is not None},
    )
    with progress(quiet) as bar:
        task = bar.add_task(attack_name, total=None)
        outcome = run_attack(
            request,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            provenance=cli_provenance(),
        )
    if not quiet:
        console.print(key_values("attack", outcome.summary))
