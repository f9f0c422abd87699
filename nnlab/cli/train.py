"""`nnlab train`: fit a registered model on a dataset and write a model artifact and its history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.choices import Augment, Balance, Loss, Normalize, RoiMode
from nnlab.cli.common import cli_provenance, command, console, err_console, from_options, parse_key_values, progress
from nnlab.cli.options import (
    DATA_PANEL,
    DETECTION_PANEL,
    MODEL_PANEL,
    OPTIM_PANEL,
    OUTPUT_PANEL,
    ROBUSTNESS_PANEL,
    CurvesPlotOpt,
    DatasetOpt,
    EpochsOpt,
    FractionOpt,
    GammaOpt,
    GradAccumOpt,
    GradClipOpt,
    HistoryOpt,
    LabelSmoothingOpt,
    LimitOpt,
    LrOpt,
    MomentumOpt,
    OptimizerOpt,
    OutputOpt,
    PatienceOpt,
    PrecisionOpt,
    ScheduleOpt,
    StepSizeOpt,
    SyncBnOpt,
    ValFractionOpt,
    WeightDecayOpt,
    data_options,
)

EXAMPLES = """
Examples:

  nnlab train --model vgg16 --dataset digits --epochs 2 -o artifacts/vgg.safetensors

  nnlab train --model cnn --dataset mnist5k --epochs 6 --optimizer adam --lr 1e-3 -o artifacts/cnn.safetensors --plot artifacts/cnn.png

  nnlab train --model resnet18 --dataset svhn --download --schedule exponential --gamma 0.99 -o svhn.safetensors

  nnlab train --model resnet18 --dataset mnist5k --adv pixels+fgsm --adv-ratio 0.5 --eps 8/255 -o robust.safetensors

  nnlab train --model timm:deit_base_distilled_patch16_224 --pretrained --block-preset last --dataset cifar10 --download --optimizer adam --lr 1e-4 --batch-size 32 -o deit.safetensors

  nnlab train --model resnet18 --dataset mnist5k --loss circle --circle-m 0.4 --circle-gamma 80 --knn 3 -o circle.safetensors
