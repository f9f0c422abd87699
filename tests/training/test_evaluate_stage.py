"""`run_evaluate`: the evaluate stage as one library call that writes its metrics table and confusion plot."""

from __future__ import annotations

import pytest
import torch

from nnlab import artifacts
from nnlab.data import DataSelection, load_dataset
from nnlab.errors import NnlabError
from nnlab.models import create_classifier, save_model
from nnlab.runtime import Runtime
from nnlab.training.evaluate_run import EvaluateRequest, run_evaluate


def test_run_evaluate_writes_table_and_plot(tmp_path):
    torch.manual_seed(0)
    model = create_classifier("cnn", list(load_dataset("digits", "test").classes), channels=1, size=8, width=0.25)
    path = tmp_path / "cnn.safetensors"
    save_model(path, model, provenance={"dataset": "digits"})
    outcome = run_evaluate(
        EvaluateRequest(
            model=path, plot=tmp_path / "cm.png", data=DataSelection(limit=50), runtime=Runtime(device="cpu")
        ),
        provenance={"command": "pytest"},
    )
    assert outcome.output == tmp_path / "cnn.metrics.parquet" and (tmp_path / "cm.png").stat().st_size > 1000
    table, meta = artifacts.load_table(outcome.output, table="metrics")
    overall = table[table["scope"] == "overall"]
    assert overall["accuracy"].iloc[0] == pytest.approx(outcome.evaluation.accuracy)
    assert outcome.evaluation.samples == 50 and meta["provenance"]["command"] == "pytest"
    with pytest.raises(NnlabError, match=r"\.parquet"):
        run_evaluate(
            EvaluateRequest(model=path, output=tmp_path / "m.csv", data=DataSelection(), runtime=Runtime(device="cpu"))
        )
