"""Training hooks for `nnlab train`: adversarial training (``--adv``) and circle loss with a k-NN head.

Both plug into :func:`nnlab.training.train_run.run_train` as ``TrainRequest.hooks``: a
:class:`RobustnessSettings` whose ``fit_hooks`` returns extra :func:`nnlab.training.engine.fit`
keyword arguments:

- adversarial training returns a ``batch_hook`` that replaces a fraction of the training batches by
  adversarial ones generated against the current weights (the seed made half of them adversarial);
- circle loss turns the model into an embedding network with a k-NN head before training (surgery op
  ``knn``), and returns a ``loss_fn`` (circle loss on the flattened embedding that fed the old
  classifier) and a ``validate_fn`` that refreshes the head's bank with the training embeddings and
  classifies the validation split by k-NN. Because the bank is a buffer, the best-validation weights
  that ``fit`` keeps come with their own bank, and the saved artifact classifies on its own.

The settings are recorded in the training config's ``extra``, hence in the artifact's provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nnlab.errors import NnlabError, ParameterError
from nnlab.robustness.adversarial import adversarial_batch
from nnlab.robustness.base import check_unit
from nnlab.robustness.circle import CircleLoss
from nnlab.robustness.factory import accepted_params, create_attack
from nnlab.robustness.knn import KNNClassifier, op_knn
from nnlab.training.engine import map_dataset
from nnlab.training.recipe import DataOptions, dataset_for_model

LOSSES = ("ce", "circle")


@dataclass(frozen=True)
class RobustnessSettings:
    """The robustness options of a training run, validated on creation; ``TrainRequest.hooks`` of `nnlab train`.

    ``adv`` (an attack name or chain such as ``pixels+fgsm``) turns on adversarial training: a share
    ``adv_ratio`` of the batches is replaced by adversarial ones, made with the attack parameters
    ``eps``, ``alpha`` (numbers or fractions such as ``"8/255"``), ``steps`` and ``pixels``.
    ``loss="circle"`` trains with circle loss (margin ``circle_m``, scale ``circle_gamma``) and a
    k-NN head with ``knn`` neighbours. Attack parameters without ``adv`` are an error, so a forgotten
    attack does not silently train a plain model; the attack is built once on a stand-in model so that
    an unknown name or a bad value fails before any data is loaded.
    """

    adv: str | None = None
    adv_ratio: float = 0.5
    eps: float | str | None = None
    alpha: float | str | None = None
    steps: int | None = None
    pixels: int | None = None
    loss: str = "ce"
    circle_m: float = 0.4
    circle_gamma: float = 80.0
    knn: int = 3

    def __post_init__(self) -> None:
        given = {"eps": self.eps, "alpha": self.alpha, "steps": self.steps, "n": self.pixels}
        params = {k: check_unit(k, v) if k in ("eps", "alpha") else v for k, v in given.items() if v is not None}
        if self.loss not in LOSSES:
            raise NnlabError(f"unknown loss {self.loss!r}; valid: {', '.join(LOSSES)}")
        if self.adv is None:
            if params:
                names = ", ".join("pixels" if k == "n" else k for k in params)
                raise NnlabError(
                    f"attack parameters ({names}) only apply to adversarial training; name the attack "
                    "to train against (adv, e.g. pixels+fgsm)"
                )
        else:
            if self.loss == "circle":
                raise NnlabError(
                    "adversarial training cannot be combined with circle loss: a k-NN head has no "
                    "input gradient to attack during training"
                )
            ratio = self.adv_ratio
            if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
                raise ParameterError(
                    "adv_ratio", f"adv_ratio must be between 0 and 1 (the share of adversarial batches), got {ratio}"
                )
            create_attack(self.adv, nn.Identity(), **params)  # unknown names and bad values fail here, with one line
            params = {k: v for k, v in params.items() if k in accepted_params(self.adv)}
        if self.loss == "circle":
            CircleLoss(self.circle_m, self.circle_gamma)  # validates m and gamma
            if isinstance(self.knn, bool) or not isinstance(self.knn, int) or self.knn < 1:
                raise ParameterError("knn", f"knn (the k of the k-NN head) must be at least 1, got {self.knn!r}")
        object.__setattr__(self, "_attack_params", params)

    @property
    def attack_params(self) -> dict[str, Any]:
        """The attack's keyword arguments (``eps``, ``alpha``, ``steps``, ``n``) that apply to ``adv``, parsed."""
        return dict(self._attack_params)  # type: ignore[attr-defined]

    def settings(self) -> dict[str, Any]:
        """The active settings as JSON (recorded in the training config, hence the artifact); {} for plain training."""
        out: dict[str, Any] = {}
        if self.adv is not None:
            out.update(adv=self.adv, adv_ratio=float(self.adv_ratio), attack_params=self.attack_params)
        if self.loss == "circle":
            out.update(
                loss="circle", circle_m=float(self.circle_m), circle_gamma=float(self.circle_gamma), knn=int(self.knn)
            )
        return out

    def fit_hooks(self, model: Any, train_ds: Any, config: Any, request: Any) -> dict[str, Any]:
        """`fit` keyword arguments: a ``batch_hook`` for adversarial training; ``loss_fn``/``validate_fn`` for circle
        loss.

        Circle loss turns ``model`` into a k-NN model in place; its bank is the run's training split
        without augmentation (rebuilt from ``request``).
        """
        if self.adv is not None:
            return {"batch_hook": adversarial_hook(self.adv, self.attack_params, float(self.adv_ratio))}
        if self.loss == "circle":
            bank_ds, val_ds = _unaugmented_splits(model, request)
            return circle_hooks(
                model,
                bank_ds,
                val_ds,
                m=self.circle_m,
                gamma=self.circle_gamma,
                k=self.knn,
                batch_size=max(int(config.batch_size), 256),
            )
        return {}


