"""Layer listing: the layers of a net in forward order, SI profile layers, the representation layer.

These read a net without changing it. They know the nets whose forward is a chain of named
children (``nn.Sequential`` and nnlab's models, torchvision VGG/ResNet/MobileNetV2, a surgered net);
any other net is listed by its registered children or, for the feature layer, by the module that
feeds its final Linear classifier.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

import torch
from torch import nn

from nnlab.device import module_device
from nnlab.errors import NnlabError
from nnlab.models.spec import Classifier

INSERTED = {"+flatten": lambda: nn.Flatten(), "+pool": lambda: nn.AdaptiveAvgPool2d(1)}


class SurgeredNet(nn.Sequential):
    """A net rebuilt by surgery: a plain chain of named children."""


def raw_net(net: nn.Module) -> nn.Module:
    """The bare net inside a Classifier (the net itself otherwise)."""
    return net.net if isinstance(net, Classifier) else net


def _is_torchvision(net: nn.Module, name: str) -> bool:
    """Whether ``net`` is an instance of torchvision's model class ``name`` (VGG, ResNet, MobileNetV2).

    A net cannot be one unless torchvision.models is loaded, so this asks without importing torchvision (which
    takes seconds) for the nets that are not.
    """
    models = sys.modules.get("torchvision.models")
    return models is not None and isinstance(net, getattr(models, name))


def chain_plan(net: nn.Module) -> tuple[str, ...] | None:
    """The children a net runs in sequence (``+flatten``/``+pool`` mark functional steps), or None
    when its forward is not such a chain."""
    plan = getattr(type(net), "nnlab_chain", None)
    if plan is not None:
        return tuple(plan)
    if isinstance(net, nn.Sequential):
        return tuple(name for name, _ in net.named_children())
    if _is_torchvision(net, "VGG"):
        return ("features", "avgpool", "+flatten", "classifier")
    if _is_torchvision(net, "ResNet"):
        return ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "+flatten", "fc")
    if _is_torchvision(net, "MobileNetV2"):
        return ("features", "+pool", "+flatten", "classifier")
    return None


def profile_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """Ordered ``(name, module)`` pairs whose outputs make a layer-wise SI profile.

    VGG16: the 31 modules of ``features`` ("features.0" … "features.30"). MobileNetV2: the blocks
    of ``features``, then pool, flatten, classifier. A surgered net: its children, with a
    ``features`` Sequential expanded. Anything else: its named children in registration order
    (containers are not expanded); for every nnlab model that order is the forward order.
    """
    net = raw_net(net)
    plan = getattr(type(net), "nnlab_profile", None)
    if plan is None:
        if _is_torchvision(net, "VGG"):
            plan = ("features*",)
        elif _is_torchvision(net, "MobileNetV2"):
            plan = ("features*", "classifier")
        elif isinstance(net, SurgeredNet):
            plan = tuple(
                f"{n}*" if n == "features" and isinstance(c, nn.Sequential) else n for n, c in net.named_children()
            )
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
    net = raw_net(net)
    name = getattr(type(net), "nnlab_feature_layer", None)
    if name is not None:
        return name
    if isinstance(net, SurgeredNet):
        names = [n for n, _ in net.named_children()]
        return names[names.index("head") - 1] if "head" in names and names.index("head") > 0 else names[-1]
    if _is_torchvision(net, "VGG"):
        return "features"
    if _is_torchvision(net, "ResNet"):
        return "avgpool"
    if _is_torchvision(net, "MobileNetV2"):
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
    net = raw_net(net)
    layers = [name for name, _ in profile_layers(net)]
    if not layers:
        raise NnlabError(f"the model ({type(net).__name__}) has no layers to select")
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


def feature_dim(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> int:
    """Flattened output size for one input (a Classifier's spec gives the shape)."""
    if input_shape is None:
        if not isinstance(model, Classifier):
            raise NnlabError("feature_dim of a raw net needs an input shape")
        input_shape = (model.spec.channels, model.spec.size, model.spec.size)
    out = dry_run(model, input_shape)
    return int(out[0].numel())


def dry_run(model: nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    """The model's output for one zero input of ``input_shape`` (eval mode, no grad; the mode is restored)."""
    ref = next(iter(model.parameters()), None)
    if ref is None:
        ref = next(iter(model.buffers()), None)
    device = module_device(model)
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
        level = name[len(strip) :].count(".") + 1
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
        dry_run(model, input_shape)
    finally:
        for handle in hooks:
            handle.remove()
    order += [n for n in chosen if n not in shapes]
    return [
        LayerRow(
            n[len(strip) :], type(chosen[n]).__name__, shapes.get(n), sum(p.numel() for p in chosen[n].parameters())
        )
        for n in order
    ]


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(total, trainable)`` parameter counts (shared tensors counted once)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)
