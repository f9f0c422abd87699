"""`extract-features`, `si-profile`, `rank-features` end to end on built-in data, and their user errors."""

from __future__ import annotations

import json

import pytest
import torch

from nnlab import artifacts
from tests.cli.helpers import assert_clear_error, invoke


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A tiny VGG16 trained for one epoch on digits, as a newcomer would, and two of its layers' features."""
    from typer.testing import CliRunner

    from nnlab.cli.main import app

    folder = tmp_path_factory.mktemp("si")
    path = folder / "vgg.safetensors"
    for args in (
        [
            "train",
            "--model",
            "vgg16",
            "--width",
            "0.0625",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--limit",
            "100",
            "-o",
            str(path),
            "--quiet",
        ],
        [
            "extract-features",
            str(path),
            "--dataset",
            "digits",
            "--split",
            "train",
            "--layers",
            "23,features.30",
            "--limit",
            "80",
            "-o",
            str(folder / "feats.safetensors"),
            "--quiet",
        ],
    ):
        res = CliRunner().invoke(app, args, catch_exceptions=False)
        assert res.exit_code == 0, res.output
    return folder, path, folder / "feats.safetensors"


def test_extract_features_default_layer_and_float16(runner, app, work):
    folder, model, _ = work
    out = folder / "default.safetensors"
    res = invoke(runner, app, "extract-features", model, "--split", "test", "--fraction", "0.2", "--float16", "-o", out)
    assert res.exit_code == 0, res.output
    fs = artifacts.load_features(out)
    assert list(fs.layers) == ["features"]  # the layer feeding VGG's classifier
    assert fs.layers["features"].dtype == torch.float16 and fs.layers["features"].shape[1] == 32
    assert len(fs.labels) == 72 and fs.meta["split"] == "test" and fs.meta["arch"] == "vgg16"


def test_extract_features_named_layers(work):
    _, _, feats = work
    fs = artifacts.load_features(feats)
    assert list(fs.layers) == ["features.23", "features.30"]
    assert fs.layers["features.23"].shape == (80, 128) and fs.layers["features.30"].shape == (80, 32)
    assert sorted(set(fs.labels.tolist())) == list(range(10))  # stratified subset


def test_si_profile_model_table_and_plot(runner, app, work):
    folder, model, _ = work
    out, png = folder / "profile.parquet", folder / "profile.png"
    res = invoke(runner, app, "si-profile", model, "--splits", "train,test", "--limit", "40", "-o", out, "--plot", png)
    assert res.exit_code == 0, res.output
    df, meta = artifacts.load_table(out, table="si_profile")
    assert (
        len(df) == 62 and set(df["samples"]) == {40} and list(df[df.split == "train"]["layer_index"]) == list(range(31))
    )
    assert list(df["layer_name"][:3]) == ["features.0", "features.1", "features.2"]
    assert {"layer_type", "dim", "si", "csi", "samples"} <= set(df.columns)
    assert df["si"].between(0, 1).all() and df["csi"].between(0, 1).all()
    assert meta["arch"] == "vgg16" and meta["splits"] == ["train", "test"]
    assert png.stat().st_size > 5000
    assert "features.30" in res.output


def test_si_profile_features_artifact_and_orders(runner, app, work):
    folder, _, feats = work
    out = folder / "fprofile.parquet"
    res = invoke(runner, app, "si-profile", feats, "--orders", "3", "-o", out, "--quiet")
    assert res.exit_code == 0, res.output
    df, _ = artifacts.load_table(out)
    assert list(df["layer_name"]) == ["features.23", "features.30"] and set(df["split"]) == {"train"}
    assert {"high_order_si_3", "soft_order_si_3", "anti_si_3"} <= set(df.columns)
    from nnlab.analysis import separation_index

    fs = artifacts.load_features(feats)
    assert df["si"].iloc[0] == pytest.approx(separation_index(fs.layers["features.23"], fs.labels))


