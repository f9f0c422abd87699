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

import copy
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
from torch.utils.data import Dataset, DistributedSampler, Subset, TensorDataset

from nnlab import distributed
from nnlab.data.loader import EpochLoader, make_loader
from nnlab.errors import ArtifactError, NnlabError
from nnlab.training.checkpoint import load_checkpoint, save_checkpoint
from nnlab.training.config import TrainConfig
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


@torch.no_grad()
def predict(
    model: nn.Module, batches: Iterable, device: torch.device, precision: str = "32"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and targets of ``model`` over an iterable of (images, labels) batches, in eval mode
    (``precision``: a resolved precision, see :mod:`nnlab.training.precision`)."""
    was_training = model.training
    model.eval()
    logits, targets = [], []
    for images, labels in batches:
        with autocast(device, precision):
            out = head_logits(model(images.to(device)))
        logits.append(out.float().cpu())
        targets.append(torch.as_tensor(labels))
    model.train(was_training)
    if not logits:
        raise NnlabError("the dataset is empty")
    return torch.cat(logits), torch.cat(targets).long()


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
    model: nn.Module, ds: Dataset, device: torch.device, batch_size: int = 256, num_workers: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and targets of ``model`` over ``ds`` in order (see `predict`).

    Under torchrun each rank predicts a contiguous run of whole batches (:func:`nnlab.distributed.shard_range`)
    and the results are gathered on every rank in order: the same tensors as one process computes.
    """
    return predict_shard(model, shard_loader(ds, batch_size, num_workers, device), device)


def shard_loader(ds: Dataset, batch_size: int, num_workers: int | None, device: torch.device):
    """A loader over this rank's share of ``ds`` (all of it in one process), in order, for :func:`predict_shard`."""
    part = distributed.shard_range(len(ds), batch_size)
    local = ds if len(part) == len(ds) else Subset(ds, part)
    return make_loader(local, batch_size, shuffle=False, num_workers=num_workers, pin_memory=device.type == "cuda")


@torch.no_grad()
def map_dataset(
    fn: Any,
    ds: Dataset,
    device: torch.device,
    batch_size: int = 256,
    num_workers: int | None = None,
    *,
    empty: str = "the dataset is empty",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``fn`` of every batch of ``ds`` (images on ``device``; results as float32 on the CPU) and the labels, in order.

    Under torchrun each rank maps a contiguous run of whole batches and every rank gets all rows, in the
    one-process order. An empty dataset is an error saying ``empty``.
    """
    part = distributed.shard_range(len(ds), batch_size)
    outputs, labels = [torch.empty(0, 0)], [torch.empty(0, dtype=torch.long)]
    loader = make_loader(
        Subset(ds, part), batch_size, shuffle=False, num_workers=num_workers, pin_memory=device.type == "cuda"
    )
    for images, targets in loader:
        outputs.append(fn(images.to(device)).float().cpu())
        labels.append(torch.as_tensor(targets).long())
    mapped = distributed.gather_rows(torch.cat(outputs[1:]) if len(outputs) > 1 else outputs[0], everywhere=True)
    gathered_labels = distributed.gather_rows(torch.cat(labels), everywhere=True)
    if not len(gathered_labels):
        raise NnlabError(empty)
    return mapped, gathered_labels


def predict_shard(model: nn.Module, loader: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """`predict` over a :func:`shard_loader`, the ranks' results gathered on every rank in order."""
    if not distributed.is_distributed():
        return predict(model, loader, device)
    if len(loader.dataset):
        logits, targets = predict(model, loader, device)
    else:
        logits, targets = torch.empty(0, 0), torch.empty(0, dtype=torch.long)
    logits = distributed.gather_rows(logits, everywhere=True)
    targets = distributed.gather_rows(targets, everywhere=True)
    if not len(targets):
        raise NnlabError("the dataset is empty")
    return logits, targets


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
    model.to(device)
    if config.channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    loss_fn = loss_fn or cross_entropy_loss(config, device)
    world, rank = distributed.world_size(), distributed.rank()
    precision = resolve_precision(config.precision, device)
    pin = device.type == "cuda"
    sampler = None
    if world > 1:  # set_epoch(epoch seed) draws the one-process permutation of the epoch and deals it out
        sampler = DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True, seed=0, drop_last=False)
    loader = EpochLoader(
        train_ds, config.batch_size, num_workers=config.num_workers, pin_memory=pin, sampler=sampler, uint8=True
    )
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise NnlabError("the training set is empty")
    accum = int(config.grad_accum)
    trained = _distributed_module(train_module or model, config, device) if world > 1 else (train_module or model)
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config, math.ceil(steps_per_epoch / accum))
    scaler = grad_scaler(device, precision)
    val_loader = None
    if val_ds is not None and validate_fn is None:
        val_loader = shard_loader(val_ds, max(config.batch_size, 256), config.num_workers, device)

    history: list[dict[str, Any]] = []
    best_state: dict[str, torch.Tensor] | None = None
    best_acc: float | None = None
    best_epoch = 0
    bad_epochs = 0
    start_epoch = 1
    resumed_from = None
    ckpt_path = Path(checkpoint) if checkpoint else None
    if resume:
        if ckpt_path is None or not ckpt_path.exists():
            raise NnlabError(f"cannot resume: no checkpoint at {ckpt_path}; start afresh instead")
        state = _load_checkpoint(ckpt_path, config, world)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and state["scheduler"] is not None:
                scheduler.load_state_dict(state["scheduler"])
            if state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ArtifactError(f"{ckpt_path} does not fit this model and optimizer ({first})") from None
        history, best_state, best_acc = state["history"], state["best_state"], state["best_acc"]
        best_epoch, bad_epochs = state["best_epoch"], state["bad_epochs"]
        start_epoch = resumed_from = state["epoch"] + 1

    params = [p for p in model.parameters() if p.requires_grad]
    stopped_early = False
    for epoch in range(start_epoch, config.epochs + 1):
        if config.patience is not None and bad_epochs >= config.patience:
            stopped_early = True
            break
        t0 = time.perf_counter()
        epoch_seed = config.seed * 1_000_003 + epoch
        seed_everything(epoch_seed * world + rank)  # the one-process seeds when world == 1
        model.train()
        trained.train()
        total_loss, correct, seen = 0.0, 0, 0
        lr = optimizer.param_groups[-1]["lr"]
        optimizer.zero_grad(set_to_none=True)
        for step, (images, labels) in enumerate(loader.epoch(epoch_seed)):
            images = _to_device(images, device, config.channels_last)
            labels = labels.to(device, non_blocking=True)
            if batch_hook is not None:
                images, labels = batch_hook(model, images, labels, step)
            group_start = step - step % accum
            group_size = min(accum, steps_per_epoch - group_start)
            last_of_group = step - group_start == group_size - 1
            no_sync = getattr(trained, "no_sync", None)  # DDP: all-reduce only on the group's last backward
            with no_sync() if no_sync is not None and not last_of_group else nullcontext():
                with autocast(device, precision):
                    loss, logits = loss_fn(trained, images, labels)
                scaler.scale(loss / group_size).backward()
            if last_of_group:
                if config.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                if scheduler is not None and config.schedule == "onecycle":
                    scheduler.step()
            n = labels.shape[0]
            total_loss += loss.item() * n
            seen += n
            if logits is not None:
                correct += (logits.argmax(1) == labels).sum().item()
            if on_batch is not None:
                on_batch(step + 1, steps_per_epoch)
        train_seconds = time.perf_counter() - t0
        rank_seen = seen
        if world > 1:
            total_loss, correct, seen = distributed.all_reduce_sum([total_loss, correct, seen])
            seen = int(seen)
            distributed.broadcast_buffers(model)  # validate and keep rank 0's BatchNorm statistics everywhere
        if not math.isfinite(total_loss):
            raise NnlabError(f"training diverged at epoch {epoch} (loss is not finite); lower the learning rate")
        if scheduler is not None and config.schedule != "onecycle":
            scheduler.step()

        row: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": total_loss / seen,
            "train_accuracy": correct / seen if correct or seen else float("nan"),
            "lr": lr,
        }
        t_val = time.perf_counter()
        if val_ds is not None or validate_fn is not None:
            if validate_fn is not None:
                val_loss, val_acc = validate_fn(model)
            else:
                res = _eval_result(*predict_shard(model, val_loader, device), False)
                val_loss, val_acc = res.loss, res.accuracy
            val_seconds = time.perf_counter() - t_val
            val_count = len(val_ds) if val_ds is not None else float("nan")
            row.update(
                val_loss=val_loss,
                val_accuracy=val_acc,
                val_seconds=val_seconds,
                val_images_per_second=val_count / val_seconds if val_seconds > 0 else float("nan"),
            )
            if best_acc is None or val_acc > best_acc:
                best_acc, best_epoch, bad_epochs = val_acc, epoch, 0
                best_state = _cpu_state(model)
            else:
                bad_epochs += 1
        else:
            best_epoch, best_state = epoch, None
        row.update(
            train_seconds=train_seconds,
            train_images_per_second=seen / train_seconds if train_seconds > 0 else float("nan"),
        )
        if world > 1:
            row.update(_shares(sampler, rank_seen, world))
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        if ckpt_path is not None and rank == 0:
            _save_checkpoint(
                ckpt_path,
                model,
                optimizer,
                scheduler,
                scaler,
                config,
                epoch,
                history,
                best_state,
                best_acc,
                best_epoch,
                bad_epochs,
                world,
            )
        if on_epoch is not None:
            on_epoch(row)

    if best_state is not None:
        model.load_state_dict(best_state)
    if device.type == "cuda":
        model.to(memory_format=torch.contiguous_format)
    return FitResult(
        history=history,
        best_epoch=best_epoch,
        best_val_accuracy=best_acc,
        stopped_early=stopped_early,
        resumed_from=resumed_from,
    )


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


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


