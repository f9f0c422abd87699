"""Distributed runs on the CPU: ``torchrun --nproc_per_node 2`` (gloo) against one process.

Each torchrun launch costs several seconds of start-up, so there are three, shared by the
assertions: one that trains the reference DDP model and then runs evaluate, extract-features,
attack, si-profile and embed on it in the same process group (tests/cli_sequence.py), one DDP run that is
killed after its first checkpoint, and its resumption. The one-process counterparts run in this
process.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
EPOCHS = 3
TRAIN_SAMPLES = 1000
# cnn on 1,000 mnist5k digits; DDP: 2 processes × 32 = the one-process batch of 64
RECIPE = [
    "train",
    "--model",
    "cnn",
    "--dataset",
    "mnist5k",
    "--limit",
    str(TRAIN_SAMPLES),
    "--width",
    "0.25",
    "--image-size",
    "28",
    "--epochs",
    str(EPOCHS),
    "--optimizer",
    "adam",
    "--lr",
    "2e-3",
    "--seed",
    "0",
    "--device",
    "cpu",
    "--num-workers",
    "0",
    "-q",
]


def _env() -> dict[str, str]:
    env = dict(
        os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    return env


def _torchrun(*args: str, timeout: float = 300) -> None:
    proc = subprocess.run([*TORCHRUN, *args], env=_env(), cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _cli(runner, app, args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ddp")


def _inference(model: Path, folder: Path) -> list[list[str]]:
    """The inference stages on ``model``, writing into ``folder``; batch sizes that do not divide the samples."""
    common = ["--device", "cpu", "--num-workers", "0", "-q"]
    m = str(model)
    return [
        ["evaluate", m, "--batch-size", "96", "-o", f"{folder}/metrics.parquet", *common],
        ["extract-features", m, "--split", "test", "--layers", "relu2,flatten", "--limit", "300"]
        + ["--batch-size", "64", "-o", f"{folder}/features.safetensors", *common],
        ["attack", m, "--attack", "pixels+fgsm", "--eps", "8/255", "--limit", "200", "--batch-size", "48"]
        + ["-o", f"{folder}/adv.safetensors", *common],
        ["si-profile", m, "--splits", "test", "--layers", "pool1,flatten", "--limit", "200", "--batch-size", "48"]
        + ["-o", f"{folder}/si.parquet", *common],
        ["embed", m, "--adversarial", f"{folder}/adv.safetensors", "--method", "pca", "--batch-size", "48"]
        + ["-o", f"{folder}/embedding.parquet", *common],
    ]


ROBUST_SAMPLES = 200


def _robust(folder: Path) -> list[list[str]]:
    """One tiny epoch of adversarial training and one of circle loss."""
    base = [*RECIPE[:5], "--limit", str(ROBUST_SAMPLES), "--width", "0.25", "--image-size", "28", "--epochs", "1"]
    base += ["--batch-size", "16", "--device", "cpu", "--num-workers", "0", "-q"]
    return [
        [*base, "--adv", "pixels+fgsm", "--eps", "8/255", "-o", f"{folder}/adv.safetensors"],
        [*base, "--loss", "circle", "-o", f"{folder}/circle.safetensors"],
    ]


@pytest.fixture(scope="module")
def ddp_model(work) -> Path:
    """The reference DDP run (2 processes, 32 samples each per step), then, under the same torchrun launch, the
    inference stages on it (writing into ``work/two``) and adversarial and circle-loss training (``work/robust``)."""
    out = work / "ddp" / "model.safetensors"
    out.parent.mkdir()
    (work / "two").mkdir()
    (work / "robust").mkdir()
    train = [*RECIPE, "--batch-size", "32", "-o", str(out)]
    commands = [train, *_inference(out, work / "two"), *_robust(work / "robust")]
    _torchrun(str(REPO / "tests" / "cli_sequence.py"), json.dumps(commands))
    return out


@pytest.fixture(scope="module")
def cli():
    from typer.testing import CliRunner

    from nnlab.cli.main import app

    runner = CliRunner()
    return lambda args: _cli(runner, app, [str(a) for a in args])


def _accuracy(cli, model: Path) -> float:
    table = model.with_name(model.stem + ".test.parquet")
    cli(["evaluate", model, "--device", "cpu", "--num-workers", "0", "-q", "-o", table])
    overall = pd.read_parquet(table).query("scope == 'overall'")
    return float(overall["accuracy"].iloc[0])


def test_ddp_training_writes_one_artifact_as_accurate_as_one_process(ddp_model, work, cli):
    assert sorted(p.name for p in ddp_model.parent.iterdir()) == ["model.history.parquet", "model.safetensors"]
    one = work / "one" / "model.safetensors"
    cli([*RECIPE, "--batch-size", "64", "-o", one])
    ddp_accuracy, one_accuracy = _accuracy(cli, ddp_model), _accuracy(cli, one)
    assert ddp_accuracy > 0.5  # it learned
    assert abs(ddp_accuracy - one_accuracy) <= 0.015


def test_each_rank_trains_on_half_of_every_epoch(ddp_model):
    history = pd.read_parquet(ddp_model.with_name("model.history.parquet"))
    assert history["epoch"].tolist() == list(range(1, EPOCHS + 1))
    assert (history["world_size"] == 2).all()
    assert [list(r) for r in history["rank_train_samples"]] == [[TRAIN_SAMPLES // 2] * 2] * EPOCHS
    assert (history["distinct_train_samples"] == TRAIN_SAMPLES).all()  # the halves are disjoint and cover the set


def test_killed_ddp_run_resumes_to_the_same_weights(ddp_model, work):
    from nnlab.training.checkpoint import load_checkpoint

    out = work / "killed" / "model.safetensors"
    out.parent.mkdir()
    checkpoint = out.with_name(out.name + ".ckpt")
    args = [*TORCHRUN, "-m", "nnlab", *RECIPE, "--batch-size", "32", "-o", str(out)]
    proc = subprocess.Popen(args, env=_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)  # torchrun stops its workers, as a preempted job's would be
    finally:
        proc.wait(timeout=60)
    assert checkpoint.exists() and not out.exists(), "the run was not interrupted between epochs"
    assert load_checkpoint(checkpoint)["epoch"] < EPOCHS
    _torchrun("-m", "nnlab", *RECIPE, "--batch-size", "32", "--resume", "-o", str(out))
    resumed, reference = load_file(out), load_file(ddp_model)
    assert resumed.keys() == reference.keys()
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)
    assert not checkpoint.exists()


def test_inference_stages_under_torchrun_write_what_one_process_writes(ddp_model, work, cli):
    two, one = work / "two", work / "single"
    one.mkdir()
    for args in _inference(ddp_model, one):
        cli(args)
    for name in ("metrics.parquet", "adv.metrics.parquet", "si.parquet", "embedding.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(two / name), pd.read_parquet(one / name))
    for name in ("features.safetensors", "adv.safetensors"):
        got, want = load_file(two / name), load_file(one / name)
        assert got.keys() == want.keys()
        assert all(torch.equal(got[k], want[k]) for k in want), name


def test_adversarial_and_circle_training_work_under_ddp(ddp_model, work):
    from nnlab.models import load_model

    robust = work / "robust"
    for name in ("adv", "circle"):
        history = pd.read_parquet(robust / f"{name}.history.parquet")
        assert history["rank_train_samples"].map(list).tolist() == [[ROBUST_SAMPLES // 2] * 2]
        assert history["train_loss"].map(math.isfinite).all()
    assert load_model(robust / "adv.safetensors").provenance["train_config"]["extra"]["adv"] == "pixels+fgsm"
    circle = load_file(robust / "circle.safetensors")
    bank = next(v for k, v in circle.items() if k.endswith("head.bank"))
    assert bank.shape[0] == ROBUST_SAMPLES  # the k-NN bank holds both ranks' shares of the training split