def test_rank_features_table_metadata_and_plot(runner, app, work):
    folder, _, feats = work
    out, png = folder / "ranking.parquet", folder / "ranking.png"
    res = invoke(runner, app, "rank-features", feats, "--layer", "features.30", "-o", out, "--plot", png)
    assert res.exit_code == 0, res.output
    df, meta = artifacts.load_table(out, table="ranking")
    assert list(df.columns) == ["step", "feature", "si"] and list(df["step"]) == list(range(1, 33))
    assert sorted(df["feature"]) == list(range(32))
    assert meta["best_step"] == int(df["si"].idxmax()) + 1 and meta["best_si"] == pytest.approx(df["si"].max())
    assert meta["si_all"] == pytest.approx(df["si"].iloc[-1])
    assert (
        meta["layer"] == "features.30"
        and meta["feature_dim"] == 32
        and meta["source_model"].endswith("vgg.safetensors")
    )
    assert png.stat().st_size > 5000


def _write_raw_features(path, layer, labels, layers=None):
    from safetensors.torch import save_file

    save_file(
        {"labels": labels, layer: torch.rand(len(labels) + 1, 4)},
        str(path),
        metadata={
            "nnlab.kind": "features",
            "nnlab.format": "1",
            "nnlab.layers": json.dumps([layer]),
            "nnlab.meta": "{}",
        },
    )


def test_bad_feature_files_give_one_clear_error(runner, app, tmp_path):
    y = torch.arange(20) % 4
    nan = torch.rand(20, 5)
    nan[3, 1] = float("nan")
    artifacts.save_features(tmp_path / "nan.safetensors", {"a": nan}, y, {})
    inf = torch.rand(20, 5)
    inf[0, 0] = float("inf")
    artifacts.save_features(tmp_path / "inf.safetensors", {"a": inf}, y, {})
    artifacts.save_features(
        tmp_path / "one.safetensors", {"a": torch.rand(20, 5)}, torch.zeros(20, dtype=torch.long), {}
    )
    artifacts.save_features(
        tmp_path / "tiny.safetensors", {"a": torch.rand(1, 5)}, torch.zeros(1, dtype=torch.long), {}
    )
    _write_raw_features(tmp_path / "ragged.safetensors", "a", y)
    cases = [
        ("nan", "NaN or Inf"),
        ("inf", "NaN or Inf"),
        ("one", "at least 2 classes"),
        ("tiny", "at least 2 samples"),
        ("ragged", "is not a 20-row matrix like the labels"),
    ]
    for name, fragment in cases:
        for cmd in ("rank-features", "si-profile"):
            res = invoke(runner, app, cmd, tmp_path / f"{name}.safetensors", "-o", tmp_path / f"{name}-{cmd}.parquet")
            assert_clear_error(res, fragment)
    assert_clear_error(
        invoke(
            runner, app, "rank-features", tmp_path / "nan.safetensors", "--layer", "b", "-o", tmp_path / "x.parquet"
        ),
        "layer 'b' is not in",
    )


def test_bad_options_give_one_clear_error(runner, app, work, tmp_path):
    folder, model, feats = work
    assert_clear_error(
        invoke(runner, app, "extract-features", model, "--layers", "features.99", "-o", tmp_path / "f.safetensors"),
        "unknown layer",
    )
    assert_clear_error(
        invoke(runner, app, "extract-features", model, "--layers", "40", "-o", tmp_path / "f.safetensors"),
        "out of range",
    )
    assert_clear_error(
        invoke(
            runner,
            app,
            "extract-features",
            model,
            "--fraction",
            "0.1",
            "--limit",
            "5",
            "-o",
            tmp_path / "f.safetensors",
        ),
        "either --fraction or --limit",
    )
    assert_clear_error(
        invoke(runner, app, "si-profile", model, "--layers", "nope", "-o", tmp_path / "p.parquet"), "unknown layer"
    )
    assert_clear_error(
        invoke(runner, app, "si-profile", model, "--orders", "x", "-o", tmp_path / "p.parquet"), "--orders"
    )
    assert_clear_error(
        invoke(runner, app, "rank-features", feats, "-o", tmp_path / "r.parquet"), "choose one with --layer"
    )
    assert_clear_error(
        invoke(runner, app, "rank-features", model, "-o", tmp_path / "r.parquet"), "a features artifact is needed"
    )
    assert_clear_error(
        invoke(runner, app, "si-profile", tmp_path / "missing.safetensors", "-o", tmp_path / "p.parquet"),
        "no such file",
    )
