"""Activations of named layers via forward hooks, and per-layer separation-index profiles.

Works with any ``nn.Module`` and any DataLoader yielding ``(images, labels)``; layer names are those of
``model.named_modules()``. Activations are flattened to N × D (one row per sample).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from nnlab.analysis.separation import DEFAULT_MEMORY_BUDGET_MB, separation_indices
from nnlab.errors import NnlabError


def resolve_layers(model: nn.Module, layers: Sequence[str]) -> dict[str, nn.Module]:
    """Map layer names to modules; an unknown name raises NnlabError listing the valid names."""
    modules = dict(model.named_modules())
    out: dict[str, nn.Module] = {}
    for name in layers:
        if name not in modules or name == "":
            valid = ", ".join(n for n in modules if n)
            raise NnlabError(f"unknown layer {name!r}; valid layer names: {valid}")
        out[name] = modules[name]
    if not out:
        raise NnlabError("no layers were given")
    return out


def _flatten(output: Any) -> torch.Tensor:
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise NnlabError(f"a hooked layer returned {type(output).__name__}, not a tensor")
    return output.detach().reshape(output.shape[0], -1)


def extract_activations(model: nn.Module, loader: Iterable, layers: Sequence[str], device: Any = "cpu",
                        dtype: torch.dtype = torch.float32,
                        progress: Callable[[int], None] | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Run ``model`` over ``loader`` in eval mode and collect the flattened outputs of ``layers``.

    Returns ``({layer name: N × D tensor on CPU in dtype}, labels as int64 tensor)``, layers in the given order.
    ``progress(batch_size)`` is called after each batch.
    """
    targets = resolve_layers(model, layers)
    store: dict[str, list[torch.Tensor]] = {name: [] for name in targets}
    handles = []
    for name, module in targets.items():
        def hook(_m: nn.Module, _inp: Any, out: Any, name: str = name) -> None:
            store[name].append(_flatten(out).to("cpu", dtype))
        handles.append(module.register_forward_hook(hook))
    labels: list[torch.Tensor] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for images, y in loader:
                model(images.to(device))
                labels.append(torch.as_tensor(y).reshape(-1).to(torch.int64).cpu())
                if progress is not None:
                    progress(int(labels[-1].numel()))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if not labels:
        raise NnlabError("the data loader yielded no batches")
    return {name: torch.cat(chunks) for name, chunks in store.items()}, torch.cat(labels)


def iter_layer_activations(model: nn.Module, loader: Iterable, layers: Sequence[str], device: Any = "cpu",
                           dtype: torch.dtype = torch.float32) -> Iterator[tuple[int, str, torch.Tensor, torch.Tensor]]:
    """Yield ``(layer index, layer name, N × D activations, labels)`` one layer at a time.

    Each layer costs one pass over the loader, so only one layer's activations are held in memory at once.
    """
    resolve_layers(model, layers)  # fail fast on an unknown name
    for index, name in enumerate(layers):
        acts, labels = extract_activations(model, loader, [name], device=device, dtype=dtype)
        yield index, name, acts[name], labels


def si_profile(model: nn.Module, loader: Iterable, layers: Sequence[str], device: Any = "cpu", *,
               orders: Sequence[int] = (), normalize: bool = True, block_rows: int | None = None,
               memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
               progress: Callable[[int, int, str], None] | None = None) -> list[dict[str, Any]]:
    """SI and CSI (and the order-k indices for ``orders``) of every layer, in order, one layer in memory at a time.

    Returns one dict per layer: ``layer_index, layer_name, dim, si, csi`` plus ``high_order_si_k``,
    ``soft_order_si_k``, ``anti_si_k``. ``progress(done, total, layer_name)`` is called after each layer.
    """
    rows = []
    for index, name, acts, labels in iter_layer_activations(model, loader, layers, device=device):
        row: dict[str, Any] = {"layer_index": index, "layer_name": name, "dim": int(acts.shape[1])}
        row.update(separation_indices(acts, labels, orders=orders, normalize=normalize, device=device,
                                      block_rows=block_rows, memory_budget_mb=memory_budget_mb))
        rows.append(row)
        del acts
        if progress is not None:
            progress(index + 1, len(layers), name)
    return rows


def features_si_profile(layers: dict[str, torch.Tensor], labels: torch.Tensor, *, orders: Sequence[int] = (),
                        normalize: bool = True, device: Any = None, block_rows: int | None = None,
                        memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB) -> list[dict[str, Any]]:
    """The same per-layer profile as :func:`si_profile`, from already extracted features (a features artifact)."""
    rows = []
    for index, (name, acts) in enumerate(layers.items()):
        row: dict[str, Any] = {"layer_index": index, "layer_name": name, "dim": int(acts.reshape(acts.shape[0], -1).shape[1])}
        row.update(separation_indices(acts, labels, orders=orders, normalize=normalize, device=device,
                                      block_rows=block_rows, memory_budget_mb=memory_budget_mb))
        rows.append(row)
    return rows