# --------------------------------------------------------------------------- adversarial training


def adversarial_hook(name: str, params: Mapping[str, Any], ratio: float) -> Callable[..., tuple[Tensor, Tensor]]:
    """A ``fit`` batch hook that makes each batch adversarial with probability ``ratio``.

    The attack is built on the model being trained, so examples are generated against the current
    weights (in eval mode; the model's train mode and gradients are restored by the attack). The
    coin flip and the attack's own randomness (pixel positions, PGD start) are seeded from one draw
    of torch's global generator, which ``fit`` reseeds every epoch: a run, and a resumed run, see
    the same sequence of adversarial batches.
    """
    params = dict(params)

    def hook(model: nn.Module, images: Tensor, labels: Tensor, step: int) -> tuple[Tensor, Tensor]:
        batch_seed = int(torch.randint(0, 2**31 - 2, (1,)).item())
        attack = create_attack(name, model, **params, seed=batch_seed + 1)
        coin = torch.Generator().manual_seed(batch_seed)
        adversarial, _ = adversarial_batch(attack, images, labels, ratio=ratio, generator=coin)
        return adversarial, labels

    return hook


# --------------------------------------------------------------------------- circle loss + k-NN


def to_knn_model(model: Any, k: int) -> Any:
    """Turn a Classifier into an embedding network with a k-NN head, in place (surgery op ``knn``).

    The old final classifier is dropped; the spec records the op so that ``build_classifier`` (and so
    ``load_model``) rebuilds the same structure. Returns the model.
    """

    op = {"op": "knn", "k": int(k), "num_classes": len(model.spec.classes)}
    model.net = op_knn(model.net, op).to(model.mean.device)
    model.spec = model.spec.with_surgery(op)
    return model


def knn_head(model: Any) -> Any:
    """The KNNClassifier of a k-NN model (its ``head``), or None for any other model."""

    head = getattr(getattr(model, "net", model), "head", None)
    return head if isinstance(head, KNNClassifier) else None


class Encoder(nn.Module):
    """Pixels → the flattened embedding that a k-NN model's head classifies (everything but the head).

    A module of its own (sharing the model's layers, not its k-NN bank), so that circle-loss training
    under torchrun wraps exactly this forward pass in DistributedDataParallel.
    """

    def __init__(self, model: Any):
        super().__init__()
        self.body = model.net[:-1]
        self._normalize = model.normalize  # a bound method: the model's fixed mean/std, not a submodule

    def forward(self, images: Tensor) -> Tensor:
        return self.body(self._normalize(images))