_RESUME_KEYS = (
    "batch_size",
    "optimizer",
    "lr",
    "lr_head",
    "momentum",
    "weight_decay",
    "schedule",
    "step_size",
    "gamma",
    "label_smoothing",
    "seed",
    "class_weights",
    "grad_accum",
)
_RESUME_DEFAULTS = {"grad_accum": 1}  # checkpoints made before the option existed


def _save_checkpoint(
    path: Path,
    model,
    optimizer,
    scheduler,
    scaler,
    config,
    epoch,
    history,
    best_state,
    best_acc,
    best_epoch,
    bad_epochs,
    world,
) -> None:
    state = {
        "world_size": world,
        "epoch": epoch,
        "model": _cpu_state(model),
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler.is_enabled() else None,
        "config": config.to_dict(),
        "history": history,
        "best_state": best_state,
        "best_acc": best_acc,
        "best_epoch": best_epoch,
        "bad_epochs": bad_epochs,
    }
    save_checkpoint(path, state)


_CHECKPOINT_TYPES = {
    "epoch": int,
    "model": dict,
    "optimizer": dict,
    "scheduler": (dict, type(None)),
    "config": dict,
    "history": list,
    "best_state": (dict, type(None)),
    "best_acc": (float, int, type(None)),
    "best_epoch": int,
    "bad_epochs": int,
}


def _load_checkpoint(path: Path, config: TrainConfig, world: int = 1) -> dict[str, Any]:
    state = load_checkpoint(path)
    wrong = [k for k, t in _CHECKPOINT_TYPES.items() if k not in state or not isinstance(state[k], t)]
    if wrong:
        raise ArtifactError(f"{path} is not a usable nnlab checkpoint (missing or malformed {', '.join(wrong)})")
    saved_world = state.get("world_size", 1)
    if saved_world != world:
        raise NnlabError(
            f"cannot resume: the checkpoint was made by {saved_world} process(es) and this run has {world}; "
            "the batches depend on it, so resume with the same number of processes or start afresh"
        )
    saved = state["config"]
    changed = [k for k in _RESUME_KEYS if saved.get(k, _RESUME_DEFAULTS.get(k)) != getattr(config, k)]
    if changed:
        raise NnlabError(
            f"cannot resume: the checkpoint was made with different {', '.join(changed)}; "
            "use the same options or start afresh"
        )
    if saved.get("epochs") != config.epochs and config.schedule in ("cosine", "onecycle"):
        raise NnlabError(
            "cannot resume: the checkpoint was made with a different number of epochs, which changes this schedule"
        )
    return state
