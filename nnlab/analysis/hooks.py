"""Flattened layer activations of a model over a dataset (forward hooks), and the layer-wise SI profile.

Names are module names of the raw net (``model.net``), e.g. ``features.23`` for VGG16; a ``net.`` prefix is
accepted (plain modules work too, with their ``named_modules`` names). A forward pass stops as soon as every
requested layer has produced its output, so profiling early layers does not pay for the rest of the net.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import torch
from torch import nn

from nnlab import distributed
from nnlab.analysis.separation import separation_indices
from nnlab.device import module_device
from nnlab.errors import NnlabError
from nnlab.models import SurgeredNet, profile_layers
from nnlab.training.inference import LABELS, Step, eval_mode, map_split

ProgressFn = Callable[[int, int], None]
DEFAULT_MEMORY_MB = 3072.0


class _Collected(Exception):
    """Raised inside a hook once every requested layer has fired for the current batch."""


def _raw(model: nn.Module) -> nn.Module:
    return getattr(model, "net", model)


def module_for(model: nn.Module, name: str) -> nn.Module:
    """The module of the raw net called ``name`` (``net.`` prefix allowed); unknown names list valid ones."""

    net = _raw(model)
    key = name.removeprefix("net.")
    modules = dict(net.named_modules())
    if key and key in modules:
        return modules[key]
    shown = ", ".join(n for n, _ in profile_layers(net))
    raise NnlabError(f"unknown layer {name!r}; this model's layers are: {shown}")


def canonical_layer(model: nn.Module, name: str) -> str:
    """The layer of the *original* architecture whose flattened output ``name`` is.

    The output of a truncated model (its final ``flatten``) is the flattened activation of the layer it was cut
    at, so both name the same features; a ranking made on either fits either. Other names map to themselves.
    """

    net = _raw(model)
    spec = getattr(model, "spec", None)
    cuts = [op["at"] for op in (spec.surgery if spec is not None else []) if op.get("op") == "truncate"]
    if isinstance(net, SurgeredNet) and cuts:
        flattens = [n for n, m in net.named_children() if n.startswith("flatten") and isinstance(m, nn.Flatten)]
        if flattens and name == flattens[-1]:
            return cuts[-1]
    return name


def extract_activations(
    model: nn.Module,
    ds: Any,
    layers: Sequence[str],
    *,
    device: Any = "cpu",
    batch_size: int = 256,
    num_workers: int = 0,
    dtype: torch.dtype = torch.float32,
    progress: ProgressFn | None = None,
    everywhere: bool = False,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Flattened activations (N × D each, on the CPU, ``dtype``) of ``layers`` for every item of ``ds``, and the
    labels; the model runs in eval mode. ``progress(samples done, samples)`` follows the batches.

    Under torchrun each rank runs a contiguous share of whole batches and rank 0 gets every row, in the
    one-process order; the other ranks get back their own share only, or every row too with ``everywhere``
    (:func:`nnlab.training.inference.map_split`).
    """
    device = torch.device(device)
    model.to(device)
    with activation_step(model, layers, dtype) as step:
        out = map_split(
            step,
            ds,
            device=device,
            batch_size=batch_size,
            num_workers=num_workers,
            progress=progress,
            everywhere=everywhere,
        )
    labels = out.pop(LABELS)
    return {name: out[name] for name in layers}, labels


@contextmanager
def activation_step(model: nn.Module, layers: Sequence[str], dtype: torch.dtype = torch.float32) -> Iterator[Step]:
    """A :func:`~nnlab.training.inference.map_split` step giving the flattened output of each of ``layers`` (as
    ``dtype``, one field per layer), with ``model`` in eval mode and its forward hooks in place for the body.

    A forward pass stops as soon as every layer has fired; a layer the forward pass never runs is an error.
    """
    if not layers:
        raise NnlabError("name at least one layer")
    modules = {name: module_for(model, name) for name in layers}
    seen: dict[str, torch.Tensor] = {}

    def make_hook(name: str):
        def hook(_m: nn.Module, _inp: Any, out: Any) -> None:
            if name in seen:
                return
            tensor = out[0] if isinstance(out, (tuple, list)) else out
            seen[name] = tensor.detach().reshape(tensor.shape[0], -1)
            if len(seen) == len(modules):
                raise _Collected

        return hook

    def step(images: torch.Tensor, _labels: torch.Tensor) -> dict[str, torch.Tensor]:
        seen.clear()
        try:
            with torch.no_grad():
                model(images)
        except _Collected:
            pass
        missing = [n for n in layers if n not in seen]
        if missing:
            raise NnlabError(f"layer {missing[0]!r} is never run by the model's forward pass")
        return {name: seen[name].to("cpu", dtype) for name in layers}

    handles = [module.register_forward_hook(make_hook(name)) for name, module in modules.items()]
    try:
        with eval_mode(model):
            yield step
    finally:
        for handle in handles:
            handle.remove()


def layer_dims(model: nn.Module, layers: Sequence[str]) -> dict[str, int]:
    """Flattened output size per sample of each layer (one dry forward pass of a single zero image)."""
    spec = model.spec
    device = module_device(model)
    one = torch.zeros(1, spec.channels, spec.size, spec.size, device=device)
    with activation_step(model, layers) as step:
        acts = step(one, torch.zeros(1, dtype=torch.long))
    return {name: int(t.shape[1]) for name, t in acts.items()}


