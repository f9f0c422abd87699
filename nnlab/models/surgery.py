"""Model surgery: the registry of surgery operations and the truncate / select / head operations.

Truncation works on nets whose forward is a chain of named children: ``nn.Sequential`` (and the
nnlab models built as such), nnlab's VGG16 / ResNet18 / MobileNetV2, and torchvision's VGG, ResNet
and MobileNetV2 (their functional flatten/pooling is re-inserted as a module). Any other net
(timm models, blocks with shortcuts) cannot be cut inside, and saying so is a clear error.

A surgered net is a :class:`SurgeredNet`: a flat ``nn.Sequential`` of the kept children (original
names, so the original state-dict keys still apply), then ``flatten``, ``select`` and ``head``.
Higher layers add operations by registering into :data:`SURGERY` (nnlab.robustness registers
``knn``); an artifact using such an operation loads once that package is imported.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from nnlab.errors import NnlabError, UnknownNameError, check_positive_int
from nnlab.models.listing import INSERTED, SurgeredNet, chain_plan, feature_dim, resolve_layer
from nnlab.models.spec import Classifier, ModelSpec
from nnlab.registry import Registry

SURGERY = Registry("surgery operation")


class SelectFeatures(nn.Module):
    """Keep the given columns of a flattened feature vector (indices stored as a buffer)."""

    def __init__(self, indices: Iterable[int]):
        super().__init__()
        self.register_buffer("indices", torch.as_tensor(list(indices), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, self.indices)

    def extra_repr(self) -> str:
        return f"features={self.indices.numel()}"


class MLPHead(nn.Sequential):
    """Dropout → Linear when there is no hidden layer, else (Linear, ReLU, Dropout) per hidden
    width then Linear: the seed S0 heads (400-10 and 400-4096-4096-10, dropout 0.2)."""

    def __init__(self, in_features: int, hidden: Iterable[int], dropout: float, num_classes: int):
        layers: list[nn.Module] = []
        previous = in_features
        hidden = list(hidden)
        if not hidden:
            layers.append(nn.Dropout(dropout))
        for width in hidden:
            layers += [nn.Linear(previous, width), nn.ReLU(), nn.Dropout(dropout)]
            previous = width
        layers.append(nn.Linear(previous, num_classes))
        super().__init__(*layers)


def chain_until(net: nn.Module, parts: list[str], where: str = "") -> list[tuple[str, nn.Module]]:
    """The ``(name, module)`` chain of ``net`` up to and including the layer ``parts`` (a dotted name split);
    ``where`` names the enclosing module in error messages."""
    plan = chain_plan(net)
    if plan is None:
        if not where:
            raise NnlabError(
                f"cannot truncate {type(net).__name__}: its forward is not a plain sequence of its children "
                "(truncation works for nnlab's models, nn.Sequential nets and torchvision VGG/ResNet/MobileNetV2)"
            )
        raise NnlabError(
            f"cannot cut inside {where} ({type(net).__name__}): its forward is not a plain sequence of its "
            f"children; cut at {where} itself or at another layer listed by inspect"
        )
    head, rest = parts[0], parts[1:]
    kept: list[tuple[str, nn.Module]] = []
    for entry in plan:
        if entry in INSERTED:
            kept.append((entry[1:], INSERTED[entry]()))
            continue
        module = net.get_submodule(entry)
        if entry != head:
            kept.append((entry, module))
            continue
        if rest:
            inner = chain_until(module, rest, f"{where}.{head}" if where else head)
            module = nn.Sequential(OrderedDict(inner))
        kept.append((entry, module))
        return kept
    raise NnlabError(
        f"cannot cut at {'.'.join(([where] if where else []) + parts)}: {head!r} is not run in sequence "
        f"by {type(net).__name__}"
    )


def unique_name(name: str, taken: Iterable[str]) -> str:
    """``name``, or ``name_1``, ``name_2``… when it is taken."""
    taken = set(taken)
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def check_op_keys(op: Mapping[str, Any], required: Iterable[str], optional: Iterable[str] = ()) -> None:
    """Fail clearly when a surgery operation lacks a required key or has an unknown one."""
    allowed = {"op", *required, *optional}
    missing = [k for k in required if k not in op]
    extra = [k for k in op if k not in allowed]
    if missing or extra:
        raise NnlabError(
            f"surgery operation {op.get('op')!r} needs {', '.join(required)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(extra)}" if extra else "")
        )


@SURGERY.register("truncate")
def op_truncate(net: nn.Module, op: Mapping[str, Any]) -> nn.Module:
    """Output the flattened activation after layer ``op["at"]``; later layers are dropped."""
    check_op_keys(op, ["at"])
    name = resolve_layer(net, op["at"])
    kept = chain_until(net, name.split("."))
    kept.append((unique_name("flatten", [n for n, _ in kept]), nn.Flatten()))
    return SurgeredNet(OrderedDict(kept))


def _require_surgered(net: nn.Module, what: str) -> SurgeredNet:
    if not isinstance(net, SurgeredNet):
        raise NnlabError(f"{what} needs a truncated model; truncate it first")
    if "head" in net._modules:
        raise NnlabError(f"{what} cannot follow a head; this model already has one")
    return net


@SURGERY.register("select")
def op_select(net: nn.Module, op: Mapping[str, Any]) -> nn.Module:
    """Keep the flattened features at ``op["indices"]``."""
    check_op_keys(op, ["indices"])
    net = _require_surgered(net, "feature selection")
    indices = _check_indices(op["indices"], None)
    children = list(net.named_children())
    children.append((unique_name("select", [n for n, _ in children]), SelectFeatures(indices)))
    return SurgeredNet(OrderedDict(children))


@SURGERY.register("head")
def op_head(net: nn.Module, op: Mapping[str, Any]) -> nn.Module:
    """Append an MLP head (``in_features``, ``hidden`` widths, ``dropout``, ``num_classes``)."""
    check_op_keys(op, ["in_features", "num_classes"], ["hidden", "dropout"])
    net = _require_surgered(net, "a head")
    in_features = check_positive_int(op["in_features"], "head in_features")
    num_classes = check_positive_int(op["num_classes"], "head num_classes")
    hidden = [check_positive_int(h, "hidden width") for h in op.get("hidden", [])]
    dropout = float(op.get("dropout", 0.0))
    if not 0.0 <= dropout < 1.0:
        raise NnlabError(f"dropout must be in [0, 1), got {dropout}")
    children = list(net.named_children())
    children.append(("head", MLPHead(in_features, hidden, dropout, num_classes)))
    return SurgeredNet(OrderedDict(children))


def _check_indices(indices: Any, dim: int | None) -> list[int]:
    try:
        values = [int(i) for i in (indices.tolist() if hasattr(indices, "tolist") else indices)]
    except (TypeError, ValueError):
        raise NnlabError("feature indices must be a list of integers") from None
    if not values:
        raise NnlabError("select at least one feature")
    if len(set(values)) != len(values):
        raise NnlabError("feature indices must be distinct")
    low, high = min(values), max(values)
    if dim == 0:
        raise NnlabError(f"the layer has no features to select (got indices {low}..{high})")
    if low < 0 or (dim is not None and high >= dim):
        valid = f"0..{dim - 1}" if dim is not None else "0 or above"
        raise NnlabError(
            f"feature indices must lie in {valid}, got {low}..{high}; is the ranking from another layer or width?"
        )
    return values


def apply_surgery(net: nn.Module, ops: Iterable[Mapping[str, Any]]) -> nn.Module:
    """Apply surgery operations in order (what ``build_classifier`` does with ``spec.surgery``)."""
    for op in ops:
        if not isinstance(op, Mapping) or "op" not in op:
            raise NnlabError(f"a surgery operation must be a dict with an 'op' key, got {op!r}")
        try:
            builder = SURGERY.get(str(op["op"]))
        except UnknownNameError as exc:
            raise UnknownNameError(
                f"{exc} (operations from other packages register when those are imported, "
                "e.g. 'knn' by nnlab.robustness)"
            ) from None
        net = builder(net, op)
    return net


def _rewrap(classifier: Classifier, net: nn.Module, spec: ModelSpec) -> Classifier:
    new = Classifier(net, spec).to(classifier.mean.device)
    new.train(classifier.training)
    return new


def truncate(classifier: Classifier, at: int | str) -> Classifier:
    """A new Classifier whose output is the flattened activation after layer ``at`` (index into
    :func:`profile_layers` or module name); weights are carried over, the op recorded in the spec."""
    name = resolve_layer(classifier.net, at)
    op = {"op": "truncate", "at": name}
    # the op only re-links kept modules, so copying afterwards copies just what is kept
    net = copy.deepcopy(op_truncate(classifier.net, op))
    return _rewrap(classifier, net, classifier.spec.with_surgery(op))


def attach_head(
    classifier: Classifier,
    indices: Iterable[int] | None = None,
    hidden: Iterable[int] = (),
    dropout: float = 0.2,
    num_classes: int | None = None,
    *,
    classes: list[str] | None = None,
) -> Classifier:
    """A new Classifier: truncated ``classifier`` + optional feature selection + a fresh MLP head.

    ``indices`` (None = keep all features) are validated against the actual feature count;
    ``classes`` renames the outputs (needed when ``num_classes`` differs from the model's).
    """
    _require_surgered(classifier.net, "a head")
    dim = feature_dim(classifier)
    spec = classifier.spec
    classes = list(classes) if classes is not None else list(spec.classes)
    num_classes = len(classes) if num_classes is None else check_positive_int(num_classes, "num_classes")
    if num_classes != len(classes):
        raise NnlabError(
            f"num_classes {num_classes} differs from the {len(classes)} class names; pass the new class names"
        )
    ops: list[dict[str, Any]] = []
    in_features = dim
    if indices is not None:
        chosen = _check_indices(indices, dim)
        ops.append({"op": "select", "indices": chosen})
        in_features = len(chosen)
    hidden = [check_positive_int(h, "hidden width") for h in hidden]
    ops.append(
        {
            "op": "head",
            "in_features": in_features,
            "hidden": hidden,
            "dropout": float(dropout),
            "num_classes": num_classes,
        }
    )
    new_spec = spec.with_surgery(*ops, classes=classes)
    new_spec.arch_kwargs.setdefault("num_classes", spec.arch_kwargs.get("num_classes", spec.num_classes))
    if new_spec.arch_kwargs["num_classes"] == num_classes:
        del new_spec.arch_kwargs["num_classes"]
    net = copy.deepcopy(apply_surgery(classifier.net, ops))
    return _rewrap(classifier, net, new_spec)
