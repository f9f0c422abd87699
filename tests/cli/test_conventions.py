"""Command-line conventions: --version, shell completion, choices as usage errors, environment variables, panels."""

from __future__ import annotations

import pytest
import typer

from nnlab import __version__
from nnlab.cli.options import check_device
from tests.cli.helpers import error_text, invoke


def _usage_error(result, *fragments: str) -> None:
    """Exit 2 (click's usage error), no traceback, every fragment in the message."""
    text = " ".join((error_text(result) + result.output).split())
    assert result.exit_code == 2, (result.exit_code, text)
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, (fragment, text)


def test_version(runner, app):
    result = invoke(runner, app, "--version")
    assert result.exit_code == 0 and result.output == f"nnlab {__version__}\n"


def test_install_completion_writes_the_bash_script(runner, app, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SHELL", "/bin/bash")
    # typer's own switch for tests: take the shell from the command line instead of the parent process
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    result = runner.invoke(app, ["--install-completion", "bash"], prog_name="nnlab")
    assert result.exit_code == 0, result.output
    script = tmp_path / ".bash_completions" / "nnlab.sh"
    assert f"bash completion installed in {script}" in " ".join(result.output.split())
    assert "_NNLAB_COMPLETE" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()


def test_show_completion_and_completion_of_choices(runner, app, monkeypatch):
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    shown = runner.invoke(app, ["--show-completion", "bash"], prog_name="nnlab")
    assert shown.exit_code == 0 and "_NNLAB_COMPLETE=complete_bash" in shown.output
    for words, expected in [
        ("nnlab train --optimizer ", ["sgd", "adam", "adamw"]),
        ("nnlab detect --roi-mode ", ["crop", "align"]),
        ("nnlab train --device c", ["cpu", "cuda"]),
        ("nnlab attack m.safetensors --attack pixels+f", ["pixels+fgsm"]),
    ]:
        env = {"_NNLAB_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
        result = runner.invoke(app, [], prog_name="nnlab", env=env)
        assert result.output.split() == expected, (words, result.output)


@pytest.mark.parametrize(
    "args, valid",
    [
        (["train", "--optimizer", "sgdd"], ["'sgd'", "'adam'", "'adamw'"]),
        (["train", "--schedule", "linear"], ["'cosine'", "'onecycle'"]),
        (["train", "--augment", "flip"], ["'flip-crop'", "'svhn-aug'"]),
        (["train", "--normalize", "z"], ["'imagenet'", "'half'"]),
        (["train", "--balance", "over"], ["'undersample'", "'weights'"]),
        (["train", "--roi-mode", "pool"], ["'crop'", "'align'"]),
        (["train", "--loss", "hinge"], ["'ce'", "'circle'"]),
        (["fit-head", "t.safetensors", "--optimizer", "lamb"], ["'adam'"]),
        (["train", "--precision", "fp8"], ["'32'", "'bf16'", "'16'", "'auto'"]),
        (["attack", "m.safetensors", "--split", "dev"], ["'train'", "'val'", "'test'"]),
        (["embed", "m.safetensors", "--method", "tsne"], ["'umap'", "'pca'"]),
        (["detect", "m.safetensors", "voc", "--mode", "slow"], ["'fast'", "'quality'", "'single'"]),
        (["propose-regions", "voc", "--mode", "slow"], ["'fast'"]),
        (["rank-features", "f.safetensors", "--method", "backward"], ["'forward'", "'univariate'"]),
        (["evaluate", "m.safetensors", "--device", "gpu"], ["'auto'", "'cpu'", "'cuda'", "'mps'", "cuda:N"]),
    ],
)
def test_a_bad_choice_is_a_usage_error_listing_the_valid_ones(runner, app, tmp_path, args, valid):
    result = invoke(runner, app, *args, "-o", tmp_path / "out.safetensors")
    _usage_error(result, args[-2], *valid)
    assert list(tmp_path.iterdir()) == []


def test_environment_variables_set_the_machine_options(runner, app, tmp_path):
    out = tmp_path / "m.safetensors"
    result = runner.invoke(app, ["train", "--model", "cnn", "-o", str(out)], env={"NNLAB_DEVICE": "bogus"})
    _usage_error(result, "NNLAB_DEVICE", "'bogus'", "'cpu'")
    result = runner.invoke(app, ["train", "--model", "cnn", "-o", str(out)], env={"NNLAB_NUM_WORKERS": "-1"})
    _usage_error(result, "NNLAB_NUM_WORKERS", "greater than or equal to 0")
    assert list(tmp_path.iterdir()) == []
    shown = runner.invoke(app, ["train", "--help"]).output
    assert shown.count("env var:") == 3
    for variable in ("NNLAB_DEVICE", "NNLAB_NUM_WORKERS", "NNLAB_DATA"):
        assert variable in shown


def test_device_values():
    assert [check_device(v) for v in ("auto", "CPU", "cuda", "cuda:1", "mps", None)] == [
        "auto",
        "cpu",
        "cuda",
        "cuda:1",
        "mps",
        None,
    ]
    for bad in ("gpu", "cuda:", "cuda:x", "tpu"):
        with pytest.raises(typer.BadParameter, match="cuda:N"):
            check_device(bad)


def test_long_commands_group_their_options_in_panels(runner, app):
    for command, panels in [
        (
            "train",
            [
                "Data",
                "Model",
                "Optimisation",
                "Schedule",
                "Regularisation",
                "Robustness",
                "Detection",
                "Output",
                "Runtime",
            ],
        ),
        ("fit-head", ["Data", "Model", "Optimisation", "Schedule", "Regularisation", "Output", "Runtime"]),
        ("attack", ["Data", "Attack", "Output", "Runtime"]),
        ("detect", ["Data", "Detection", "Selective search", "Output", "Runtime"]),
    ]:
        shown = runner.invoke(app, [command, "--help"]).output
        for panel in panels:
            assert f"─ {panel} ─" in shown, (command, panel)


def test_renamed_and_removed_options(runner, app, tmp_path):
    _usage_error(
        invoke(runner, app, "detect", "m.safetensors", "voc", "--workers", "2", "-o", tmp_path / "d.parquet"),
        "--workers",
    )
    _usage_error(
        invoke(runner, app, "propose-regions", "voc", "--workers", "2", "-o", tmp_path / "p.parquet"), "--workers"
    )
    _usage_error(invoke(runner, app, "attack", "--summarize", "a=x,y", "-o", tmp_path / "s.parquet"), "--summarize")
    assert "--search-threads" in runner.invoke(app, ["detect", "--help"]).output


def test_choices_match_the_library_sets():
    from typing import get_args

    from nnlab.cli import choices
    from nnlab.compression.ranking_table import METHODS as RANK_METHODS
    from nnlab.data.augment import AUGMENTS
    from nnlab.detection._search import MODES
    from nnlab.detection.dataset import BALANCE_MODES
    from nnlab.detection.stage import ROI_MODES
    from nnlab.embedding import METHODS as EMBED_METHODS
    from nnlab.robustness.training import LOSSES
    from nnlab.training.config import OPTIMIZERS, SCHEDULES
    from nnlab.training.precision import PRECISIONS
    from nnlab.training.recipe import NORMALIZATIONS

    for literal, library in [
        (choices.Optimizer, OPTIMIZERS),
        (choices.Schedule, SCHEDULES),
        (choices.Augment, AUGMENTS.names()),
        (choices.Normalize, NORMALIZATIONS),
        (choices.Balance, BALANCE_MODES),
        (choices.RoiMode, ROI_MODES),
        (choices.Loss, LOSSES),
        (choices.SearchMode, MODES),
        (choices.EmbedMethod, EMBED_METHODS),
        (choices.RankMethod, RANK_METHODS),
        (choices.Precision, PRECISIONS),
    ]:
        assert sorted(get_args(literal)) == sorted(library)


def test_help_and_completion_do_not_import_torch():
    import subprocess
    import sys

    code = "import sys, nnlab.cli.main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
