"""The fit / evaluate engine shared by `train`, `fit-head` and the robustness stages.

`fit` trains a :class:`~nnlab.models.Classifier` on pixel-space batches, validates after every
epoch, keeps the best-validation weights, stops early on a patience, writes a checkpoint after
every epoch and resumes from one exactly: every epoch reseeds all random streams from
``(seed, epoch)``, so an interrupted run continued from its checkpoint draws the same batches,
augmentations and dropout masks as an uninterrupted one. The training and validation loaders are built
once per run (their worker processes persist across epochs).

Mixed precision follows ``config.precision`` (:mod:`nnlab.training.precision`: fp16 with a gradient scaler,
bf16 without). ``config.grad_accum`` = N sums the gradients of N micro-batches (each mean loss divided by the
number of micro-batches in its group) before one optimizer step, so N micro-batches of b samples step like one
batch of N·b; a last, shorter group at the end of an epoch steps on its own. ``config.grad_clip`` bounds the
global gradient norm before each step (after unscaling).

Under ``torchrun`` (see :mod:`nnlab.distributed`) `fit` trains with DistributedDataParallel: each
rank draws its share of every epoch from a ``DistributedSampler`` (``set_epoch`` per epoch; ``batch_size``
is per process, so the global batch is ``batch_size × world size``), gradients are averaged across
ranks, the epoch's figures are summed over ranks and validation is sharded and gathered, so every
rank takes the same early-stopping decision; rank 0 alone writes the checkpoint. `evaluate` shards
the dataset into whole batches per rank and gathers the logits in order.
"""

from __future__ import annotations

import math
import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler, TensorDataset

from nnlab import distributed
from nnlab.data.loader import EpochLoader
from nnlab.errors import NnlabError
from nnlab.training.checkpoint import FitState, cpu_state, resume_fit, save_fit_state
from nnlab.training.config import TrainConfig
from nnlab.training.inference import LABELS, Shard, Step, eval_mode, map_split
from nnlab.training.precision import autocast, grad_scaler, resolve_precision

# A loss hook returns (loss, logits or None) for one batch; the default is cross-entropy on logits.
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]
# A batch hook may replace a training batch (adversarial training); it receives the epoch-seeded step index.
BatchHook = Callable[[nn.Module, torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]
EpochCallback = Callable[[dict[str, Any]], None]


@dataclass
class FitResult:
    """What `fit` learned: the per-epoch history and where the best validation accuracy was."""

    history: list[dict[str, Any]]
    best_epoch: int
    best_val_accuracy: float | None
    stopped_early: bool = False
    resumed_from: int | None = None


@dataclass
class EvalResult:
    """Loss, accuracy and raw predictions of a model on a dataset."""

    loss: float
    accuracy: float
    targets: np.ndarray
    predictions: np.ndarray
    logits: torch.Tensor | None = field(default=None, repr=False)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run is repeatable on the same machine."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def head_parameter_names(net: nn.Module) -> set[str]:
    """Names of the parameters of the network's head: the top-level child holding the last layer with weights.

    This is what `--lr-head` applies to (VGG's `classifier`, ResNet's `fc`, a fitted MLP head).
    """
    last_owner = None
    for name, _ in net.named_parameters():
        last_owner = name.split(".")[0]
    if last_owner is None:
        return set()
    return {n for n, _ in net.named_parameters() if n.split(".")[0] == last_owner}


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer over the trainable parameters, with a separate head group when `lr_head` is set."""
    net = getattr(model, "net", model)
    named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    if not named:
        raise NnlabError("nothing to train: every parameter is frozen")
    groups: list[dict[str, Any]]
    if config.lr_head is not None:
        head = head_parameter_names(net)
        groups = [
            {"params": [p for n, p in named if n not in head], "lr": config.lr},
            {"params": [p for n, p in named if n in head], "lr": config.lr_head},
        ]
        groups = [g for g in groups if g["params"]]
    else:
        groups = [{"params": [p for _, p in named], "lr": config.lr}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    """The learning-rate schedule; 'onecycle' steps every batch, the others every epoch."""
    s = config.schedule
    if s == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    if s == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.gamma)
    if s == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if s == "onecycle":
        max_lr = [g["lr"] for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=max_lr, epochs=config.epochs, steps_per_epoch=max(1, steps_per_epoch)
        )
    return None


def _to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if x.dtype == torch.uint8:  # pixels from a uint8 cache: to [0, 1] floats on the device
        x = x.float().div_(255.0)
    if channels_last and device.type == "cuda" and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def head_logits(output: torch.Tensor | tuple[torch.Tensor, ...] | list[torch.Tensor]) -> torch.Tensor:
    """The logits of a model output: a tensor as is; several heads' logits (a distilled DeiT in training
    mode returns its class and distillation heads) averaged, timm's inference rule for such models."""
    if isinstance(output, (tuple, list)):
        return torch.stack([o.float() for o in output]).mean(0)
    return output