def group_layers(dims: dict[str, int], n: int, memory_mb: float, itemsize: int = 4) -> list[list[str]]:
    """Consecutive layers grouped so that one group's activations (``itemsize`` bytes each) for ``n`` samples fit
    ``memory_mb``, each group gathered in one forward pass. A layer that cannot fit on its own is refused with the
    estimate and what would make it fit."""
    budget = memory_mb * 1024 * 1024
    groups: list[list[str]] = []
    size = 0.0
    for name, dim in dims.items():
        need = float(itemsize) * n * dim
        if need > budget:
            fit = int(budget // (itemsize * dim))
            fewer = f"profile at most {fit:,} samples, use a" if fit else "even one sample is over it; use a"
            raise NnlabError(
                f"layer {name} gives {dim:,} features per sample: {need / 2**20:,.0f} MB of activations for {n:,} "
                f"samples, over the {memory_mb:,.0f} MB activation budget; {fewer} "
                f"smaller input size or leave this layer out, or allow at least {need / 2**20:,.0f} MB "
                f"(plus the model and about 0.5 GB of working memory)"
            )
        if groups and size + need <= budget:
            groups[-1].append(name)
            size += need
        else:
            groups.append([name])
            size = need
    return groups


def _indices_row(
    X: torch.Tensor, y: torch.Tensor, orders: Iterable[int], normalize: bool, device: Any
) -> dict[str, float]:
    # under torchrun every process holds all rows and takes a share of the neighbour search; all get the indices
    group = torch.distributed.group.WORLD if distributed.is_distributed() else None
    return separation_indices(X, y, orders=tuple(orders), center=True, normalize=normalize, device=device, group=group)


def si_profile(
    model: nn.Module,
    datasets: dict[str, Any],
    layers: Sequence[tuple[int, str]] | None = None,
    *,
    orders: Sequence[int] = (),
    normalize: bool = True,
    device: Any = "cpu",
    batch_size: int = 256,
    num_workers: int = 0,
    memory_mb: float = DEFAULT_MEMORY_MB,
    dtype: torch.dtype = torch.float32,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """SI and CSI (and the indices of ``orders``) of every layer, in order, for each split in ``datasets``.

    ``layers``: (index, name) pairs, default :func:`nnlab.models.profile_layers` (VGG16: the 31 modules of
    ``features``). Activations are kept as gathered (``dtype``, float32 by default: the model's own values;
    float16 halves the memory but rounds them), for as many consecutive layers as fit ``memory_mb`` per forward
    pass, and each layer is dropped once its indices are computed; a layer that cannot fit on its own is refused
    before any work, with the estimate. Peak memory is about ``memory_mb`` plus the model plus the indices' own
    working memory (:data:`nnlab.analysis.separation.DEFAULT_MEMORY_BUDGET_MB`). ``progress`` gets a line per
    forward pass and per layer. Columns: layer_index, layer_name, layer_type, split, samples, dim, si, csi
    (+ high_order_si_k, soft_order_si_k, anti_si_k).
    """

    if layers is None:
        layers = list(enumerate(name for name, _ in profile_layers(_raw(model))))
    layers = list(layers)
    index_of = {name: idx for idx, name in layers}
    types = {name: type(module_for(model, name)).__name__ for _, name in layers}
    dims = layer_dims(model, [name for _, name in layers])
    itemsize = torch.empty((), dtype=dtype).element_size()
    plans = {split: group_layers(dims, len(ds), memory_mb, itemsize) for split, ds in datasets.items()}
    rows: list[dict[str, Any]] = []
    total = len(layers)
    for split, ds in datasets.items():
        done = 0
        for group in plans[split]:
            if progress is not None:
                progress(
                    f"{split}: forward pass for {group[0]}"
                    + (f" … {group[-1]}" if len(group) > 1 else "")
                    + f" ({len(ds):,} samples)"
                )
            acts, labels = extract_activations(
                model,
                ds,
                group,
                device=device,
                batch_size=batch_size,
                num_workers=num_workers,
                dtype=dtype,
                everywhere=True,  # under torchrun the processes share each layer's neighbour search
            )
            for name in group:
                done += 1
                if progress is not None:
                    progress(f"{split}: layer {done}/{total} {name} ({dims[name]:,} features): SI and CSI")
                X = acts.pop(name)
                values = _indices_row(X, labels, orders, normalize, device)
                rows.append(
                    {
                        "layer_index": index_of[name],
                        "layer_name": name,
                        "layer_type": types[name],
                        "split": split,
                        "samples": len(labels),
                        "dim": int(X.shape[1]),
                        **values,
                    }
                )
                del X
    return pd.DataFrame(rows)


def si_profile_features(
    layers: dict[str, torch.Tensor],
    labels: torch.Tensor,
    split: str,
    *,
    orders: Sequence[int] = (),
    normalize: bool = True,
    device: Any = "cpu",
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """The same table for the layers stored in a features artifact (one split)."""
    rows = []
    for index, (name, X) in enumerate(layers.items()):
        if progress is not None:
            progress(f"{split}: SI of {name}")
        values = _indices_row(X, labels, orders, normalize, device)
        rows.append(
            {
                "layer_index": index,
                "layer_name": name,
                "layer_type": "",
                "split": split,
                "samples": len(labels),
                "dim": int(X.reshape(len(X), -1).shape[1]),
                **values,
            }
        )
    return pd.DataFrame(rows)
