"""`attack`, `train --adv`, `train --loss circle`, `embed` end to end on tiny built-in data,
and their user errors (one clear line, no traceback, no partial output)."""

from __future__ import annotations

import pytest
import torch

from nnlab import artifacts
from nnlab.models import load_model
from tests.cli.helpers import assert_clear_error, invoke

TINY = [
    "--model",
    "resnet18",
    "--width",
    "0.125",
    "--image-size",
    "16",
    "--dataset",
    "digits",
    "--limit",
    "240",
    "--epochs",
    "1",
    "--optimizer",
    "adam",
    "--lr",
    "0.003",
    "--batch-size",
    "60",
    "--device",
    "cpu",
    "--quiet",
]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A clean model, its pixels+fgsm test set, an adversarially trained and a circle-loss model."""
    from typer.testing import CliRunner

    from nnlab.cli.main import app

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    runner, root = CliRunner(), tmp_path_factory.mktemp("robustness")
    paths = {name: root / f"{name}.safetensors" for name in ("clean", "adv", "robust", "circle")}
    steps = [
        ["train", *TINY, "-o", paths["clean"]],
        [
            "attack",
            paths["clean"],
            "--dataset",
            "digits",
            "--split",
            "test",
            "--attack",
            "pixels+fgsm",
            "--pixels",
            "4",
            "--eps",
            "8/255",
            "--limit",
            "60",
            "--device",
            "cpu",
            "-o",
            paths["adv"],
        ],
        [
            "train",
            *TINY,
            "--adv",
            "pixels+fgsm",
            "--pixels",
            "4",
            "--eps",
            "8/255",
            "--adv-ratio",
            "0.5",
            "-o",
            paths["robust"],
        ],
        [
            "train",
            *TINY,
            "--loss",
            "circle",
            "--circle-m",
            "0.4",
            "--circle-gamma",
            "80",
            "--knn",
            "3",
            "-o",
            paths["circle"],
        ],
    ]
    try:
        for args in steps:
            res = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
            assert res.exit_code == 0, (args[0], res.output)
    finally:
        torch.set_num_threads(threads)
    return paths


def test_attack_writes_artifact_metrics_and_grid(study):
    adv = artifacts.load_adversarial(study["adv"])
    assert adv.images.shape == (60, 3, 16, 16) and adv.images.min() >= 0 and adv.images.max() <= 1
    assert len(adv.labels) == len(adv.clean_pred) == len(adv.adv_pred) == len(adv.indices) == 60
    assert adv.meta["attack"] == "pixels+fgsm" and adv.meta["classes"] == [str(i) for i in range(10)]
    assert adv.meta["params"]["fgsm"]["eps"] == pytest.approx(8 / 255) and adv.meta["params"]["pixels"]["n"] == 4
    table, meta = artifacts.load_table(study["adv"].with_name("adv.metrics.parquet"), table="attack")
    row = table.iloc[0]
    assert row["clean_accuracy"] == pytest.approx((adv.clean_pred == adv.labels).float().mean().item())
    assert row["adversarial_accuracy"] == pytest.approx((adv.adv_pred == adv.labels).float().mean().item())
    assert 8 / 255 < row["mean_linf"] <= 1.0  # whitened pixels move a value by more than eps
    assert study["adv"].with_name("adv.grid.png").stat().st_size > 10_000
    model = load_model(study["clean"])
    assert torch.equal(model(adv.images).argmax(1), adv.adv_pred)


def test_evaluate_adversarial_reports_clean_accuracy_and_success_rate_on_the_originals(runner, app, study, tmp_path):
    """On the set made against it, a model's success rate is the attack's own; on another model's set it is the
    share of the originals that model gets right which the adversarial images make wrong (the transfer rate)."""
    from nnlab.training.evaluate_run import transfer_figures

    attack_row = artifacts.load_table(study["adv"].with_name("adv.metrics.parquet"), table="attack")[0].iloc[0]
    adv = artifacts.load_adversarial(study["adv"])
    for name in ("clean", "robust"):
        out = tmp_path / f"{name}.parquet"
        res = invoke(runner, app, "evaluate", study[name], "--adversarial", study["adv"], "--device", "cpu", "-o", out)
        assert res.exit_code == 0, res.output
        row = artifacts.load_table(out, table="metrics")[0].query("scope == 'overall'").iloc[0]
        model = load_model(study[name])
        from nnlab.data import load_dataset

        test = load_dataset("digits", "test", channels=3, image_size=16)
        position = {int(v): i for i, v in enumerate(test.indices)}
        images = torch.stack([test[position[int(i)]][0] for i in adv.indices])
        with torch.no_grad():
            clean_pred, adv_pred = model(images).argmax(1), model(adv.images).argmax(1)
        expected = transfer_figures(clean_pred.numpy(), adv_pred.numpy(), adv.labels.numpy())
        assert row["clean_accuracy"] == pytest.approx(expected["clean_accuracy"])
        assert row["success_rate"] == pytest.approx(expected["success_rate"])
        assert row["accuracy"] == pytest.approx((adv_pred == adv.labels).float().mean().item())
        if name == "clean":
            assert row["clean_accuracy"] == pytest.approx(attack_row["clean_accuracy"])
            assert row["success_rate"] == pytest.approx(attack_row["success_rate"])
    labels = torch.tensor([0, 1, 2, 3])
    figures = transfer_figures(torch.tensor([0, 1, 2, 0]).numpy(), torch.tensor([0, 0, 2, 3]).numpy(), labels.numpy())
    assert figures == {"clean_accuracy": 0.75, "success_rate": pytest.approx(1 / 3)}


def test_trained_models_record_their_recipe(study):
    robust = load_model(study["robust"])
    extra = robust.provenance["train_config"]["extra"]
    assert extra["adv"] == "pixels+fgsm" and extra["adv_ratio"] == 0.5 and extra["attack_params"]["n"] == 4
    circle = load_model(study["circle"])
    assert circle.spec.surgery == [{"op": "knn", "k": 3, "num_classes": 10}]
    assert circle.net.head.bank.shape[0] == 240  # the (--limit) training samples are the bank
    assert circle.provenance["train_config"]["extra"]["loss"] == "circle"


def test_circle_model_with_evaluate_extract_features_and_embed(runner, app, study, tmp_path):
    res = invoke(
        runner,
        app,
        "evaluate",
        study["circle"],
        "--adversarial",
        study["adv"],
        "--device",
        "cpu",
        "-o",
        tmp_path / "m.parquet",
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    df, _ = artifacts.load_table(tmp_path / "m.parquet", table="metrics")
    assert df[df.scope == "overall"].iloc[0].support == 60
    feats = tmp_path / "f.safetensors"
    res = invoke(
        runner,
        app,
        "extract-features",
        study["circle"],
        "--dataset",
        "digits",
        "--split",
        "test",
        "--limit",
        "50",
        "--device",
        "cpu",
        "-o",
        feats,
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    assert list(artifacts.load_features(feats).layers) == ["flatten"]
    out = tmp_path / "e.parquet"
    res = invoke(runner, app, "embed", feats, "--method", "umap", "-o", out, "--quiet")
    assert res.exit_code == 0, res.output
    frame, meta = artifacts.load_table(out, table="embedding")
    assert len(frame) == 50 and set(frame.source) == {"clean"} and (frame.pred == -1).all()
    assert meta["method"] == "umap" and meta["params"] == {"n_neighbors": 10, "min_dist": 0.3}
    res = invoke(
        runner,
        app,
        "attack",
        study["circle"],
        "--attack",
        "pixels+fgsm",
        "--device",
        "cpu",
        "-o",
        tmp_path / "x.safetensors",
    )
    assert_clear_error(res, "k-NN", "evaluating it on that adversarial set")
    assert not (tmp_path / "x.safetensors").exists()


def test_embed_pairs_clean_and_adversarial_and_is_seeded(runner, app, study, tmp_path):
    runs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.parquet"
        res = invoke(
            runner,
            app,
            "embed",
            study["robust"],
            "--adversarial",
            study["adv"],
            "--method",
            "pca",
            "--device",
            "cpu",
            "-o",
            out,
            "--plot",
            tmp_path / f"{name}.png",
        )
        assert res.exit_code == 0, res.output
        runs.append(artifacts.load_table(out, table="embedding")[0])
    assert runs[0].equals(runs[1])
    frame = runs[0]
    assert list(frame.columns) == ["x", "y", "label", "pred", "source"]
    adv = artifacts.load_adversarial(study["adv"])
    clean, attacked = frame[frame.source == "clean"], frame[frame.source == "adversarial"]
    assert len(clean) == len(attacked) == 60
    assert clean.label.tolist() == attacked.label.tolist() == adv.labels.tolist()  # same images, same order
    assert (tmp_path / "a.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--eps", "-0.1"], ["eps", "between 0 and 1"]),
        (["--eps", "1.5"], ["eps", "between 0 and 1"]),
        (["--attack", "pgd", "--steps", "0"], ["steps", "at least 1"]),
        (["--attack", "fgsm+warp"], ["unknown attack", "fgsm"]),
    ],
)
def test_attack_bad_inputs(runner, app, study, tmp_path, args, fragments):
    out = tmp_path / "bad.safetensors"
    res = invoke(runner, app, "attack", study["clean"], "--limit", "20", "--device", "cpu", *args, "-o", out)
    assert_clear_error(res, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_train_bad_adversarial_options(runner, app, tmp_path):
    out = tmp_path / "m.safetensors"
    res = invoke(runner, app, "train", *TINY, "--adv", "fgsm", "--eps", "2", "-o", out)
    assert_clear_error(res, "eps", "between 0 and 1")
    res = invoke(runner, app, "train", *TINY, "--adv", "pgd", "--steps", "0", "-o", out)
    assert_clear_error(res, "steps", "at least 1")
    assert list(tmp_path.iterdir()) == []


def test_adversarial_set_of_another_shape_is_refused(runner, app, study, tmp_path):
    other = tmp_path / "other.safetensors"
    artifacts.save_adversarial(
        other,
        torch.rand(4, 1, 8, 8),
        torch.zeros(4, dtype=torch.long),
        torch.zeros(4, dtype=torch.long),
        torch.zeros(4, dtype=torch.long),
        torch.arange(4),
        {"classes": [str(i) for i in range(10)]},
    )
    for command in (
        ["embed", study["clean"], "-o", tmp_path / "e.parquet"],
        ["evaluate", study["clean"], "-o", tmp_path / "m.parquet"],
    ):
        res = invoke(runner, app, *command, "--adversarial", other, "--device", "cpu")
        assert_clear_error(res, "shape", "(1, 8, 8)", "(3, 16, 16)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.safetensors"]


def test_embed_features_without_labels_is_refused(runner, app, tmp_path):
    from safetensors.torch import save_file

    feats = tmp_path / "nolabels.safetensors"
    save_file({"avgpool": torch.rand(10, 4)}, str(feats), metadata={"nnlab.kind": "features", "nnlab.format": "1"})
    res = invoke(runner, app, "embed", feats, "-o", tmp_path / "e.parquet")
    assert_clear_error(res, "no labels")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nolabels.safetensors"]
