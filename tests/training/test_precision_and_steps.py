"""Mixed precision choice and its gradient scaler, gradient accumulation, gradient clipping, loaders built once."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from nnlab.errors import NnlabError, ParameterError
from nnlab.models import load_model
from nnlab.training import TrainConfig, engine, fit, inference
from nnlab.training.precision import grad_scaler, resolve_precision
from tests.cli.helpers import assert_clear_error, invoke

CPU = torch.device("cpu")
CUDA = torch.device("cuda")  # only named, never used: the GPU checks below mock torch.cuda


def fake_gpu(monkeypatch, native: bool) -> list:
    """Pretend CUDA's bf16 is native (Ampere and newer) or only emulated; record how it was asked."""
    calls = []

    def is_bf16_supported(including_emulation: bool = True) -> bool:
        calls.append(including_emulation)
        return native or including_emulation

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    return calls


def test_auto_picks_bf16_only_where_native_else_fp16_on_cuda_and_32_on_cpu(monkeypatch):
    calls = fake_gpu(monkeypatch, native=True)
    assert resolve_precision("auto", CUDA) == "bf16" and resolve_precision("bf16", CUDA) == "bf16"
    assert calls and not any(calls)  # always asked without emulation
    fake_gpu(monkeypatch, native=False)
    assert resolve_precision("auto", CUDA) == "16"
    with pytest.raises(NnlabError, match="no native bfloat16"):
        resolve_precision("bf16", CUDA)
    assert resolve_precision("16", CUDA) == "16" and resolve_precision("32", CUDA) == "32"
    assert resolve_precision("auto", CPU) == "32" and resolve_precision("bf16", CPU) == "bf16"
    with pytest.raises(NnlabError, match="needs a CUDA GPU"):
        resolve_precision("16", CPU)
    with pytest.raises(ParameterError):
        resolve_precision("fp8", CPU)


def test_only_fp16_gets_an_enabled_gradient_scaler():
    assert grad_scaler(CPU, "16").is_enabled()
    assert not grad_scaler(CPU, "bf16").is_enabled() and not grad_scaler(CPU, "32").is_enabled()


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 3))  # no batch norm, no dropout


def toy_data(n: int = 32, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 12, generator=g), torch.randint(0, 3, (n,), generator=g))


def test_fp16_training_steps_through_the_gradient_scaler(monkeypatch):
    used = {"scale": 0, "step": 0}

    class SpyScaler(torch.amp.GradScaler):
        def scale(self, outputs):
            used["scale"] += 1
            return super().scale(outputs)

        def step(self, optimizer, *args, **kwargs):
            used["step"] += 1
            return super().step(optimizer, *args, **kwargs)

    monkeypatch.setattr(engine, "resolve_precision", lambda requested, device: "16")  # fp16 autocast on the CPU
    monkeypatch.setattr(engine, "grad_scaler", lambda device, precision: SpyScaler("cpu", enabled=precision == "16"))
    fit(mlp(), toy_data(), None, TrainConfig(epochs=1, batch_size=8, precision="16"), CPU)
    assert used == {"scale": 4, "step": 4}


def test_accumulating_n_micro_batches_steps_like_one_batch_of_n_times_the_size():
    base = mlp()
    whole, micro = copy.deepcopy(base), copy.deepcopy(base)
    common = dict(epochs=1, lr=0.5, momentum=0.0, weight_decay=0.0, precision="32")
    fit(whole, toy_data(), None, TrainConfig(batch_size=32, **common), CPU)
    fit(micro, toy_data(), None, TrainConfig(batch_size=8, grad_accum=4, **common), CPU)
    moved = max((a - b).abs().max().item() for a, b in zip(whole.parameters(), base.parameters(), strict=True))
    assert moved > 1e-3  # one real step was taken
    for a, b in zip(whole.parameters(), micro.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_grad_clip_bounds_the_global_norm_at_every_step(monkeypatch):
    norms = []
    original = torch.optim.SGD.step

    def recording_step(self, *args, **kwargs):
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", recording_step)
    config = dict(epochs=1, batch_size=8, lr=0.1, precision="32")
    fit(mlp(), toy_data(), None, TrainConfig(**config), CPU)
    unclipped, norms[:] = list(norms), []
    fit(mlp(), toy_data(), None, TrainConfig(grad_clip=0.05, **config), CPU)
    assert min(unclipped) > 0.05  # the bound below would bind
    assert len(norms) == 4 and max(norms) <= 0.05 * (1 + 1e-5)


def test_train_and_val_loaders_are_built_once_per_run(monkeypatch):
    built = {"train": 0, "val": 0}
    epoch_loader, make_loader = engine.EpochLoader, inference.make_loader

    def count_train(*args, **kwargs):
        built["train"] += 1
        return epoch_loader(*args, **kwargs)

    def count_val(*args, **kwargs):
        built["val"] += 1
        return make_loader(*args, **kwargs)

    monkeypatch.setattr(engine, "EpochLoader", count_train)
    monkeypatch.setattr(inference, "make_loader", count_val)
    result = fit(mlp(), toy_data(), toy_data(12, seed=1), TrainConfig(epochs=3, batch_size=8, precision="32"), CPU)
    assert len(result.history) == 3 and built == {"train": 1, "val": 1}


@pytest.mark.parametrize("precision", ["32", "bf16"])
def test_a_cpu_run_trains_and_records_precision_clip_and_accumulation(runner, app, tmp_path, precision):
    out = tmp_path / "m.safetensors"
    args = ["--model", "mlp", "--dataset", "digits", "--limit", "64", "--epochs", "1", "--batch-size", "16"]
    res = invoke(
        runner,
        app,
        "train",
        *args,
        "--device",
        "cpu",
        "--precision",
        precision,
        "--grad-clip",
        "1.0",
        "--grad-accum",
        "2",
        "-q",
        "-o",
        out,
    )
    assert res.exit_code == 0, res.output
    config = load_model(out).provenance["train_config"]
    assert (config["precision"], config["grad_clip"], config["grad_accum"]) == (precision, 1.0, 2)


def test_impossible_precision_and_bad_step_options_are_clear_errors(runner, app, tmp_path):
    out = tmp_path / "m.safetensors"
    assert_clear_error(
        invoke(runner, app, "train", "--model", "mlp", "--device", "cpu", "--precision", "16", "-o", out),
        "needs a cuda gpu",
    )
    assert_clear_error(invoke(runner, app, "train", "--model", "mlp", "--grad-clip", "0", "-o", out), "--grad-clip")
    assert not out.exists()
