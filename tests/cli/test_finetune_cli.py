"""`train --block-preset`, `models --presets` and the study table (`summarize`) end to end, and their user errors."""

from __future__ import annotations

import pytest

from nnlab import artifacts
from nnlab.models import load_model
from tests.cli.helpers import assert_clear_error, invoke

DEIT = [
    "--model",
    "timm:deit_tiny_distilled_patch16_224",
    "--image-size",
    "16",
    "--model-arg",
    "patch_size=8",
    "--model-arg",
    "depth=2",
    "--model-arg",
    "embed_dim=32",
    "--model-arg",
    "num_heads=2",
]
QUICK = [
    "--dataset",
    "digits",
    "--limit",
    "60",
    "--epochs",
    "1",
    "--optimizer",
    "adam",
    "--lr",
    "1e-3",
    "--batch-size",
    "30",
]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    from typer.testing import CliRunner

    from nnlab.cli.main import app

    out = tmp_path_factory.mktemp("finetune") / "deit.safetensors"
    res = CliRunner().invoke(
        app, ["train", *DEIT, *QUICK, "--block-preset", "last", "-o", str(out)], catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    return out, res.output


def test_block_preset_records_the_trainable_count_and_the_timing_columns(tuned):
    out, printed = tuned
    model = load_model(out)
    block_and_heads = 2 * (32 * 10 + 10) + sum(
        p.numel() for n, p in model.net.named_parameters() if n.startswith("blocks.1.")
    )
    assert model.metrics["trainable_parameters"] == block_and_heads
    assert model.metrics["block"] == "blocks.1" and model.metrics["heads"] == ["head", "head_dist"]
    assert model.metrics["train_seconds_per_epoch"] > 0 and model.metrics["val_images_per_second"] > 0
    assert "blocks.1 + head, head_dist" in " ".join(printed.split())
    hist, _ = artifacts.load_table(out.with_name("deit.history.parquet"), table="history")
    assert {"train_seconds", "val_seconds", "train_images_per_second", "val_images_per_second"} <= set(hist.columns)


def test_the_fine_tuned_artifact_evaluates_and_sits_in_a_study_table(runner, app, tuned, tmp_path):
    out, _ = tuned
    res = invoke(runner, app, "evaluate", out, "--dataset", "digits", "--limit", "50", "-o", tmp_path / "m.parquet")
    assert res.exit_code == 0, res.output
    table = tmp_path / "runs.parquet"
    cells = [f"deit.{c}={out}#{c}" for c in ("trainable_parameters", "val_accuracy", "train_seconds_per_epoch")]
    res = invoke(runner, app, "summarize", *cells, "--key", "run", "-o", table)
    assert res.exit_code == 0, res.output
    frame, _ = artifacts.load_table(table)
    row = frame.iloc[0]
    metrics = load_model(out).metrics
    assert row["run"] == "deit" and row["trainable_parameters"] == metrics["trainable_parameters"]
    assert row["val_accuracy"] == pytest.approx(metrics["val_accuracy"])
    assert row["train_seconds_per_epoch"] > 0


def test_models_presets_lists_blocks_and_counts(runner, app, monkeypatch):
    from nnlab.cli import common
    from nnlab.models import presets

    monkeypatch.setattr(presets, "_ORDER", ["densenet201"])
    monkeypatch.setattr(common.console, "width", 200)
    res = invoke(runner, app, "models", "--presets")
    assert res.exit_code == 0, res.output
    assert "features.denseblock4.denselayer16" in res.output and "235,210" in res.output


def test_bad_block_presets_are_one_clear_line(runner, app, tmp_path):
    out = tmp_path / "m.safetensors"
    res = invoke(
        runner,
        app,
        "train",
        "--model",
        "timm:resnet10t",
        "--image-size",
        "16",
        *QUICK,
        "--block-preset",
        "last",
        "-o",
        out,
    )
    assert_clear_error(res, "no fine-tuning preset for timm:resnet10t")
    res = invoke(runner, app, "train", *DEIT, *QUICK, "--block-preset", "blocks.7", "-o", out)
    assert_clear_error(res, "block 'blocks.7' matches no parameter")
    res = invoke(runner, app, "train", "--model", "mlp", *QUICK, "--block-preset", "last", "-o", out)
    assert_clear_error(res, "timm models")
    assert not out.exists()
