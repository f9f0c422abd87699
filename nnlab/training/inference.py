"""The one way a model runs over a dataset split, in one process or under torchrun.

:func:`map_split` feeds every batch of a split, in order, to a *step* — a function of ``(images on the
device, labels as int64 on the CPU)`` returning a mapping of per-row CPU tensors (logits, activations,
adversarial images, …) — and returns each field for all rows plus ``labels``. Predicting
(:func:`nnlab.training.engine.predict_dataset`), extracting activations
(:func:`nnlab.analysis.hooks.extract_activations`), embedding (:func:`nnlab.embedding.model_features`),
attacking (:func:`nnlab.robustness.stage.attack_dataset`) and caching backbone features
(:func:`nnlab.training.engine.map_dataset`) are steps passed to it.

Under torchrun each rank maps a contiguous run of whole batches (:func:`nnlab.distributed.shard_range`,
a :class:`Shard`) and the ranks' rows are concatenated in rank order: every batch is the batch one process
computes, so the gathered tensors are the one-process tensors. Each field is written into one buffer
allocated for the rank's rows at the first batch, so no second copy of the rows is made while mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from nnlab import distributed
from nnlab.data.loader import make_loader
from nnlab.errors import NnlabError

Step = Callable[[torch.Tensor, torch.Tensor], Mapping[str, torch.Tensor]]
"""``(images on the device, int64 labels on the CPU) -> {field: per-row CPU tensor}`` for one batch."""
ProgressFn = Callable[[int, int], None]
"""``(rows done, rows of this rank's share)``, called after every batch."""
LABELS = "labels"


class Shard:
    """This rank's contiguous share of ``ds`` (all of it in one process), cut at whole batches, and its loader.

    Build one to map the same split several times (validation every epoch): its loader, and the loader's
    worker processes, are made once.
    """

    def __init__(self, ds: Dataset, batch_size: int, *, num_workers: int | None = None, device: Any = None) -> None:
        self.dataset = ds
        self.rows = distributed.shard_range(len(ds), batch_size)
        local = ds if len(self.rows) == len(ds) else Subset(ds, self.rows)
        pin = device is not None and torch.device(device).type == "cuda"
        self.loader = make_loader(local, batch_size, shuffle=False, num_workers=num_workers, pin_memory=pin)

    def __len__(self) -> int:
        return len(self.rows)


def map_split(
    step: Step,
    data: Dataset | Shard,
    *,
    device: Any,
    batch_size: int = 256,
    num_workers: int | None = None,
    progress: ProgressFn | None = None,
    everywhere: bool = True,
    empty: str = "the dataset is empty",
) -> dict[str, torch.Tensor]:
    """Every field of ``step`` for every row of ``data`` (a dataset, or a prepared :class:`Shard`), in order,
    and the rows' ``labels``.

    Under torchrun every rank gets all rows with ``everywhere``; otherwise rank 0 gets all rows and the other
    ranks their own share. An empty dataset is an error saying ``empty``.
    """
    shard = data if isinstance(data, Shard) else Shard(data, batch_size, num_workers=num_workers, device=device)
    if len(shard.dataset) == 0:
        raise NnlabError(empty)
    local = _map_shard(step, shard, torch.device(device), progress)
    if not distributed.is_distributed():
        return local
    names = next((n for n in distributed.all_gather_objects(list(local)) if n), [LABELS])
    return {n: distributed.gather_rows(local.get(n, torch.empty(0)), everywhere=everywhere) for n in names}


def _map_shard(step: Step, shard: Shard, device: torch.device, progress: ProgressFn | None) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    done = 0
    for images, targets in shard.loader:
        labels = torch.as_tensor(targets).long().reshape(-1)
        fields = {**step(images.to(device), labels), LABELS: labels}
        rows = len(labels)
        for name, value in fields.items():
            if name not in out:
                out[name] = torch.empty((len(shard), *value.shape[1:]), dtype=value.dtype)
            out[name][done : done + rows] = value
        done += rows
        if progress is not None:
            progress(done, len(shard))
    return {name: tensor[:done] for name, tensor in out.items()}


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode for the body; its training flag is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
