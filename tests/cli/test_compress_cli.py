"""`truncate`, `fit-head`, `compare` end to end on built-in data (tiny VGG16), and their user errors."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from nnlab import artifacts
from nnlab.models import create_classifier, load_model, save_model
from tests.cli.helpers import assert_clear_error, invoke

CLASSES = [str(i) for i in range(10)]


def _run(app, *args):
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """vgg16 (width 1/16, briefly trained) → profile → truncate auto → features → ranking → linear head."""
    from nnlab.cli.main import app

    d = tmp_path_factory.mktemp("compress")
    _run(
        app,
        "train",
        "--model",
        "vgg16",
        "--width",
        "0.0625",
        "--dataset",
        "digits",
        "--limit",
        "120",
        "--epochs",
        "1",
        "--optimizer",
        "adam",
        "--lr",
        "2e-3",
        "--batch-size",
        "32",
        "-o",
        d / "vgg.safetensors",
        "--quiet",
    )
    # a profile in si-profile's format (that command is tested in test_si_cli.py): SI saturates after features.16
    si = [min(0.99, 0.2 + 0.04 * i) for i in range(31)]
    profile = pd.DataFrame(
        {
            "layer_index": range(31),
            "layer_name": [f"features.{i}" for i in range(31)],
            "split": "train",
            "si": si,
            "csi": si,
        }
    )
    artifacts.save_table(d / "profile.parquet", profile, {"table": "si_profile", "arch": "vgg16"})
    _run(app, "truncate", d / "vgg.safetensors", "--at", "23", "-o", d / "trunc.safetensors", "--quiet")
    _run(app, "extract-features", d / "trunc.safetensors", "--limit", "80", "-o", d / "feats.safetensors", "--quiet")
    _run(app, "rank-features", d / "feats.safetensors", "--max-steps", "40", "-o", d / "ranking.parquet", "--quiet")
    _run(
        app,
        "fit-head",
        d / "trunc.safetensors",
        "--ranking",
        d / "ranking.parquet",
        "--top",
        "30",
        "--hidden",
        "",
        "--limit",
        "150",
        "--epochs",
        "2",
        "-o",
        d / "linear.safetensors",
        "--quiet",
    )
    return d


def test_truncate_records_surgery_and_outputs_the_cut(study):
    trunc = load_model(study / "trunc.safetensors")
    assert trunc.spec.surgery == [{"op": "truncate", "at": "features.23"}]
    assert trunc(torch.rand(2, 1, 32, 32)).shape == (2, 32 * 2 * 2)
    assert trunc.provenance["dataset"] == "digits"


def test_truncate_auto_uses_the_profile(runner, app, study):
    res = invoke(
        runner,
        app,
        "truncate",
        study / "vgg.safetensors",
        "--at",
        "auto",
        "--profile",
        study / "profile.parquet",
        "-o",
        study / "auto.safetensors",
    )
    assert res.exit_code == 0, res.output
    # gains after the pools 4, 9, 16, 23: 0.63, 0.43, 0.15, 0 → the default threshold 0.02 cuts at 23
    assert load_model(study / "auto.safetensors").spec.surgery == [{"op": "truncate", "at": "features.23"}]
    assert "first pooling layer" in res.output
    res = invoke(
        runner,
        app,
        "truncate",
        study / "vgg.safetensors",
        "--at",
        "auto",
        "--profile",
        study / "profile.parquet",
        "--threshold",
        "0.5",
        "-o",
        study / "auto.safetensors",
    )
    assert load_model(study / "auto.safetensors").spec.surgery == [{"op": "truncate", "at": "features.9"}]


def test_fit_head_writes_a_self_contained_model(runner, app, study):
    model = load_model(study / "linear.safetensors")
    ranking, meta = artifacts.load_table(study / "ranking.parquet")
    assert [op["op"] for op in model.spec.surgery] == ["truncate", "select", "head"]
    assert model.spec.surgery[1]["indices"] == list(ranking["feature"][:30])
    assert model.spec.surgery[2]["hidden"] == [] and model.spec.surgery[2]["dropout"] == 0.2
    assert model(torch.rand(3, 1, 32, 32)).shape == (3, 10)
    assert model.provenance["cached_features"] is True and model.metrics["val_accuracy"] is not None
    hist, _ = artifacts.load_table(study / "linear.history.parquet", table="history")
    assert list(hist["epoch"]) == [1, 2]
    # accepted by the other stages like any model
    for args in (
        ("evaluate", study / "linear.safetensors", "--limit", "50", "-o", study / "m.parquet"),
        ("inspect", study / "linear.safetensors"),
        (
            "si-profile",
            study / "linear.safetensors",
            "--splits",
            "test",
            "--limit",
            "40",
            "--layers",
            "flatten,select,head",
            "-o",
            study / "lp.parquet",
        ),
        (
            "extract-features",
            study / "linear.safetensors",
            "--split",
            "test",
            "--limit",
            "40",
            "-o",
            study / "lf.safetensors",
        ),
    ):
        res = invoke(runner, app, *args)
        assert res.exit_code == 0, (args, res.output)
    fs = artifacts.load_features(study / "lf.safetensors")
    assert list(fs.layers) == ["select"] and fs.layers["select"].shape == (40, 30)
    profile, _ = artifacts.load_table(study / "lp.parquet")
    assert list(profile["layer_name"]) == ["flatten", "select", "head"] and list(profile["dim"]) == [128, 30, 10]


def test_fit_head_best_prefix_hidden_scaled_and_uncached(runner, app, study):
    out = study / "mlp.safetensors"
    res = invoke(
        runner,
        app,
        "fit-head",
        study / "trunc.safetensors",
        "--ranking",
        study / "ranking.parquet",
        "--best",
        "--hidden",
        "64,64",
        "--hidden-scale",
        "0.5",
        "--no-cache",
        "--limit",
        "100",
        "--epochs",
        "1",
        "-o",
        out,
    )
    assert res.exit_code == 0, res.output
    model = load_model(out)
    _, meta = artifacts.load_table(study / "ranking.parquet")
    assert len(model.spec.surgery[1]["indices"]) == meta["best_step"]
    assert model.spec.surgery[2]["hidden"] == [32, 32] and model.provenance["cached_features"] is False


def test_compare_prints_both_tables_and_writes_parquet(runner, app, study):
    out = study / "compare.parquet"
    res = invoke(
        runner,
        app,
        "compare",
        study / "vgg.safetensors",
        study / "linear.safetensors",
        "--dataset",
        "digits",
        "--limit",
        "60",
        "--si-fraction",
        "0.05",
        "--si-test-fraction",
        "0.2",
        "-o",
        out,
    )
    assert res.exit_code == 0, res.output
    df, meta = artifacts.load_table(out, table="comparison")
    assert list(df["model"]) == ["vgg", "linear"]
    vgg, linear = load_model(study / "vgg.safetensors"), load_model(study / "linear.safetensors")
    from nnlab.models import count_parameters

    assert list(df["parameters"]) == [count_parameters(vgg.net)[0], count_parameters(linear.net)[0]]
    assert list(df["layer"]) == ["features", "select"] and list(df["dim"]) == [32, 30]
    for col in ("train_accuracy", "val_accuracy", "test_accuracy", "si_train", "csi_train", "si_test", "csi_test"):
        assert df[col].between(0, 1).all(), col
    assert list(df["test_samples"]) == [72, 72]
    for col in ("train_accuracy", "val_accuracy", "test_accuracy"):  # --limit 60 applies to every model
        assert ((df[col] * 60).round(4) % 1 == 0).all(), col
    assert "accuracy on digits" in res.output and "separation of the classifier" in res.output


def test_bad_inputs_give_one_clear_error(runner, app, study, tmp_path):
    d = study
    assert_clear_error(
        invoke(runner, app, "truncate", d / "vgg.safetensors", "--at", "31", "-o", tmp_path / "t.safetensors"),
        "out of range",
    )
    assert_clear_error(
        invoke(runner, app, "truncate", d / "vgg.safetensors", "--at", "auto", "-o", tmp_path / "t.safetensors"),
        "--profile",
    )
    assert_clear_error(
        invoke(
            runner,
            app,
            "truncate",
            d / "vgg.safetensors",
            "--at",
            "auto",
            "--profile",
            d / "ranking.parquet",
            "-o",
            tmp_path / "t.safetensors",
        ),
        "si_profile table is needed",
    )
    # --top larger than the feature count (32×2×2 = 128 features)
    assert_clear_error(
        invoke(
            runner,
            app,
            "fit-head",
            d / "trunc.safetensors",
            "--ranking",
            d / "ranking.parquet",
            "--top",
            "500",
            "-o",
            tmp_path / "h.safetensors",
        ),
        "larger than the feature count",
    )
    # fit-head on an untruncated model
    assert_clear_error(
        invoke(
            runner,
            app,
            "fit-head",
            d / "vgg.safetensors",
            "--ranking",
            d / "ranking.parquet",
            "--top",
            "5",
            "-o",
            tmp_path / "h.safetensors",
        ),
        "needs a truncated model",
    )
    # a ranking from another layer: the same model cut at 16
    invoke(runner, app, "truncate", d / "vgg.safetensors", "--at", "16", "-o", tmp_path / "t16.safetensors")
    assert_clear_error(
        invoke(
            runner,
            app,
            "fit-head",
            tmp_path / "t16.safetensors",
            "--ranking",
            d / "ranking.parquet",
            "--top",
            "5",
            "-o",
            tmp_path / "h.safetensors",
        ),
        "made on layer features.23",
    )
    # a ranking from another width: the same cut of a width-1/8 VGG16
    torch.manual_seed(0)
    wide = create_classifier("vgg16", CLASSES, channels=1, width=0.125)
    save_model(tmp_path / "wide.safetensors", wide, provenance={"dataset": "digits"})
    invoke(runner, app, "truncate", tmp_path / "wide.safetensors", "--at", "23", "-o", tmp_path / "wide-t.safetensors")
    assert_clear_error(
        invoke(
            runner,
            app,
            "fit-head",
            tmp_path / "wide-t.safetensors",
            "--ranking",
            d / "ranking.parquet",
            "--top",
            "5",
            "-o",
            tmp_path / "h.safetensors",
        ),
        "another layer or width",
    )
    assert_clear_error(
        invoke(
            runner,
            app,
            "fit-head",
            d / "trunc.safetensors",
            "--ranking",
            d / "ranking.parquet",
            "--top",
            "5",
            "--hidden",
            "big",
            "-o",
            tmp_path / "h.safetensors",
        ),
        "--hidden",
    )
    assert_clear_error(
        invoke(
            runner,
            app,
            "fit-head",
            d / "linear.safetensors",
            "--ranking",
            d / "ranking.parquet",
            "--top",
            "5",
            "-o",
            tmp_path / "h.safetensors",
        ),
        "already has a fitted head",
    )
    assert_clear_error(
        invoke(runner, app, "compare", d / "vgg.safetensors", d / "ranking.parquet"),
        "not a readable nnlab model artifact",
    )