def cross_entropy_loss(config: TrainConfig, device: torch.device) -> LossFn:
    """Default loss hook: (weighted, label-smoothed) cross-entropy on the model's logits.

    A model with several heads (a tuple of logits, e.g. DeiT's class and distillation heads) is
    trained on the sum of their cross-entropies against the labels (DeiT's hard-label variant); its
    logits for accuracy are the heads' mean.
    """
    weight = torch.tensor(config.class_weights, dtype=torch.float32, device=device) if config.class_weights else None

    def loss_fn(model: nn.Module, images: torch.Tensor, labels: torch.Tensor):
        output = model(images)
        heads = list(output) if isinstance(output, (tuple, list)) else [output]
        loss = sum(
            F.cross_entropy(h.float(), labels, weight=weight, label_smoothing=config.label_smoothing) for h in heads
        )
        return loss, head_logits(output)

    return loss_fn


def predict_step(model: nn.Module, device: torch.device, precision: str = "32") -> Step:
    """The :func:`~nnlab.training.inference.map_split` step of a prediction: a batch's float32 logits (``logits``),
    without gradients (``precision``: a resolved precision, see :mod:`nnlab.training.precision`)."""

    def step(images: torch.Tensor, _labels: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad(), autocast(device, precision):
            out = head_logits(model(images))
        return {"logits": out.float().cpu()}

    return step


def predict(
    model: nn.Module, batches: Iterable, device: torch.device, precision: str = "32"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and targets of ``model`` over an iterable of (images, labels) batches, in eval mode
    (``precision``: a resolved precision, see :mod:`nnlab.training.precision`)."""
    step = predict_step(model, device, precision)
    with eval_mode(model):
        pairs = [(step(images.to(device), labels)["logits"], torch.as_tensor(labels)) for images, labels in batches]
    if not pairs:
        raise NnlabError("the dataset is empty")
    return torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs]).long()


def evaluate(
    model: nn.Module,
    ds: Dataset,
    device: torch.device,
    batch_size: int = 256,
    num_workers: int | None = None,
    keep_logits: bool = False,
) -> EvalResult:
    """Cross-entropy loss and accuracy of ``model`` on ``ds`` (eval mode, no gradients).

    Under torchrun every rank predicts its share of the batches and every rank gets the whole result.
    """
    logits, targets = predict_dataset(model, ds, device, batch_size=batch_size, num_workers=num_workers)
    return _eval_result(logits, targets, keep_logits)


def predict_dataset(
    model: nn.Module,
    ds: Dataset | Shard,
    device: torch.device,
    batch_size: int = 256,
    num_workers: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and targets of ``model`` over ``ds`` (a dataset or a prepared :class:`Shard`) in order, in eval mode.

    Under torchrun each rank predicts a contiguous run of whole batches and every rank gets all rows in order
    (:func:`~nnlab.training.inference.map_split`): the same tensors as one process computes.
    """
    with eval_mode(model):
        out = map_split(predict_step(model, device), ds, device=device, batch_size=batch_size, num_workers=num_workers)
    return out["logits"], out[LABELS]


def map_dataset(
    fn: Any,
    ds: Dataset,
    device: torch.device,
    batch_size: int = 256,
    num_workers: int | None = None,
    *,
    empty: str = "the dataset is empty",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``fn`` of every batch of ``ds`` (images on ``device``; results as float32 on the CPU; no gradients) and the
    labels, in order, on every rank (see :func:`~nnlab.training.inference.map_split`). An empty dataset is an error
    saying ``empty``."""

    def step(images: torch.Tensor, _labels: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {"values": fn(images).float().cpu()}

    out = map_split(step, ds, device=device, batch_size=batch_size, num_workers=num_workers, empty=empty)
    return out["values"], out[LABELS]


def evaluate_tensors(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device, batch_size: int = 256
) -> EvalResult:
    """Like `evaluate`, on in-memory images (e.g. a stored adversarial set)."""
    logits, targets = predict_dataset(model, TensorDataset(images, labels), device, batch_size=batch_size)
    return _eval_result(logits, targets, False)


def _eval_result(logits: torch.Tensor, targets: torch.Tensor, keep_logits: bool) -> EvalResult:
    finite = torch.isfinite(logits).all(dim=1)
    loss = F.cross_entropy(logits[finite], targets[finite]).item() if finite.any() else float("nan")
    preds = logits.argmax(dim=1)
    acc = (preds == targets).float().mean().item()
    return EvalResult(
        loss=loss,
        accuracy=acc,
        targets=targets.numpy(),
        predictions=preds.numpy(),
        logits=logits if keep_logits else None,
    )


@dataclass
class _Loop:
    """The fixed parts of one `fit`: the data, the module whose forward pass trains, the loss and the hooks."""

    config: TrainConfig
    device: torch.device
    precision: str
    loader: EpochLoader
    sampler: DistributedSampler | None
    trained: nn.Module
    loss_fn: LossFn
    params: list[torch.Tensor]
    val_size: int | None
    val_shard: Shard | None
    validate_fn: Callable[[nn.Module], tuple[float, float]] | None
    batch_hook: BatchHook | None
    on_batch: Callable[[int, int], None] | None
    world: int
    rank: int


def fit(
    model: nn.Module,
    train_ds: Dataset,
    val_ds: Dataset | None,
    config: TrainConfig,
    device: torch.device,
    *,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    loss_fn: LossFn | None = None,
    batch_hook: BatchHook | None = None,
    validate_fn: Callable[[nn.Module], tuple[float, float]] | None = None,
    on_epoch: EpochCallback | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    train_module: nn.Module | None = None,
) -> FitResult:
    """Train ``model`` in place and leave it holding its best-validation weights.

    ``validate_fn(model) -> (loss, accuracy)`` replaces the default validation (e.g. k-NN
    classification for an embedding model); ``on_epoch`` receives each history row as it is made
    (it may raise KeyboardInterrupt: the checkpoint of the finished epoch is already on disk).
    ``loss_fn`` is called with ``train_module`` (default: ``model``), wrapped in
    DistributedDataParallel under torchrun, so its forward pass is the one whose gradients are
    averaged across ranks; ``batch_hook`` and ``validate_fn`` get ``model`` itself.
    """
    hooks = dict(loss_fn=loss_fn, batch_hook=batch_hook, validate_fn=validate_fn, on_batch=on_batch)
    loop, state = _prepare(model, train_ds, val_ds, config, device, train_module, **hooks)
    ckpt_path = Path(checkpoint) if checkpoint else None
    resumed_from = resume_fit(state, ckpt_path) if resume else None
    stopped_early = False
    for epoch in range(state.epoch + 1, config.epochs + 1):
        if config.patience is not None and state.bad_epochs >= config.patience:
            stopped_early = True
            break
        started = time.perf_counter()
        row, trained_on = _train_epoch(loop, state, epoch)
        row.update(_validate(loop, model))
        _record(loop, state, epoch, row, trained_on, started)
        if ckpt_path is not None and loop.rank == 0:
            save_fit_state(ckpt_path, state)
        if on_epoch is not None:
            on_epoch(row)
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    if device.type == "cuda":
        model.to(memory_format=torch.contiguous_format)
    return FitResult(state.history, state.best_epoch, state.best_acc, stopped_early, resumed_from)


def _prepare(
    model: nn.Module,
    train_ds: Dataset,
    val_ds: Dataset | None,
    config: TrainConfig,
    device: torch.device,
    train_module: nn.Module | None,
    **hooks: Any,
) -> tuple[_Loop, FitState]:
    """The loaders, the (distributed) training module, the optimizer, schedule and scaler of a fresh fit."""
    model.to(device)
    if config.channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    loss_fn = hooks.pop("loss_fn") or cross_entropy_loss(config, device)
    world, rank = distributed.world_size(), distributed.rank()
    precision = resolve_precision(config.precision, device)
    sampler = None
    if world > 1:  # set_epoch(epoch seed) draws the one-process permutation of the epoch and deals it out
        sampler = DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True, seed=0, drop_last=False)
    loader = EpochLoader(
        train_ds,
        config.batch_size,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        sampler=sampler,
        uint8=True,
    )
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise NnlabError("the training set is empty")
    trained = _distributed_module(train_module or model, config, device) if world > 1 else (train_module or model)
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config, math.ceil(steps_per_epoch / int(config.grad_accum)))
    scaler = grad_scaler(device, precision)
    val_shard = None
    if val_ds is not None and hooks["validate_fn"] is None:
        val_shard = Shard(val_ds, max(config.batch_size, 256), num_workers=config.num_workers, device=device)
    params = [p for p in model.parameters() if p.requires_grad]
    val_size = len(val_ds) if val_ds is not None else None
    loop = _Loop(config, device, precision, loader, sampler, trained, loss_fn, params, val_size, val_shard, **hooks,
                 world=world, rank=rank)  # fmt: skip
    return loop, FitState(model, optimizer, scheduler, scaler, config, world=world)


def _train_epoch(loop: _Loop, state: FitState, epoch: int) -> tuple[dict[str, Any], tuple[float, int, int]]:
    """One epoch of training, its figures summed over ranks and the schedule stepped; returns the history row so
    far and ``(train seconds, samples trained on by all ranks, by this rank)``."""
    config, model, optimizer = loop.config, state.model, state.optimizer
    t0 = time.perf_counter()
    epoch_seed = config.seed * 1_000_003 + epoch
    seed_everything(epoch_seed * loop.world + loop.rank)  # the one-process seeds when world == 1
    model.train()
    loop.trained.train()
    total_loss, correct, seen = 0.0, 0, 0
    lr = optimizer.param_groups[-1]["lr"]
    optimizer.zero_grad(set_to_none=True)
    for step, (images, labels) in enumerate(loop.loader.epoch(epoch_seed)):
        loss, hits, n = _train_step(loop, state, step, images, labels)
        total_loss += loss * n
        correct += hits
        seen += n
        if loop.on_batch is not None:
            loop.on_batch(step + 1, len(loop.loader))
    train_seconds = time.perf_counter() - t0
    rank_seen = seen
    if loop.world > 1:
        total_loss, correct, seen = distributed.all_reduce_sum([total_loss, correct, seen])
        seen = int(seen)
        distributed.broadcast_buffers(model)  # validate and keep rank 0's BatchNorm statistics everywhere
    if not math.isfinite(total_loss):
        raise NnlabError(f"training diverged at epoch {epoch} (loss is not finite); lower the learning rate")
    if state.scheduler is not None and config.schedule != "onecycle":
        state.scheduler.step()
    row = {
        "epoch": epoch,
        "train_loss": total_loss / seen,
        "train_accuracy": correct / seen if correct or seen else float("nan"),
        "lr": lr,
    }
    return row, (train_seconds, seen, rank_seen)


def _train_step(
    loop: _Loop, state: FitState, step: int, images: torch.Tensor, labels: torch.Tensor
) -> tuple[float, int, int]:
    """Forward and backward pass of one micro-batch, and the optimizer step at the end of its accumulation group;
    returns ``(mean loss, correct predictions, samples)`` of the batch."""
    config, device, optimizer, scaler = loop.config, loop.device, state.optimizer, state.scaler
    images = _to_device(images, device, config.channels_last)
    labels = labels.to(device, non_blocking=True)
    if loop.batch_hook is not None:
        images, labels = loop.batch_hook(state.model, images, labels, step)
    accum, steps = int(config.grad_accum), len(loop.loader)
    group_start = step - step % accum
    group_size = min(accum, steps - group_start)
    last_of_group = step - group_start == group_size - 1
    no_sync = getattr(loop.trained, "no_sync", None)  # DDP: all-reduce only on the group's last backward
    with no_sync() if no_sync is not None and not last_of_group else nullcontext():
        with autocast(device, loop.precision):
            loss, logits = loop.loss_fn(loop.trained, images, labels)
        scaler.scale(loss / group_size).backward()
    if last_of_group:
        if config.grad_clip is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(loop.params, config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if state.scheduler is not None and config.schedule == "onecycle":
            state.scheduler.step()
    hits = (logits.argmax(1) == labels).sum().item() if logits is not None else 0
    return loss.item(), hits, labels.shape[0]


def _validate(loop: _Loop, model: nn.Module) -> dict[str, Any]:
    """The validation columns of an epoch's history row (none without a validation set or function)."""
    if loop.val_shard is None and loop.validate_fn is None:
        return {}
    t_val = time.perf_counter()
    if loop.validate_fn is not None:
        val_loss, val_acc = loop.validate_fn(model)
    else:
        res = _eval_result(*predict_dataset(model, loop.val_shard, loop.device), False)
        val_loss, val_acc = res.loss, res.accuracy
    val_seconds = time.perf_counter() - t_val
    val_count = loop.val_size if loop.val_size is not None else float("nan")
    return {
        "val_loss": val_loss,
        "val_accuracy": val_acc,
        "val_seconds": val_seconds,
        "val_images_per_second": val_count / val_seconds if val_seconds > 0 else float("nan"),
    }


def _record(
    loop: _Loop, state: FitState, epoch: int, row: dict[str, Any], trained_on: tuple[float, int, int], started: float
) -> None:
    """Keep the best-validation weights (every epoch's without validation), finish ``row`` and add it to the
    history; ``state.epoch`` becomes ``epoch``."""
    if "val_accuracy" in row:
        if state.best_acc is None or row["val_accuracy"] > state.best_acc:
            state.best_acc, state.best_epoch, state.bad_epochs = row["val_accuracy"], epoch, 0
            state.best_state = cpu_state(state.model)
        else:
            state.bad_epochs += 1
    else:
        state.best_epoch, state.best_state = epoch, None
    train_seconds, seen, rank_seen = trained_on
    row.update(
        train_seconds=train_seconds,
        train_images_per_second=seen / train_seconds if train_seconds > 0 else float("nan"),
    )
    if loop.world > 1:
        row.update(_shares(loop.sampler, rank_seen, loop.world))
    row["seconds"] = time.perf_counter() - started
    state.history.append(row)
    state.epoch = epoch


def _distributed_module(module: nn.Module, config: TrainConfig, device: torch.device) -> nn.Module:
    """``module`` wrapped in DistributedDataParallel (its BatchNorms made SyncBatchNorm with ``sync_bn``)."""
    if getattr(config, "sync_bn", False):
        if device.type != "cuda":
            raise NnlabError("synchronised BatchNorm needs CUDA devices (PyTorch has no CPU kernel for it)")
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if not any(p.requires_grad for p in module.parameters()):
        raise NnlabError("nothing to train: every parameter is frozen")
    return DistributedDataParallel(module, device_ids=[device] if device.type == "cuda" else None)


def _shares(sampler: DistributedSampler, rank_seen: int, world: int) -> dict[str, Any]:
    """History columns of a distributed epoch: samples each rank trained on, and how many distinct samples
    the ranks' shares of the epoch covered together."""
    drawn = distributed.gather_rows(torch.tensor(list(iter(sampler)), dtype=torch.long), everywhere=True)
    return {
        "world_size": world,
        "rank_train_samples": distributed.all_gather_ints(rank_seen),
        "distinct_train_samples": int(drawn.unique().numel()),
    }
