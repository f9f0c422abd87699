"""The seed-study pipelines: every `nnlab` command that `make -n` lists for norm-study, transfer-study and
generalization is run in-process on a tiny budget (same commands, small make variables), then the summary is
checked; the norm study's SI/CSI are recomputed from avgpool features."""

from __future__ import annotations

import shutil

import pytest
import torch

from nnlab import artifacts
from nnlab.analysis.separation import separation_indices
from nnlab.models import load_model
from tests.make_plan import make_commands

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def run_pipeline(commands: list[list[str]]) -> None:
    from typer.testing import CliRunner

    from nnlab.cli.main import app

    runner = CliRunner()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for args in commands:
            res = runner.invoke(app, args, catch_exceptions=False)
            assert res.exit_code == 0, (args, res.output)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def test_norm_study_summary_and_si_recomputed(tmp_path, data_root):
    out = tmp_path / "norm"
    commands = make_commands(
        f"{out}/summary.parquet",
        NS_OUT=str(out),
        NS_WIDTH="0.125",
        NS_EPOCHS="1",
        NS_BATCH="30",
        NS_TRAIN_ARGS="--limit 60",
        NS_SI_ARGS="--limit 40",
        NS_TRAIN_SI_ARGS="--limit 40",
        DEVICE="cpu",
        DATA_ARGS=f"--data-root {data_root}",
    )
    assert [c[0] for c in commands].count("train") == 9 and commands[-1][0] == "summarize"
    run_pipeline(commands)
    df, _ = artifacts.load_table(out / "summary.parquet", table="summary")
    assert list(df["variant"]) == [
        "plain",
        "batchnorm",
        "groupnorm",
        "layernorm",
        "no-skip",
        "conv4-1x1",
        "two-path",
        "four-path",
        "improved",
    ]
    for column in (
        "params",
        "val_acc",
        "test_acc",
        "si_train",
        "csi_train",
        "si_val",
        "csi_val",
        "si_test",
        "csi_test",
        "seed_test_acc",
        "seed_si_val",
    ):
        assert column in df.columns
    assert df.loc[df["variant"] == "four-path", "params"].item() > df.loc[df["variant"] == "two-path", "params"].item()
    assert (out / "si-curves.png").stat().st_size > 0
    # the summary's avgpool SI/CSI are separation_indices of avgpool features extracted independently
    for variant in ("plain", "four-path"):
        features = tmp_path / f"{variant}.features.safetensors"
        run_pipeline(
            [
                [
                    "extract-features",
                    str(out / f"{variant}.safetensors"),
                    "--layers",
                    "avgpool",
                    "--dataset",
                    "colordigits",
                    "--data-root",
                    str(data_root),
                    "--split",
                    "test",
                    "--limit",
                    "40",
                    "--device",
                    "cpu",
                    "-o",
                    str(features),
                    "--quiet",
                ]
            ]
        )
        fs = artifacts.load_features(features)
        expected = separation_indices(fs.layers["avgpool"], fs.labels)
        row = df[df["variant"] == variant].iloc[0]
        assert row["si_test"] == pytest.approx(expected["si"], abs=1e-6)
        assert row["csi_test"] == pytest.approx(expected["csi"], abs=1e-6)


def test_transfer_study(tmp_path, data_root):
    out = tmp_path / "transfer"
    commands = make_commands(
        f"{out}/summary.parquet",
        TS_OUT=str(out),
        TS_MLP_EPOCHS="1",
        TS_EPOCHS="1",
        TS_BACKBONE_EPOCHS="1",
        TS_BACKBONE_START_EPOCHS="1",
        TS_BACKBONE_DATASET="colordigits",  # the default colordigits-large draws 16,000 images: too slow for a test
        TS_CNN_WIDTH="0.125",
        TS_VGG_WIDTH="0.125",
        TS_BATCH="30",
        TS_TRAIN_ARGS="--limit 60",
        TS_BACKBONE_ARGS="--optimizer adam --limit 60",
        DEVICE="cpu",
        DATA_ARGS=f"--data-root {data_root}",
    )
    run_pipeline(commands)
    df, _ = artifacts.load_table(out / "summary.parquet", table="summary")
    assert list(df["model"]) == ["mlp", "cnn", "cnn-bn-dropout", "transfer"]
    assert {"test_acc", "macro_f1", "seed_test_acc"} <= set(df.columns) and (out / "confusions.png").stat().st_size > 0
    backbone = load_model(out / "backbone.safetensors")
    transfer = load_model(out / "transfer.safetensors")
    assert backbone.spec.arch == transfer.spec.arch == "vgg16"
    start = load_model(out / "backbone-start.safetensors")  # the warm start on grey digits, then the colour domain
    assert not torch.equal(start.net.features[0].weight, backbone.net.features[0].weight)
    frozen = backbone.net.features[0].weight  # feature module 0 is frozen: copied from the backbone, never trained
    assert torch.equal(frozen, transfer.net.features[0].weight)
    assert transfer.net.classifier[0].in_features == transfer.net.features[-3].out_channels  # the small head
    assert artifacts.load_table(out / "mlp.history.parquet")[0]["lr"].round(6).tolist() == [0.1, 0.01, 0.001, 0.0001]