"""


FINETUNE_PANEL = "Fine-tuning"


@command
@data_options(batch_size=128)
def train(
    output: OutputOpt,
    model: Annotated[
        Optional[str],
        typer.Option(
            "--model",
            "-m",
            help="Registered model name, tv:NAME or timm:NAME (see `nnlab models`).",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = None,
    dataset: DatasetOpt = "digits",
    init: Annotated[
        Optional[Path],
        typer.Option(
            "--init",
            help="Start from the weights of a model artifact (matching names and shapes; a new head stays new).",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = None,
    init_skip: Annotated[
        Optional[list[str]],
        typer.Option(
            "--init-skip",
            help="Leave parameters matching a pattern at their new initialisation when copying --init weights, "
            "e.g. 'classifier' to retrain a new classifier on the init model's features (repeatable).",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = None,
    pretrained: Annotated[
        bool, typer.Option("--pretrained", help="Load hub weights (needs a network).", rich_help_panel=MODEL_PANEL)
    ] = False,
    weights: Annotated[
        Optional[Path],
        typer.Option(
            "--weights", help="Load weights from a local safetensors file or state dict.", rich_help_panel=MODEL_PANEL
        ),
    ] = None,
    width: Annotated[
        float, typer.Option("--width", help="Channel-count multiplier for quick CPU runs.", rich_help_panel=MODEL_PANEL)
    ] = 1.0,
    model_arg: Annotated[
        Optional[list[str]],
        typer.Option(
            "--model-arg",
            help="Architecture argument KEY=VALUE, e.g. norm=batch (repeatable).",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = None,
    image_size: Annotated[
        Optional[int],
        typer.Option(
            "--image-size",
            min=1,
            help="Input size (default: the model's, else the dataset's).",
            rich_help_panel=DATA_PANEL,
        ),
    ] = None,
    augment: Annotated[
        Augment, typer.Option("--augment", help="Augmentation preset.", rich_help_panel=DATA_PANEL)
    ] = "none",
    normalize: Annotated[
        Optional[Normalize],
        typer.Option(
            "--normalize",
            help="Input normalization (default: imagenet with pretrained weights, else dataset).",
            rich_help_panel=DATA_PANEL,
        ),
    ] = None,
    val_fraction: ValFractionOpt = 0.1,
    fraction: FractionOpt = None,
    limit: LimitOpt = None,
    balance: Annotated[
        Balance,
        typer.Option(
            "--balance",
            help="Class balance for proposals:PATH data: undersample (all positives, as many negatives) or weights "
            "(inverse-frequency loss weights).",
            rich_help_panel=DATA_PANEL,
        ),
    ] = "none",
    freeze: Annotated[
        Optional[list[str]],
        typer.Option(
            "--freeze",
            help="Freeze parameters matching a pattern, e.g. 'features' or 'features.1*' (repeatable).",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = None,
    trainable: Annotated[
        Optional[list[str]],
        typer.Option(
            "--trainable",
            help="Freeze everything except parameters matching a pattern (repeatable).",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = None,
    block_preset: Annotated[
        Optional[str],
        typer.Option(
            "--block-preset",
            help="Single-block fine-tuning of a timm:NAME model (seed S3): freeze everything, train one block and "
            "new head(s). 'last' = the model's preset block (see `nnlab models --presets`), 'head' = the "
            "head(s) only, or a block's parameter prefix such as 'blocks.11'.",
            rich_help_panel=FINETUNE_PANEL,
        ),
    ] = None,
    epochs: EpochsOpt = 10,
    optimizer: OptimizerOpt = "sgd",
    lr: LrOpt = 0.01,
    lr_head: Annotated[
        Optional[float],
        typer.Option("--lr-head", help="Separate learning rate for the head.", rich_help_panel=OPTIM_PANEL),
    ] = None,
    momentum: MomentumOpt = 0.9,
    patience: PatienceOpt = None,
    schedule: ScheduleOpt = "none",
    step_size: StepSizeOpt = 30,
    gamma: GammaOpt = 0.1,
    weight_decay: WeightDecayOpt = 5e-4,
    label_smoothing: LabelSmoothingOpt = 0.0,
    adv: Annotated[
        Optional[str],
        typer.Option(
            "--adv",
            help="Adversarial training: make batches adversarial with this attack (fgsm, pgd, pixels, gaussian or a "
            "chain such as pixels+fgsm), generated against the current weights.",
            rich_help_panel=ROBUSTNESS_PANEL,
        ),
    ] = None,
    adv_ratio: Annotated[
        float,
        typer.Option(
            "--adv-ratio",
            help="Share of the training batches made adversarial (with --adv).",
            rich_help_panel=ROBUSTNESS_PANEL,
        ),
    ] = 0.5,
    eps: Annotated[
        Optional[str],
        typer.Option(
            "--eps", help="Attack budget in pixel units, e.g. 8/255 (with --adv).", rich_help_panel=ROBUSTNESS_PANEL
        ),
    ] = None,
    alpha: Annotated[
        Optional[str],
        typer.Option(
            "--alpha", help="PGD step size in pixel units, e.g. 2/255 (with --adv).", rich_help_panel=ROBUSTNESS_PANEL
        ),
    ] = None,
    steps: Annotated[
        Optional[int], typer.Option("--steps", help="PGD steps (with --adv).", rich_help_panel=ROBUSTNESS_PANEL)
    ] = None,
    pixels: Annotated[
        Optional[int],
        typer.Option(
            "--pixels", help="Pixels set to white by the pixels attack (with --adv).", rich_help_panel=ROBUSTNESS_PANEL
        ),
    ] = None,
    loss: Annotated[
        Loss,
        typer.Option(
            "--loss",
            help="ce (cross-entropy) or circle: circle loss on the penultimate embedding, classified by k-NN over "
            "the training embeddings stored in the artifact.",
            rich_help_panel=ROBUSTNESS_PANEL,
        ),
    ] = "ce",
    circle_m: Annotated[
        float,
        typer.Option("--circle-m", help="Circle-loss margin m (with --loss circle).", rich_help_panel=ROBUSTNESS_PANEL),
    ] = 0.4,
    circle_gamma: Annotated[
        float,
        typer.Option(
            "--circle-gamma", help="Circle-loss scale gamma (with --loss circle).", rich_help_panel=ROBUSTNESS_PANEL
        ),
    ] = 80.0,
    knn: Annotated[
        int,
        typer.Option(
            "--knn", help="Neighbours k of the k-NN classifier (with --loss circle).", rich_help_panel=ROBUSTNESS_PANEL
        ),
    ] = 3,
    roi_mode: Annotated[
        RoiMode,
        typer.Option(
            "--roi-mode",
            help="crop: train on region crops; align (proposals:PATH only): fit a head on roi_align features of the "
            "frozen --init backbone, one backbone pass per image.",
            rich_help_panel=DETECTION_PANEL,
        ),
    ] = "crop",
    plot: CurvesPlotOpt = None,
    history_path: HistoryOpt = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue from the checkpoint beside the output.", rich_help_panel=OUTPUT_PANEL),
    ] = False,
    precision: PrecisionOpt = "auto",
    grad_clip: GradClipOpt = None,
    grad_accum: GradAccumOpt = 1,
    sync_bn: SyncBnOpt = False,
    quiet: bool = False,
) -> None:
    """Train a model and keep its best-validation weights (and a history table beside it)."""
    from nnlab.report import frame_table, key_values
    from nnlab.robustness.training import RobustnessSettings
    from nnlab.training.train_run import TrainRequest, run_train

    hooks = from_options(RobustnessSettings)
    request = from_options(
        TrainRequest,
        init_skip=init_skip or [],
        model_args=parse_key_values(model_arg),
        freeze=freeze or [],
        trainable=trainable or [],
        history=history_path,
        hooks=hooks if hooks.settings() else None,
    )
    with progress(quiet) as bar:
        task = bar.add_task("epoch 1", total=None)

        def on_batch(step: int, total: int) -> None:
            bar.update(task, completed=step, total=total)

        def on_epoch(row: dict) -> None:
            msg = f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}"
            if "val_accuracy" in row:
                msg += f", val acc {row['val_accuracy']:.4f}"
            bar.update(task, description=f"epoch {row['epoch'] + 1}")
            if not quiet:
                err_console.print(msg + f" ({row['seconds']:.1f} s)")

        result = run_train(request, on_batch=on_batch, on_epoch=on_epoch, provenance=cli_provenance())
    if quiet:
        return
    console.print(frame_table("history", result.history_frame))
    console.print(key_values("train summary", result.summary))
