"""The study pipelines are file targets: a rerun does only what is missing (checked with `make -n`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.make_plan import ROOT, make_commands

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


@pytest.fixture()
def stamp(tmp_path: Path) -> Path:
    """An install stamp newer than pyproject.toml, so `make -n` plans no pip install."""
    path = tmp_path / "installed"
    path.touch()
    return path


def plan(target: str, stamp: Path, **variables: str) -> list[str]:
    """The nnlab commands `make -n TARGET` would run, each as one line without the `nnlab` word."""
    return [" ".join(words) for words in make_commands(target, STAMP=str(stamp), **variables)]


def make_files(folder: Path, *names: str) -> None:
    """Create finished artifacts in order, each newer than the one before."""
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time() - 100
    for i, name in enumerate(names):
        path = folder / name
        path.touch()
        os.utime(path, (now + i, now + i))


def steps(commands: list[str]) -> list[str]:
    return [c.split()[0] for c in commands]


def test_compress_vgg_plans_every_step_from_scratch(tmp_path: Path, stamp: Path) -> None:
    out = tmp_path / "cv"
    commands = plan("compress-vgg", stamp, CV_OUT=str(out))
    assert sorted(steps(commands)) == sorted(
        ["train", "train", "si-profile", "truncate", "extract-features", "rank-features", "fit-head", "fit-head"]
        + ["compare", "summarize"]
    )
    assert any(c.startswith("train --model vgg16 --width 0.125 --dataset digits") for c in commands)
    # the seed's row (b): a new classifier on the trained model's frozen features
    retrain = next(c for c in commands if c.endswith(f"-o {out}/retrain-classifier.safetensors --quiet"))
    assert f"--init {out}/vgg16.safetensors --init-skip classifier --freeze features" in retrain
    assert f"{out}/retrain-classifier.safetensors" in next(c for c in commands if c.startswith("compare "))


def test_compress_vgg_rerun_after_second_step_resumes(tmp_path: Path, stamp: Path) -> None:
    out = tmp_path / "cv"
    make_files(out, "vgg16.safetensors", "profile.parquet")
    commands = plan("compress-vgg", stamp, CV_OUT=str(out))
    assert "si-profile" not in steps(commands) and steps(commands).count("train") == 1  # row (b) only
    assert "truncate" in steps(commands) and "--init-skip classifier" in commands[steps(commands).index("train")]
    assert len(commands) == 8 and steps(commands)[-1] == "summarize"


def test_finished_study_plans_nothing(tmp_path: Path, stamp: Path) -> None:
    out = tmp_path / "cv"
    make_files(
        out,
        "vgg16.safetensors",
        "retrain-classifier.safetensors",
        "profile.parquet",
        "truncated.safetensors",
        "cut-features.safetensors",
        "ranking.parquet",
        "compressed-linear.safetensors",
        "compressed-mlp.safetensors",
        "compare.parquet",
        "summary.parquet",
    )
    assert plan("compress-vgg", stamp, CV_OUT=str(out)) == []


def test_overrides_reach_every_step(tmp_path: Path, stamp: Path) -> None:
    commands = plan("compress-vgg", stamp, CV_OUT=str(tmp_path / "cv"), CV_DATASET="mnist5k", DEVICE="cpu")
    with_data = [c for c in commands if "--dataset" in c]
    assert with_data and all("--dataset mnist5k" in c for c in with_data)
    assert all("--device cpu" in c for c in commands if c.split()[0] != "truncate" and "--device" in c)


def test_robustness_rerun_keeps_trained_models(tmp_path: Path, stamp: Path) -> None:
    out = tmp_path / "rb"
    make_files(out, "pretrain.safetensors", "clean.safetensors", "adversarial.safetensors")
    commands = plan("robustness", stamp, RB_OUT=str(out))
    trained = [c.split(" -o ")[-1].split()[0] for c in commands if c.startswith("train ")]
    assert trained == [str(out / "circle.safetensors")]
    assert "attack" in steps(commands) and steps(commands).count("evaluate") == 6


def test_detect_demo_plans_scenes_proposals_and_both_modes(tmp_path: Path, stamp: Path) -> None:
    out = tmp_path / "dd"
    commands = plan("detect-demo", stamp, DD_OUT=str(out))
    assert steps(commands).count("make-scenes") == 1
    assert steps(commands).count("propose-regions") == 2
    assert steps(commands).count("detect") == 2


PREFIXES = {
    "compress-vgg": "CV_",
    "robustness": "RB_",
    "detect-demo": "DD_",
    "finetune-block": "FB_",
    "norm-study": "NS_",
    "transfer-study": "TS_",
    "generalization": "GS_",
}
ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(?:\?|:|\+)?=")


@pytest.mark.parametrize("study", sorted(PREFIXES))
def test_every_study_variable_carries_the_study_prefix(study: str) -> None:
    """Each studies/NAME.mk defines only its own prefixed variables (STUDY_OUTS is the shared list it extends)."""
    text = (ROOT / "studies" / f"{study}.mk").read_text()
    names = [m.group(1) for line in text.splitlines() if (m := ASSIGNMENT.match(line))]
    assert names, study
    assert [n for n in names if not n.startswith(PREFIXES[study]) and n != "STUDY_OUTS"] == []
    assert not re.search(r"^\S+/%:\s*\S+\s*\??=", text, re.M), "pattern-specific settings are not study variables"


@pytest.mark.parametrize("study", sorted(PREFIXES))
def test_threads_and_device_reach_every_step(study: str, tmp_path: Path, stamp: Path) -> None:
    """THREADS is the one thread setting: every step of every study runs with OMP_NUM_THREADS=THREADS, on DEVICE."""
    log = tmp_path / "log"
    fake = tmp_path / "nnlab"
    fake.write_text(f'#!/bin/sh\necho "$OMP_NUM_THREADS $*" >> {log}\n')
    fake.chmod(0o755)
    out = tmp_path / "out"
    variables = [f"{PREFIXES[study]}OUT={out}", f"NNLAB={fake}", f"STAMP={stamp}", "THREADS=3", "DEVICE=meta"]
    subprocess.run(["make", "-k", "--no-print-directory", study, *variables], cwd=ROOT, capture_output=True)
    lines = log.read_text().splitlines()
    assert len(lines) >= 3
    assert all(line.startswith("3 ") for line in lines), lines
    with_device = [line for line in lines if "--device" in line]
    assert with_device and all("--device meta" in line for line in with_device)


SUMMARIZED = {
    "compress-vgg": "s0-compression",
    "robustness": "s4-robustness",
    "finetune-block": "s3-finetune",
    "norm-study": "s1-norm",
    "transfer-study": "s2-transfer",
    "generalization": "s4-generalization",
}
# rows a study's recipe does not make yet: compress-vgg's row (b), the classifier retrained on frozen features, comes
# with issue 20's compress-vgg recipe (its findings read "not measured" until then)
NOT_YET_MADE = {"compress-vgg": {"retrain-classifier"}}


@pytest.mark.parametrize("study", sorted(SUMMARIZED))
def test_every_study_ends_with_its_seed_reference_and_can_measure_its_findings(study: str, stamp: Path) -> None:
    """The last step of the study is `nnlab summarize --reference REF`, and every cell a finding of REF reads is a
    cell of that step (through --column-as where a stand-in dataset names the column)."""
    from nnlab.studies import load_reference

    last = make_commands(study, STAMP=str(stamp))[-1]
    assert last[0] == "summarize" and last[last.index("--reference") + 1] == SUMMARIZED[study]
    first_option = next(i for i, a in enumerate(last) if a.startswith("-"))
    cells = {tuple(a.split("=")[0].split(".", 1)) for a in last[1:first_option]}
    mapping = {}
    if "--column-as" in last:
        mapping = dict(p.split("=")[::-1] for p in last[last.index("--column-as") + 1].split(","))
    reference = load_reference(SUMMARIZED[study])
    rows = sorted({r for r, _ in cells})
    wanted = {(r, mapping.get(c, c)) for f in reference.findings for r, c in f.cells(rows)}
    missing = {(r, c) for r, c in wanted - cells if r not in NOT_YET_MADE.get(study, set())}
    assert not missing, missing