def test_generalization(tmp_path, data_root):
    out = tmp_path / "gen"
    commands = make_commands(
        f"{out}/summary.parquet",
        GS_OUT=str(out),
        GS_A="colordigits",  # the default colordigits-large draws 16,000 images: too slow for a test
        GS_WIDTH="0.125",
        GS_IMAGE_SIZE="16",
        GS_EPOCHS="1",
        GS_PRETRAIN_EPOCHS="1",
        GS_FINETUNE="40",
        GS_FINETUNE_EPOCHS="1",
        GS_TRAIN_ARGS="--limit 60",
        DEVICE="cpu",
        DATA_ARGS=f"--data-root {data_root}",
    )
    run_pipeline(commands)
    df, _ = artifacts.load_table(out / "summary.parquet", table="summary")
    assert list(df["setting"]) == [
        "baseline",
        "no-batchnorm",
        "label-smoothing",
        "augmentation",
        "pretrained",
        "adam",
        "reverse",
        "reverse-fc-finetune",
    ]
    assert {"colordigits_acc", "digits_acc", "seed_svhn_acc", "seed_mnist_acc"} <= set(df.columns)
    assert (out / "accuracy.png").stat().st_size > 0
    reverse = load_model(out / "reverse.safetensors")
    tuned = load_model(out / "reverse-fc-finetune.safetensors")
    assert torch.equal(reverse.net.layer1[0].conv2.weight, tuned.net.layer1[0].conv2.weight)  # only fc trained
    assert not torch.equal(reverse.net.fc.weight, tuned.net.fc.weight)


def test_robustness_summary_step(tmp_path):
    """The robustness pipeline's last step is `nnlab summarize`: model, clean_acc, adv_acc, success_rate and the
    seed's figures."""
    import pandas as pd

    step = make_commands("robustness", RB_OUT=str(tmp_path))[-1]
    assert step[0] == "summarize" and "s4-robustness" in step
    for i, model in enumerate(("clean", "adversarial", "circle")):
        for j, kind in enumerate(("clean", "adv")):
            row = {"scope": "overall", "class": "all", "accuracy": 0.5 + 0.1 * i + 0.01 * j}
            if kind == "adv":
                row.update(clean_accuracy=0.9, success_rate=0.3 - 0.1 * i)
            artifacts.save_table(
                tmp_path / f"{model}.{kind}-metrics.parquet", pd.DataFrame([row]), {"table": "metrics"}
            )
    run_pipeline([step])
    df, _ = artifacts.load_table(tmp_path / "summary.parquet", table="summary")
    assert list(df.columns)[:4] == ["model", "clean_acc", "adv_acc", "success_rate"]
    assert {"seed_clean_acc", "seed_adv_acc"} <= set(df.columns)
    assert list(df["model"]) == ["clean", "adversarial", "circle"]
    assert df["adv_acc"].round(2).tolist() == [0.51, 0.61, 0.71]
    assert df["success_rate"].round(2).tolist() == [0.3, 0.2, 0.1]


def test_robustness_models_share_one_pretraining(tmp_path):
    """The three robustness models start from the one pretraining: each is trained with `--init pretrain`, and
    with a learning rate too small to move a float32 weight their parameters all equal the pretrained ones (so they
    were loaded from it, not drawn anew). The attack's success rate on the clean model, as `evaluate --adversarial`
    reports it, is the attack's own."""
    out = tmp_path / "rb"
    commands = make_commands(
        f"{out}/summary.parquet",
        RB_OUT=str(out),
        RB_WIDTH="0.125",
        RB_IMAGE_SIZE="16",
        RB_PRETRAIN_EPOCHS="1",
        RB_PRETRAIN_ARGS="--optimizer adam --lr 3e-3 --limit 120 --batch-size 60",
        RB_EPOCHS="1",
        RB_TRAIN_ARGS="--optimizer adam --lr 1e-30 --limit 60 --batch-size 30",
        RB_EMBED_METHOD="pca",
        DEVICE="cpu",
    )
    trains = [c for c in commands if c[0] == "train"]
    assert trains[0][trains[0].index("--dataset") + 1] == "digits" and len(trains) == 4
    for args in trains[1:]:
        assert args[args.index("--init") + 1] == str(out / "pretrain.safetensors")
    attack = next(c for c in commands if c[0] == "attack")
    attack += ["--limit", "40"]
    run_pipeline(commands)
    pretrain = dict(load_model(out / "pretrain.safetensors").net.named_parameters())
    for name in ("clean", "adversarial", "circle"):
        model = load_model(out / f"{name}.safetensors")
        assert model.provenance["init"] == str(out / "pretrain.safetensors")
        params = dict(model.net.named_parameters())
        shared = [k for k in params if k in pretrain and params[k].shape == pretrain[k].shape]
        assert len(shared) >= len(params) - 2  # all but the circle model's (absent) or a resized head
        for key in shared:
            assert torch.equal(params[key], pretrain[key]), (name, key)
    df, _ = artifacts.load_table(out / "summary.parquet", table="summary")
    attack_table, _ = artifacts.load_table(out / "adversarial-test.metrics.parquet", table="attack")
    assert df.loc[df["model"] == "clean", "success_rate"].item() == pytest.approx(attack_table["success_rate"].iloc[0])
    assert df["success_rate"].between(0, 1).all() and df["clean_acc"].between(0, 1).all()
