"""The attack and embed stages as single library calls: `run_attack` and `run_embed` write every output."""

from __future__ import annotations

import pytest
import torch

from nnlab import artifacts
from nnlab.data import DataSelection, load_dataset
from nnlab.embedding import EmbedRequest, run_embed
from nnlab.errors import NnlabError
from nnlab.models import create_classifier, save_model
from nnlab.robustness.stage import AttackRequest, run_attack
from nnlab.runtime import Runtime


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """An untrained small CNN for the digits dataset, saved as a model artifact that names its dataset."""
    classes = list(load_dataset("digits", "test").classes)
    torch.manual_seed(0)
    model = create_classifier("cnn", classes, channels=1, size=8, width=0.25)
    path = tmp_path_factory.mktemp("stage") / "cnn.safetensors"
    save_model(path, model, provenance={"dataset": "digits"})
    return path


def test_run_attack_writes_artifact_metrics_and_figure(digits_model, tmp_path):
    out = tmp_path / "adv.safetensors"
    outcome = run_attack(
        AttackRequest(
            model=digits_model,
            output=out,
            attack="fgsm",
            params={"eps": "8/255"},
            data=DataSelection(limit=30, batch_size=16),
            runtime=Runtime(device="cpu"),
        ),
        provenance={"command": "pytest"},
    )
    assert outcome.dataset == "digits" and outcome.split == "test"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adv.grid.png", "adv.metrics.parquet", "adv.safetensors"]
    adv = artifacts.load_adversarial(out)
    assert len(adv.labels) == outcome.metrics["samples"] == 30
    assert adv.meta["attack"] == "fgsm" and adv.meta["provenance"]["command"] == "pytest"
    assert float((adv.images - adv.images.clamp(0, 1)).abs().max()) == 0
    table, meta = artifacts.load_table(outcome.metrics_path, table="attack")
    assert table["adversarial_accuracy"].iloc[0] == pytest.approx(outcome.metrics["adversarial_accuracy"])
    assert table["samples"].iloc[0] == 30 and meta["provenance"]["command"] == "pytest"
    assert outcome.plot.stat().st_size > 1000


def test_run_attack_checks_paths_before_any_work(digits_model, tmp_path):
    with pytest.raises(NnlabError, match=r"\.safetensors"):
        run_attack(
            AttackRequest(
                model=digits_model, output=tmp_path / "adv.pt", data=DataSelection(), runtime=Runtime(device="cpu")
            )
        )
    with pytest.raises(NnlabError, match=r"\.png"):
        run_attack(
            AttackRequest(
                model=digits_model,
                output=tmp_path / "adv.safetensors",
                plot=tmp_path / "x.jpg",
                data=DataSelection(),
                runtime=Runtime(device="cpu"),
            )
        )
    assert list(tmp_path.iterdir()) == []


def test_run_embed_writes_table_and_plot_for_clean_and_adversarial(digits_model, tmp_path):
    adv_path = tmp_path / "adv.safetensors"
    run_attack(
        AttackRequest(
            model=digits_model,
            output=adv_path,
            attack="pixels",
            params={"n": 3},
            data=DataSelection(limit=24),
            runtime=Runtime(device="cpu"),
        )
    )
    out = tmp_path / "emb.parquet"
    outcome = run_embed(
        EmbedRequest(
            input=digits_model,
            output=out,
            adversarial=adv_path,
            method="pca",
            data=DataSelection(),
            runtime=Runtime(device="cpu"),
        ),
        provenance={"command": "pytest"},
    )
    assert outcome.plot == tmp_path / "emb.png" and outcome.plot.stat().st_size > 1000
    frame, meta = artifacts.load_table(out, table="embedding")
    assert list(frame.columns) == ["x", "y", "label", "pred", "source"]
    assert (frame.source == "clean").sum() == (frame.source == "adversarial").sum() == 24
    assert meta["method"] == "pca" and meta["data"] == "digits:test" and meta["provenance"]["command"] == "pytest"
    assert outcome.frame.equals(frame)
