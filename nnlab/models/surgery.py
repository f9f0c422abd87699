"""Model surgery: layer tables, parameter counts, freezing, SI layer lists, truncation and heads.

Truncation works on nets whose forward is a chain of named children: ``nn.Sequential`` (and the
nnlab models built as such), nnlab's VGG16 / ResNet18 / MobileNetV2, and torchvision's VGG, ResNet
and MobileNetV2 (their functional flatten/pooling is re-inserted as a module). Any other net
(timm models, blocks with shortcuts) cannot be cut inside, and saying so is a clear error.

A surgered net is a :class:`SurgeredNet`: a flat ``nn.Sequential`` of the kept children (original
names, so the original state-dict keys still apply), then ``flatten``, ``select`` and ``head``.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from collections import OrderedDict
from typing import Any, Iterable, Mapping, NamedTuple

import torch
from torch import nn

from nnlab.errors import NnlabError
from nnlab.models.spec import Classifier, ModelSpec
from nnlab.registry import Registry

SURGERY = Registry("surgery operation")

_INSERTED = {"+flatten": lambda: nn.Flatten(), "+pool": lambda: nn.AdaptiveAvgPool2d(1)}


class SurgeredNet(nn.Sequential):
    """A net rebuilt by surgery: a plain chain of named children."""


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


def _raw(net: nn.Module) -> nn.Module:
    return net.net if isinstance(net, Classifier) else net


# --------------------------------------------------------------------------- layer lists


def _known_plan(net: nn.Module) -> tuple[str, ...] | None:
    from torchvision.models import VGG, MobileNetV2, ResNet

    plan = getattr(type(net), "nnlab_chain", None)
    if plan is not None:
        return tuple(plan)
    if isinstance(net, nn.Sequential):
        return tuple(name for name, _ in net.named_children())
    if isinstance(net, VGG):
        return ("features", "avgpool", "+flatten", "classifier")
    if isinstance(net, ResNet):
        return ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "+flatten", "fc")
    if isinstance(net, MobileNetV2):
        return ("features", "+pool", "+flatten", "classifier")
    return None


def profile_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """Ordered ``(name, module)`` pairs whose outputs make a layer-wise SI profile.

    VGG16: the 31 modules of ``features`` ("features.0" … "features.30"). MobileNetV2: the blocks
    of ``features``, then pool, flatten, classifier. A surgered net: its children, with a
    ``features`` Sequential expanded. Anything else: its named children in registration order
    (containers are not expanded); for every nnlab model that order is the forward order.
    """
    from torchvision.models import VGG, MobileNetV2

    net = _raw(net)
    plan = getattr(type(net), "nnlab_profile", None)
    if plan is None:
        if isinstance(net, VGG):
            plan = ("features*",)
        elif isinstance(net, MobileNetV2):
            plan = ("features*", "classifier")
        elif isinstance(net, SurgeredNet):
            plan = tuple(f"{n}*" if n == "features" and isinstance(c, nn.Sequential) else n for n, c in net.named_children())
        else:
            plan = tuple(name for name, _ in net.named_children())
    layers: list[tuple[str, nn.Module]] = []
    for entry in plan:
        name = entry.rstrip("*")
        module = net.get_submodule(name)
        if entry.endswith("*"):
            layers += [(f"{name}.{child}", sub) for child, sub in module.named_children()]
        else:
            layers.append((name, module))
    return layers


def feature_layer(net: nn.Module) -> str:
    """Name of the module whose output is the representation fed to the final classifier.

    vgg16: ``features`` (512·(S/32)² values; the avgpool only replicates them to 7×7, so SI is the
    same); resnet18 and custom-resnet(-improved): ``avgpool``; mobilenet_v2: ``pool``; mlp:
    ``relu2``; cnn: ``flatten``; a surgered net: the child before ``head`` (``select`` or
    ``flatten``), or its last child when it has no head. Other nets: the module just before the
    final Linear classifier (timm: ``get_classifier()``).
    """
    from torchvision.models import VGG, MobileNetV2, ResNet

    net = _raw(net)
    name = getattr(type(net), "nnlab_feature_layer", None)
    if name is not None:
        return name
    if isinstance(net, SurgeredNet):
        names = [n for n, _ in net.named_children()]
        return names[names.index("head") - 1] if "head" in names and names.index("head") > 0 else names[-1]
    if isinstance(net, VGG):
        return "features"
    if isinstance(net, ResNet):
        return "avgpool"
    if isinstance(net, MobileNetV2):
        return "features"
    return _before_classifier(net)


def _before_classifier(net: nn.Module) -> str:
    modules = dict(net.named_modules())
    target = None
    get_classifier = getattr(net, "get_classifier", None)
    if callable(get_classifier):
        head = get_classifier()
        target = next((n for n, m in modules.items() if m is head and n), None)
    if target is None:
        target = next((n for n, m in reversed(list(modules.items())) if isinstance(m, nn.Linear)), None)
    while target:
        parent_name, _, child = target.rpartition(".")
        parent = modules[parent_name]
        siblings = [n for n, _ in parent.named_children()]
        position = siblings.index(child)
        if position > 0:
            previous = siblings[position - 1]
            return f"{parent_name}.{previous}" if parent_name else previous
        target = parent_name
    raise NnlabError(f"cannot tell which layer feeds the classifier of {type(net).__name__}; name a layer explicitly")


def resolve_layer(net: nn.Module, at: int | str) -> str:
    """A layer given as an index into :func:`profile_layers` (int or digit string) or as a module
    name → its module name; out-of-range or unknown → an error listing what is valid."""
    net = _raw(net)
    layers = [name for name, _ in profile_layers(net)]
    if isinstance(at, bool):
        raise NnlabError(f"layer must be an index or a name, got {at!r}")
    if isinstance(at, int) or (isinstance(at, str) and at.strip().isdigit()):
        index = int(at)
        if not 0 <= index < len(layers):
            raise NnlabError(
                f"layer index {index} is out of range; valid indices are 0..{len(layers) - 1} "
                f"({layers[0]} … {layers[-1]})"
            )
        return layers[index]
    name = str(at).strip()
    if name.startswith("net.") and name[4:] in dict(net.named_modules()):
        name = name[4:]
    if name and name in dict(net.named_modules()):
        return name
    shown = ", ".join(layers) if len(layers) <= 40 else ", ".join(layers[:40]) + ", …"
    raise NnlabError(f"unknown layer {name!r}; valid layers are indices 0..{len(layers) - 1} or names: {shown}")


# --------------------------------------------------------------------------- surgery ops


def _chain_until(net: nn.Module, parts: list[str], where: str) -> list[tuple[str, nn.Module]]:
    plan = _known_plan(net)
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
        if entry in _INSERTED:
            kept.append((entry[1:], _INSERTED[entry]()))
            continue
        module = net.get_submodule(entry)
        if entry != head:
            kept.append((entry, module))
            continue
        if rest:
            inner = _chain_until(module, rest, f"{where}.{head}" if where else head)
            module = nn.Sequential(OrderedDict(inner))
        kept.append((entry, module))
        return kept
    raise NnlabError(
        f"cannot cut at {'.'.join(([where] if where else []) + parts)}: {head!r} is not run in sequence "
        f"by {type(net).__name__}"
    )


def _unique(name: str, taken: Iterable[str]) -> str:
    taken = set(taken)
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def _check_keys(op: Mapping[str, Any], required: Iterable[str], optional: Iterable[str] = ()) -> None:
    allowed = {"op", *required, *optional}
    missing = [k for k in required if k not in op]
    extra = [k for k in op if k not in allowed]
    if missing or extra:
        raise NnlabError(f"surgery operation {op.get('op')!r} needs {', '.join(required)}"
                         + (f"; missing {', '.join(missing)}" if missing else "")
                         + (f"; unknown {', '.join(extra)}" if extra else ""))


@SURGERY.register("truncate")
def op_truncate(net: nn.Module, op: Mapping[str, Any]) -> nn.Module:
    """Output the flattened activation after layer ``op["at"]``; later layers are dropped."""
    _check_keys(op, ["at"])
    name = resolve_layer(net, op["at"])
    kept = _chain_until(net, name.split("."), "")
    kept.append((_unique("flatten", [n for n, _ in kept]), nn.Flatten()))
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
    _check_keys(op, ["indices"])
    net = _require_surgered(net, "feature selection")
    indices = _check_indices(op["indices"], None)
    children = list(net.named_children())
    children.append((_unique("select", [n for n, _ in children]), SelectFeatures(indices)))
    return SurgeredNet(OrderedDict(children))


@SURGERY.register("head")
def op_head(net: nn.Module, op: Mapping[str, Any]) -> nn.Module:
    """Append an MLP head (``in_features``, ``hidden`` widths, ``dropout``, ``num_classes``)."""
    _check_keys(op, ["in_features", "num_classes"], ["hidden", "dropout"])
    net = _require_surgered(net, "a head")
    in_features = _positive(op["in_features"], "head in_features")
    num_classes = _positive(op["num_classes"], "head num_classes")
    hidden = [_positive(h, "hidden width") for h in op.get("hidden", [])]
    dropout = float(op.get("dropout", 0.0))
    if not 0.0 <= dropout < 1.0:
        raise NnlabError(f"dropout must be in [0, 1), got {dropout}")
    children = list(net.named_children())
    children.append(("head", MLPHead(in_features, hidden, dropout, num_classes)))
    return SurgeredNet(OrderedDict(children))


def _positive(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit() or int(value) < 1:
        raise NnlabError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


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
    if low < 0 or (dim is not None and high >= dim):
        raise NnlabError(f"feature indices must lie in 0..{(dim or 0) - 1}, got {low}..{high}; "
                         "is the ranking from another layer or width?")
    return values


def apply_surgery(net: nn.Module, ops: Iterable[Mapping[str, Any]]) -> nn.Module:
    """Apply surgery operations in order (what ``build_classifier`` does with ``spec.surgery``)."""
    for op in ops:
        if not isinstance(op, Mapping) or "op" not in op:
            raise NnlabError(f"a surgery operation must be a dict with an 'op' key, got {op!r}")
        net = SURGERY.get(str(op["op"]))(net, op)
    return net


def feature_dim(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> int:
    """Flattened output size for one input (a Classifier's spec gives the shape)."""
    if input_shape is None:
        if not isinstance(model, Classifier):
            raise NnlabError("feature_dim of a raw net needs an input shape")
        input_shape = (model.spec.channels, model.spec.size, model.spec.size)
    out = _dry_run(model, input_shape)
    return int(out[0].numel())


def _dry_run(model: nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    ref = next(iter(model.parameters()), None)
    if ref is None:
        ref = next(iter(model.buffers()), None)
    device = ref.device if ref is not None else torch.device("cpu")
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
    shape = tuple(input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(shape, device=device, dtype=dtype))
    finally:
        model.train(was_training)
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out


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
    num_classes = len(classes) if num_classes is None else _positive(num_classes, "num_classes")
    if num_classes != len(classes):
        raise NnlabError(f"num_classes {num_classes} differs from the {len(classes)} class names; pass the new class names")
    ops: list[dict[str, Any]] = []
    in_features = dim
    if indices is not None:
        chosen = _check_indices(indices, dim)
        ops.append({"op": "select", "indices": chosen})
        in_features = len(chosen)
    ops.append({"op": "head", "in_features": in_features, "hidden": [_positive(h, "hidden width") for h in hidden],
                "dropout": float(dropout), "num_classes": num_classes})
    new_spec = spec.with_surgery(*ops, classes=classes)
    new_spec.arch_kwargs.setdefault("num_classes", spec.arch_kwargs.get("num_classes", spec.num_classes))
    if new_spec.arch_kwargs["num_classes"] == num_classes:
        del new_spec.arch_kwargs["num_classes"]
    net = copy.deepcopy(apply_surgery(classifier.net, ops))
    return _rewrap(classifier, net, new_spec)


# --------------------------------------------------------------------------- inspection


class LayerRow(NamedTuple):
    """One row of :func:`list_layers`."""

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    params: int


def list_layers(model: nn.Module, input_shape: tuple[int, ...], *, depth: int | None = None) -> list[LayerRow]:
    """Layers in the order they run, with output shape (batch dim dropped) and parameter count.

    ``depth=None`` lists leaf modules; ``depth=k`` lists modules down to nesting depth k (deeper
    parameters counted in their ancestor), so the params column always sums to the total.
    Names are relative to the raw net when ``model`` is a Classifier. Never-run modules come last
    with shape None.
    """
    strip = "net." if isinstance(model, Classifier) else ""
    chosen: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        if not name or (strip and name == "net"):
            continue
        level = name[len(strip):].count(".") + 1
        is_leaf = not any(True for _ in module.children())
        if (depth is None and is_leaf) or (depth is not None and (level == depth or (level < depth and is_leaf))):
            chosen[name] = module
    order: list[str] = []
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = []
    for name, module in chosen.items():
        def hook(_m: nn.Module, _inp: Any, out: Any, name: str = name) -> None:
            if name in shapes:
                return
            tensor = out[0] if isinstance(out, (tuple, list)) and out else out
            if isinstance(tensor, torch.Tensor):
                shapes[name] = tuple(tensor.shape[1:])
                order.append(name)
        hooks.append(module.register_forward_hook(hook))
    try:
        _dry_run(model, input_shape)
    finally:
        for handle in hooks:
            handle.remove()
    order += [n for n in chosen if n not in shapes]
    return [
        LayerRow(n[len(strip):], type(chosen[n]).__name__, shapes.get(n), sum(p.numel() for p in chosen[n].parameters()))
        for n in order
    ]


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(total, trainable)`` parameter counts (shared tensors counted once)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _patterns(patterns: str | Iterable[str]) -> list[str]:
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    out = [p.strip() for item in items for p in str(item).split(",") if p.strip()]
    if not out:
        raise NnlabError("give at least one parameter-name pattern")
    return out


def _matches(pattern: str, name: str) -> bool:
    if pattern.startswith("re:"):
        return re.search(pattern[3:], name) is not None
    return name == pattern or name.startswith(pattern + ".") or fnmatch.fnmatchcase(name, pattern)


def match_parameters(model: nn.Module, patterns: str | Iterable[str]) -> list[str]:
    """Parameter names matching any pattern: fnmatch globs (``features.*``), a plain prefix
    (``features`` = ``features.*``) or ``re:REGEX``; names of a Classifier match with or without
    the ``net.`` prefix. A pattern matching nothing is an error listing the top-level names."""
    names = [n for n, _ in model.named_parameters()]
    strip = "net." if isinstance(model, Classifier) else ""
    matched: list[str] = []
    for pattern in _patterns(patterns):
        try:
            hits = [n for n in names if _matches(pattern, n) or (strip and n.startswith(strip) and _matches(pattern, n[len(strip):]))]
        except re.error as err:
            raise NnlabError(f"bad regular expression in pattern {pattern!r}: {err}") from None
        if not hits:
            tops = sorted({n[len(strip):].split(".")[0] for n in names})
            raise NnlabError(f"pattern {pattern!r} matches no parameter; top-level names: {', '.join(tops)} "
                             "(use globs like 'features.*' or a prefix like 'features')")
        matched += [h for h in hits if h not in matched]
    return matched


def freeze(model: nn.Module, patterns: str | Iterable[str]) -> list[str]:
    """Stop training the matching parameters (``requires_grad = False``); returns their names."""
    names = match_parameters(model, patterns)
    params = dict(model.named_parameters())
    for name in names:
        params[name].requires_grad_(False)
    return names


def unfreeze(model: nn.Module, patterns: str | Iterable[str]) -> list[str]:
    """Train the matching parameters again; returns their names."""
    names = match_parameters(model, patterns)
    params = dict(model.named_parameters())
    for name in names:
        params[name].requires_grad_(True)
    return names


def set_trainable(model: nn.Module, patterns: str | Iterable[str]) -> list[str]:
    """Train only the matching parameters (``--trainable``): all others are frozen."""
    names = match_parameters(model, patterns)
    for name, param in model.named_parameters():
        param.requires_grad_(name in names)
    return names


# --------------------------------------------------------------------------- k-NN head (robustness)


@SURGERY.register("knn")
def op_knn(net: nn.Module, op: Mapping[str, Any]) -> nn.Module:
    """Replace the final classifier by a k-NN vote over the representation that fed it (circle-loss models).

    The kept chain ends at :func:`feature_layer` (for a surgered net: everything before its head), then
    ``flatten`` and ``head`` = :class:`nnlab.robustness.KNNClassifier` (``k``, ``num_classes``). The
    classifier's bank of training embeddings is a buffer, so it travels in the state dict and the
    artifact stays self-contained; ``feature_layer`` of the result is the flattened embedding.
    """
    from nnlab.robustness.knn import KNNClassifier

    _check_keys(op, ["k", "num_classes"])
    k = _positive(op["k"], "k-NN k")
    num_classes = _positive(op["num_classes"], "k-NN num_classes")
    if isinstance(net, SurgeredNet):
        kept = [(name, module) for name, module in net.named_children() if name != "head"]
    else:
        kept = _chain_until(net, feature_layer(net).split("."), "")
    if not kept:
        raise NnlabError("a k-NN head needs layers to compute an embedding")
    if not isinstance(kept[-1][1], nn.Flatten):
        kept.append((_unique("flatten", [n for n, _ in kept]), nn.Flatten()))
    kept.append(("head", KNNClassifier(num_classes, k)))
    return SurgeredNet(OrderedDict(kept))