def encoder(model: Any) -> Callable[[Tensor], Tensor]:
    """Pixels → the flattened embedding that a k-NN model's head classifies (an :class:`Encoder`)."""
    return Encoder(model)


def circle_hooks(
    model: Any, bank_ds: Any, val_ds: Any, *, m: float, gamma: float, k: int, batch_size: int = 256
) -> dict[str, Any]:
    """Convert ``model`` to a k-NN model and return ``fit``'s ``loss_fn`` and ``validate_fn`` for circle loss.

    The loss is :class:`CircleLoss` (m, gamma) on the batch's embeddings; the "logits" it reports are
    the leave-one-out k-NN votes inside the batch, so the training accuracy in the history means
    something. Validation embeds ``bank_ds`` (the training split without augmentation) into the
    head's bank, then reports the circle loss and k-NN accuracy on ``val_ds``. The returned
    ``train_module`` is the encoder the loss runs (under torchrun: each rank's batch, the bank gathered
    from all ranks' shares of ``bank_ds``).
    """
    to_knn_model(model, k)
    head = knn_head(model)
    encode = Encoder(model)
    criterion = CircleLoss(m, gamma)
    num_classes = head.num_classes

    def loss_fn(encode: nn.Module, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        embeddings = encode(images)
        return criterion(embeddings.float(), labels), batch_votes(embeddings.detach().float(), labels, k, num_classes)

    def validate_fn(model: nn.Module) -> tuple[float, float]:
        device = model.mean.device
        bank, bank_labels = embed_dataset(model, bank_ds, device, batch_size)
        head.set_bank(bank, bank_labels)
        val, val_labels = embed_dataset(model, val_ds, device, batch_size)
        with torch.no_grad():
            accuracy = (head.predict(val.to(device)).cpu() == val_labels).float().mean().item()
            losses = [
                criterion(chunk, labels).item() * len(chunk)
                for chunk, labels in zip(val.split(1024), val_labels.split(1024), strict=False)
            ]
        return sum(losses) / max(1, len(val)), accuracy

    return {"loss_fn": loss_fn, "validate_fn": validate_fn, "train_module": encode}


def batch_votes(embeddings: Tensor, labels: Tensor, k: int, num_classes: int) -> Tensor:
    """Leave-one-out k-NN vote fractions inside a batch (cosine similarity), N × num_classes."""
    n = len(labels)
    scores = torch.zeros(n, num_classes, device=embeddings.device)
    if n < 2:
        return scores
    normed = F.normalize(embeddings, p=2, dim=1)
    sim = normed @ normed.t()
    sim.fill_diagonal_(float("-inf"))
    neighbours = sim.topk(min(k, n - 1), dim=1).indices
    votes = labels[neighbours]
    scores.scatter_add_(1, votes, torch.ones_like(votes, dtype=scores.dtype))
    return scores / votes.shape[1]


@torch.no_grad()
def embed_dataset(model: Any, ds: Any, device: torch.device, batch_size: int = 256) -> tuple[Tensor, Tensor]:
    """Embeddings (CPU, float32) and labels of a dataset under a k-NN model's encoder, in eval mode.

    Under torchrun each rank embeds a share of the batches and every rank gets all of them, in order.
    """

    encode = encoder(model)
    was_training = model.training
    model.eval()
    try:
        return map_dataset(encode, ds, device, batch_size, empty="cannot build a k-NN bank from an empty dataset")
    finally:
        model.train(was_training)


def _unaugmented_splits(model: Any, request: Any) -> tuple[Any, Any]:
    """The run's train split without augmentation (for the bank) and its val split, shaped for ``model``."""

    balance = getattr(request, "balance", "none")
    data = DataOptions.of(request.data, request.runtime.seed, extra={"balance": balance} if balance != "none" else {})
    bank_ds = dataset_for_model(model, data, "train")
    val_ds = data.load("val", subset=False)
    return bank_ds, val_ds
