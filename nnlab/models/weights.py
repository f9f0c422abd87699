"""Loading weights into a raw net: local files (offline) and hub downloads.

One policy for both: tensors whose names and shapes match are loaded; the stem convolution is
adapted when only its input channels differ (e.g. RGB weights into a grayscale model); linear
classifier layers of another shape are skipped (a new head for fine-tuning). Anything else that
does not fit, or a file that covers too little of the model, is a user error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from nnlab.errors import NnlabError
from nnlab.models.layers import first_conv

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "module")
_PREFIXES = ("", "module.", "net.", "model.", "module.net.", "_orig_mod.")
MIN_COVERAGE = 0.5


@dataclass
class LoadReport:
    """What a weights load did, tensor names by outcome."""

    source: str
    loaded: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the terminal."""
        text = f"loaded {len(self.loaded)} tensors from {self.source}"
        if self.adapted:
            text += f", adapted {', '.join(self.adapted)} to the input channels"
        if self.skipped:
            text += f", new (randomly initialized) {', '.join(self.skipped)}"
        if self.missing:
            text += f", {len(self.missing)} not in the file"
        return text


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors or a torch file (also ``{"state_dict": ...}`` wrappers)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise NnlabError(f"weights file {file} does not exist")
    if file.suffix == ".safetensors":
        state = _read_safetensors(file)
    else:
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
            try:
                state = _read_safetensors(file)
            except NnlabError:
                raise NnlabError(
                    f"cannot read {file} as a PyTorch state dict or safetensors file ({type(err).__name__}); "
                    "save weights with torch.save(model.state_dict(), path)"
                ) from err
    state = _unwrap(state)
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)} if isinstance(state, Mapping) else {}
    if not tensors:
        raise NnlabError(f"{file} holds no tensors; expected a state dict (name → tensor)")
    return tensors


def _read_safetensors(file: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(file), device="cpu")
    except Exception as err:  # noqa: BLE001
        raise NnlabError(f"cannot read {file} as a safetensors file ({type(err).__name__}: {err})") from err


def _unwrap(state: Any) -> Any:
    for _ in range(3):
        if not isinstance(state, Mapping):
            break
        if any(isinstance(v, torch.Tensor) for v in state.values()):
            break
        inner = next((state[k] for k in _WRAPPER_KEYS if isinstance(state.get(k), Mapping)), None)
        if inner is None:
            break
        state = inner
    return state


def _strip_prefix(state: dict[str, torch.Tensor], wanted: set[str]) -> dict[str, torch.Tensor]:
    best, best_hits = state, sum(k in wanted for k in state)
    for prefix in _PREFIXES[1:]:
        stripped = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        hits = sum(k in wanted for k in stripped)
        if hits > best_hits:
            best, best_hits = stripped, hits
    return best


def _head_tensor_names(net: nn.Module) -> set[str]:
    """Tensors that may take a new shape: every Linear layer and the last layer with parameters."""
    names: set[str] = set()
    last: str | None = None
    for mname, module in net.named_modules():
        own = [f"{mname}.{p}" if mname else p for p, _ in module.named_parameters(recurse=False)]
        if own:
            last = mname
        if isinstance(module, nn.Linear):
            names.update(own)
    if last is not None:
        module = net.get_submodule(last)
        names.update(f"{last}.{p}" if last else p for p, _ in module.named_parameters(recurse=False))
    return names


def adapt_input_weight(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Stem weights for another input-channel count: the channel mean, repeated and rescaled so the
    response to a uniform image stays the same (for 1 channel this is the sum over RGB)."""
    mean = weight.mean(dim=1, keepdim=True)
    return mean.repeat(1, in_channels, 1, 1) * (weight.shape[1] / in_channels)


def load_state_into(net: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> LoadReport:
    """Load matching tensors of ``state`` into ``net`` with the policy in the module docstring."""
    target = net.state_dict()
    state = _strip_prefix(dict(state), set(target))
    report = LoadReport(source=source)
    stem = first_conv(net)
    stem_weight = f"{stem[0]}.weight" if stem else None
    heads = _head_tensor_names(net)
    params = dict(net.named_parameters())
    new: dict[str, torch.Tensor] = {}
    misfits: list[str] = []
    for name, current in target.items():
        if name not in state:
            report.missing.append(name)
            continue
        source_tensor = state[name]
        if source_tensor.shape == current.shape:
            new[name] = source_tensor.to(dtype=current.dtype)
            report.loaded.append(name)
        elif (
            name == stem_weight
            and source_tensor.dim() == 4
            and source_tensor.shape[0] == current.shape[0]
            and source_tensor.shape[2:] == current.shape[2:]
        ):
            new[name] = adapt_input_weight(source_tensor.float(), current.shape[1]).to(dtype=current.dtype)
            report.loaded.append(name)
            report.adapted.append(name)
        elif name in heads:
            report.skipped.append(name)
        else:
            misfits.append(f"{name}: file {tuple(source_tensor.shape)} vs model {tuple(current.shape)}")
    report.unexpected = [k for k in state if k not in target]
    if misfits:
        raise NnlabError(
            f"{source} does not fit this model: {len(misfits)} tensors have other shapes "
            f"(e.g. {misfits[0]}); is it for another architecture, width or input size?"
        )
    if not report.loaded:
        example_file = next(iter(state), "?")
        example_model = next(iter(target), "?")
        raise NnlabError(
            f"no tensor in {source} matches this model (file has e.g. {example_file!r}, "
            f"the model expects e.g. {example_model!r})"
        )
    total = sum(p.numel() for p in params.values())
    covered = sum(params[n].numel() for n in report.loaded if n in params)
    if total and covered / total < MIN_COVERAGE:
        raise NnlabError(
            f"{source} covers only {covered / total:.0%} of this model's parameters; is it for another architecture?"
        )
    net.load_state_dict(new, strict=False)
    return report


def load_weights(net: nn.Module, path: str | Path) -> LoadReport:
    """Load a local weights file (``--weights PATH``) into ``net``; returns what was loaded."""
    return load_state_into(net, read_state_dict(path), str(path))


def load_torchvision_weights(net: nn.Module, weights: Any, what: str) -> LoadReport:
    """Download (or take from the torch hub cache) a torchvision weights enum entry into ``net``."""
    try:
        state = weights.get_state_dict(progress=False, check_hash=True, weights_only=True)
    except Exception as err:  # noqa: BLE001 - offline, proxy, corrupt cache: all the same advice
        raise NnlabError(
            f"could not download the pretrained weights of {what} ({type(err).__name__}: {err}); "
            f"offline, fetch {weights.url} elsewhere and load the file as weights"
        ) from err
    return load_state_into(net, state, f"{what} pretrained weights")
