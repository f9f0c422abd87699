"""No file a user was given runs code: planted pickles in a checkpoint, a CIFAR folder and model metadata.

Each test plants a pickle whose ``__reduce__`` would create a marker file, feeds it to the real
command, and checks that the marker never appears, the command exits 1 and the user gets one line.
"""

from __future__ import annotations

import json
import pickle

import torch

from nnlab.data.info import CIFAR10_CLASSES
from nnlab.models import save_model
from tests.cli.helpers import assert_clear_error, error_text, invoke
from tests.data.conftest import write_cifar10


class _Payload:
    """Unpickling this creates ``marker`` (via os.system in a real attack; a plain file write here)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant(path, marker, wrap=lambda payload: payload):
    with open(path, "wb") as f:
        pickle.dump(wrap(_Payload(marker)), f, protocol=2)


def _one_line(result) -> None:
    lines = [ln for ln in error_text(result).strip().splitlines() if ln.strip()]
    assert len(lines) == 1, error_text(result)


def test_pickle_planted_as_training_checkpoint_never_runs(runner, app, tmp_path):
    out, marker = tmp_path / "m.safetensors", tmp_path / "PWNED"
    _plant(out.with_name(out.name + ".ckpt"), marker, lambda p: {"epoch": 1, "config": {}, "model": p})
    res = invoke(
        runner,
        app,
        "train",
        "--model",
        "mlp",
        "--dataset",
        "digits",
        "--image-size",
        "8",
        "--epochs",
        "2",
        "--resume",
        "-o",
        out,
        "--quiet",
    )
    assert_clear_error(res, "m.safetensors.ckpt", "checkpoint")
    _one_line(res)
    assert not marker.exists() and not out.exists()


def test_torch_saved_pickle_checkpoint_never_runs(runner, app, tmp_path):
    out, marker = tmp_path / "m.safetensors", tmp_path / "PWNED"
    torch.save({"epoch": 1, "config": {}, "model": _Payload(marker)}, out.with_name(out.name + ".ckpt"))
    res = invoke(
        runner,
        app,
        "train",
        "--model",
        "mlp",
        "--dataset",
        "digits",
        "--image-size",
        "8",
        "--epochs",
        "2",
        "--resume",
        "-o",
        out,
        "--quiet",
    )
    assert_clear_error(res, "checkpoint")
    _one_line(res)
    assert not marker.exists()


def _cifar_model(path):
    from nnlab.models import create_classifier

    torch.manual_seed(0)
    save_model(
        path,
        create_classifier("mlp", list(CIFAR10_CLASSES), channels=3, size=32, width=0.125),
        provenance={"dataset": "cifar10"},
    )


def test_pickle_planted_in_cifar_folder_never_runs(runner, app, tmp_path):
    write_cifar10(tmp_path)
    marker, model = tmp_path / "PWNED", tmp_path / "m.safetensors"
    _cifar_model(model)
    _plant(tmp_path / "cifar-10-batches-py" / "test_batch", marker, lambda p: {"data": p, "labels": [0]})
    out = tmp_path / "metrics.parquet"
    res = invoke(
        runner, app, "evaluate", model, "--dataset", "cifar10", "--data-root", tmp_path, "--split", "test", "-o", out
    )
    assert_clear_error(res, "test_batch", "not a plain data pickle")
    _one_line(res)
    assert not marker.exists() and not out.exists()


def test_real_cifar_format_still_evaluates(runner, app, tmp_path):
    write_cifar10(tmp_path)
    model, out = tmp_path / "m.safetensors", tmp_path / "metrics.parquet"
    _cifar_model(model)
    res = invoke(
        runner, app, "evaluate", model, "--dataset", "cifar10", "--data-root", tmp_path, "--split", "test", "-o", out
    )
    assert res.exit_code == 0, error_text(res)
    assert out.exists()


def _rewrite_metadata(path, **changes):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta.update(changes)
    save_file(tensors, str(path), metadata=meta)


def test_checkpoint_path_in_arch_kwargs_is_refused_before_any_file_is_opened(runner, app, tmp_path):
    from nnlab.models import create_classifier

    marker, planted, model = tmp_path / "PWNED", tmp_path / "weights.pth", tmp_path / "m.safetensors"
    torch.save({"w": _Payload(marker)}, planted)
    save_model(model, create_classifier("mlp", [str(i) for i in range(10)], channels=1, size=8, width=0.25))
    for arch in ("timm:resnet18", "mlp"):
        _rewrite_metadata(
            model,
            **{"nnlab.arch": arch, "nnlab.arch_kwargs": json.dumps({"width": 1.0, "checkpoint_path": str(planted)})},
        )
        out = tmp_path / "metrics.parquet"
        res = invoke(runner, app, "evaluate", model, "--dataset", "digits", "-o", out)
        assert_clear_error(res, "checkpoint_path", str(model))
        _one_line(res)
        assert not marker.exists() and not out.exists()
