"""k-nearest-neighbour classification head over a stored bank of training embeddings, and the ``knn``
surgery operation (registered here into nnlab.models' surgery registry) that puts one on a model."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nnlab.errors import NnlabError, check_positive_int
from nnlab.models.listing import SurgeredNet, feature_layer
from nnlab.models.surgery import SURGERY, chain_until, check_op_keys, unique_name

_CHUNK_ELEMENTS = 1 << 24  # query×bank similarities computed per chunk (64 MiB in float32)


class KNNClassifier(nn.Module):
    """Classify embeddings by majority vote of their k nearest neighbours in a bank.

    The bank (L2-normalised training embeddings, ``bank``) and its labels (``bank_labels``) are
    buffers, so they travel in the model's state dict and a saved model stays self-contained; loading
    a state dict resizes them to the stored bank, so ``KNNClassifier(num_classes, k)`` with an empty
    bank can be filled by ``load_state_dict``. ``k`` and ``num_classes`` are constructor settings.

    Distance: cosine distance ``1 − cos(q, b)`` (queries are L2-normalised too), which ranks neighbours
    exactly as Euclidean distance between the normalised vectors. Votes are uniform. ``forward``
    returns the vote fractions (N × num_classes, rows summing to 1), used as class scores/"logits":
    their argmax is the prediction and vote ties go to the smallest class index, as in
    scikit-learn's ``KNeighborsClassifier``. Neighbours at exactly equal distance are ordered
    arbitrarily. The output is not differentiable in the input (gradient attacks cannot use it).
    """

    def __init__(self, num_classes: int, k: int = 3, embeddings: Tensor | None = None, labels: Tensor | None = None):
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise NnlabError(f"k-NN needs a positive number of classes, got {num_classes!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise NnlabError(f"k-NN needs k ≥ 1 neighbours, got {k!r}")
        self.num_classes = num_classes
        self.k = k
        self.register_buffer("bank", torch.empty(0, 0))
        self.register_buffer("bank_labels", torch.empty(0, dtype=torch.long))
        if embeddings is not None or labels is not None:
            if embeddings is None or labels is None:
                raise NnlabError("k-NN needs both the bank embeddings and their labels")
            self.set_bank(embeddings, labels)

    def set_bank(self, embeddings: Tensor, labels: Tensor) -> None:
        """Replace the bank by ``embeddings`` (N × D, normalised here) and ``labels`` (N class indices)."""
        if embeddings.dim() != 2 or labels.dim() != 1 or embeddings.shape[0] != labels.shape[0]:
            raise NnlabError(
                f"k-NN bank needs N×D embeddings and N labels, got {tuple(embeddings.shape)} and {tuple(labels.shape)}"
            )
        if embeddings.shape[0] < self.k:
            raise NnlabError(f"k-NN with k={self.k} needs at least {self.k} bank embeddings, got {embeddings.shape[0]}")
        labels = labels.long()
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise NnlabError(
                f"k-NN bank labels must lie in [0, {self.num_classes}), got {int(labels.min())}..{int(labels.max())}"
            )
        self.bank = F.normalize(embeddings.detach().float(), p=2, dim=1).to(self.bank.device)
        self.bank_labels = labels.detach().to(self.bank.device)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        for name in ("bank", "bank_labels"):
            stored = state_dict.get(prefix + name)
            if isinstance(stored, Tensor) and stored.shape != self._buffers[name].shape:
                self._buffers[name] = torch.empty_like(stored, device=self._buffers[name].device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def neighbours(self, embeddings: Tensor) -> Tensor:
        """Indices into the bank of each query's k nearest neighbours, nearest first (N × k)."""
        if self.bank.shape[0] < self.k:
            raise NnlabError(f"the k-NN bank holds {self.bank.shape[0]} embeddings, fewer than k={self.k}")
        if embeddings.dim() != 2 or embeddings.shape[1] != self.bank.shape[1]:
            raise NnlabError(f"k-NN expects N×{self.bank.shape[1]} embeddings, got {tuple(embeddings.shape)}")
        queries = F.normalize(embeddings.to(self.bank.dtype), p=2, dim=1)
        rows = max(1, _CHUNK_ELEMENTS // max(1, self.bank.shape[0]))
        return (
            torch.cat([(chunk @ self.bank.t()).topk(self.k, dim=1).indices for chunk in queries.split(rows)])
            if len(queries)
            else torch.empty(0, self.k, dtype=torch.long, device=self.bank.device)
        )

    def forward(self, embeddings: Tensor) -> Tensor:
        """Vote fractions per class (N × num_classes)."""
        with torch.no_grad():
            votes = self.bank_labels[self.neighbours(embeddings)]
            scores = torch.zeros(len(votes), self.num_classes, device=votes.device)
            scores.scatter_add_(1, votes, torch.ones_like(votes, dtype=scores.dtype))
        return scores / self.k

    def predict(self, embeddings: Tensor) -> Tensor:
        """Predicted class per embedding (majority vote, ties to the smallest class index)."""
        return self.forward(embeddings).argmax(dim=1)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, k={self.k}, bank={tuple(self.bank.shape)}"


def embedding_head(embeddings: Tensor, labels: Tensor, k: int, num_classes: int) -> KNNClassifier:
    """Build a :class:`KNNClassifier` over training ``embeddings`` and ``labels`` (on their device).

    Compose it after an embedding network (``nn.Sequential(encoder, head)``) to get a model that maps
    images to class scores like any classifier.
    """
    head = KNNClassifier(num_classes, k).to(embeddings.device)
    head.set_bank(embeddings, labels)
    return head


@SURGERY.register("knn")
def op_knn(net: nn.Module, op: Mapping[str, Any]) -> nn.Module:
    """Replace the final classifier by a k-NN vote over the representation that fed it (circle-loss models).

    The kept chain ends at :func:`feature_layer` (for a surgered net: everything before its head), then
    ``flatten`` and ``head`` = :class:`KNNClassifier` (``k``, ``num_classes``). The
    classifier's bank of training embeddings is a buffer, so it travels in the state dict and the
    artifact stays self-contained; ``feature_layer`` of the result is the flattened embedding.
    """
    check_op_keys(op, ["k", "num_classes"])
    k = check_positive_int(op["k"], "k-NN k")
    num_classes = check_positive_int(op["num_classes"], "k-NN num_classes")
    if isinstance(net, SurgeredNet):
        kept = [(name, module) for name, module in net.named_children() if name != "head"]
    else:
        kept = chain_until(net, feature_layer(net).split("."))
    if not kept:
        raise NnlabError("a k-NN head needs layers to compute an embedding")
    if not isinstance(kept[-1][1], nn.Flatten):
        kept.append((unique_name("flatten", [n for n, _ in kept]), nn.Flatten()))
    kept.append(("head", KNNClassifier(num_classes, k)))
    return SurgeredNet(OrderedDict(kept))
