"""`train`, `evaluate`, `inspect` end to end on built-in data, and their user errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nnlab import artifacts
from nnlab.models import load_model, save_model
from tests.cli.helpers import assert_clear_error, invoke


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from typer.testing import CliRunner

    from nnlab.cli.main import app

    out = tmp_path_factory.mktemp("train") / "cnn.safetensors"
    res = CliRunner().invoke(
        app,
        [
            "train",
            "--model",
            "cnn",
            "--width",
            "0.25",
            "--image-size",
            "16",
            "--dataset",
            "digits",
            "--epochs",
            "2",
            "--optimizer",
            "adam",
            "--lr",
            "0.003",
            "-o",
            str(out),
            "--plot",
            str(out.with_suffix(".png")),
            "--quiet",
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    return out


def test_train_writes_model_history_and_plot(trained):
    model = load_model(trained)
    assert model.spec.arch == "cnn" and model.spec.classes == [str(i) for i in range(10)]
    assert model.metrics["best_epoch"] in (1, 2)
    assert model.provenance["dataset"] == "digits" and model.provenance["command"].startswith("nnlab train")
    assert model.provenance["options"]["epochs"] == 2
    hist, meta = artifacts.load_table(trained.with_name("cnn.history.parquet"), table="history")
    assert list(hist["epoch"]) == [1, 2]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"} <= set(hist.columns)
    assert trained.with_suffix(".png").stat().st_size > 1000
    assert not trained.with_name(trained.name + ".ckpt").exists()


def test_evaluate_writes_metrics_and_confusion(runner, app, trained, tmp_path):
    out, png = tmp_path / "metrics.parquet", tmp_path / "cm.png"
    res = invoke(runner, app, "evaluate", trained, "--dataset", "digits", "--split", "test", "-o", out, "--plot", png)
    assert res.exit_code == 0, res.output
    df, meta = artifacts.load_table(out, table="metrics")
    overall = df[df.scope == "overall"].iloc[0]
    assert overall.accuracy > 0.5
    assert set(df[df.scope == "class"]["class"]) == {str(i) for i in range(10)}
    conf = df[df.scope == "confusion"]
    assert conf["count"].sum() == overall.support == 360
    assert png.stat().st_size > 1000
    assert "accuracy" in res.output


def test_evaluate_cross_domain_on_another_dataset_with_the_same_classes(runner, app, tmp_path):
    out = tmp_path / "m.safetensors"
    res = invoke(
        runner,
        app,
        "train",
        "--model",
        "mlp",
        "--dataset",
        "mnist5k",
        "--image-size",
        "8",
        "--epochs",
        "1",
        "--limit",
        "500",
        "-o",
        out,
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    res = invoke(runner, app, "evaluate", out, "--dataset", "digits", "-o", tmp_path / "x.parquet", "--quiet")
    assert res.exit_code == 0, res.output


def test_inspect_model_reports_parameters_and_surgery(runner, app, trained):
    res = invoke(runner, app, "inspect", trained, "--layers")
    assert res.exit_code == 0, res.output
    total = sum(p.numel() for p in load_model(trained).net.parameters())
    assert f"{total:,}" in res.output and "surgery" in res.output and "output shape" in res.output
    assert "Conv2d" in res.output and "Linear" in res.output


def test_inspect_vgg16_counts_134_301_514_parameters(runner, app, tmp_path):
    from nnlab.training.recipe import DataOptions, build_new_model

    path = tmp_path / "vgg.safetensors"
    save_model(path, build_new_model("vgg16", DataOptions(dataset="digits")))
    res = invoke(runner, app, "inspect", path)
    assert res.exit_code == 0 and "134,301,514" in res.output


def test_inspect_table(runner, app, trained):
    res = invoke(runner, app, "inspect", trained.with_name("cnn.history.parquet"))
    assert res.exit_code == 0 and "val_accuracy" in res.output and "history" in res.output


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["train", "--model", "nosuchnet", "-o", "{tmp}/m.safetensors"], ["unknown model", "vgg16"]),
        (
            ["train", "--model", "cnn", "--dataset", "nosuchdata", "-o", "{tmp}/m.safetensors"],
            ["unknown dataset", "digits"],
        ),
        (["train", "--model", "cnn", "--epochs", "-1", "-o", "{tmp}/m.safetensors"], ["--epochs"]),
        (["train", "--model", "cnn", "--val-fraction", "1.5", "-o", "{tmp}/m.safetensors"], ["--val-fraction"]),
        (
            ["train", "--model", "cnn", "--freeze", "nothing.like.this*", "-o", "{tmp}/m.safetensors"],
            ["nothing.like.this"],
        ),
        (
            [
                "train",
                "--model",
                "cnn",
                "--dataset",
                "cifar10",
                "--data-root",
                "{tmp}/nodata",
                "-o",
                "{tmp}/m.safetensors",
            ],
            ["nodata"],
        ),
        (["evaluate", "{tmp}/missing.safetensors", "--dataset", "digits"], ["no such file"]),
        (["evaluate", "{tmp}/foreign.safetensors", "--dataset", "digits"], ["not an nnlab artifact"]),
        (["inspect", "{tmp}/garbage.bin"], ["not an nnlab artifact"]),
    ],
)
def test_user_errors_are_one_clear_line(runner, app, tmp_path, args, fragments):
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(tmp_path / "foreign.safetensors"))
    (tmp_path / "garbage.bin").write_bytes(b"garbage")
    res = invoke(runner, app, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert_clear_error(res, *fragments)
    assert not (tmp_path / "m.safetensors").exists()


def test_python_dash_m_runs_the_cli():
    res = subprocess.run([sys.executable, "-m", "nnlab", "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "train" in res.stdout and "inspect" in res.stdout


def test_interrupted_train_resumes_to_the_same_weights(runner, app, tmp_path, monkeypatch):
    import torch

    from nnlab.training import engine

    args = [
        "train",
        "--model",
        "cnn-bn-dropout",
        "--width",
        "0.25",
        "--image-size",
        "16",
        "--dataset",
        "digits",
        "--limit",
        "200",
        "--epochs",
        "3",
        "--schedule",
        "cosine",
        "--augment",
        "flip-crop",
        "--quiet",
    ]
    full = tmp_path / "full.safetensors"
    assert invoke(runner, app, *args, "-o", full).exit_code == 0

    part = tmp_path / "part.safetensors"
    real_save = engine.save_fit_state

    def save_then_crash(path, state):
        real_save(path, state)
        raise KeyboardInterrupt  # the machine "dies" right after the first epoch's checkpoint

    monkeypatch.setattr(engine, "save_fit_state", save_then_crash)
    res = invoke(runner, app, *args, "-o", part)
    assert res.exit_code == 130 and not part.exists()
    assert part.with_name(part.name + ".ckpt").exists()
    monkeypatch.setattr(engine, "save_fit_state", real_save)

    res = invoke(runner, app, *args, "-o", part, "--resume")
    assert res.exit_code == 0, res.output
    a, b = load_model(full).net.state_dict(), load_model(part).net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    hist, _ = artifacts.load_table(tmp_path / "part.history.parquet")
    assert list(hist["epoch"]) == [1, 2, 3]


def test_catalog_commands_list_registries(runner, app):
    res = invoke(runner, app, "models")
    assert res.exit_code == 0 and "vgg16" in res.output and "custom-resnet" in res.output and "timm:NAME" in res.output
    res = invoke(runner, app, "datasets")
    assert res.exit_code == 0 and "mnist5k" in res.output and "folder:NAME" in res.output
