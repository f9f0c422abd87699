"""``ModelSpec`` (everything needed to rebuild a model) and ``Classifier`` (normalization + net).

A model artifact stores the spec as string metadata and the Classifier's state dict; rebuilding is
``build_classifier(spec)`` (nnlab.models.build) then ``load_state_dict``. The Classifier takes pixels in [0, 1] and
normalizes inside, so attack budgets stay in pixel units.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
from torch import nn

from nnlab.artifacts import ListOf, json_default, parse_json_field, read_json_field
from nnlab.device import module_device
from nnlab.errors import MetadataError, NnlabError

META_KEYS = ("nnlab.arch", "nnlab.arch_kwargs", "nnlab.classes", "nnlab.input", "nnlab.surgery")
_NOT_ARCH_KWARGS = ("pretrained", "weights")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=json_default, sort_keys=True)


@dataclass
class ModelSpec:
    """Architecture name and options, class names, input format and the surgery applied, in order.

    ``input`` = ``{"channels": C, "size": S, "mean": [C floats], "std": [C floats]}``;
    ``arch_kwargs`` holds ``width`` and the architecture's options, never pretrained/weights.
    """

    arch: str
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    input: dict[str, Any] = field(default_factory=dict)
    surgery: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.arch_kwargs = {k: v for k, v in dict(self.arch_kwargs).items() if k not in _NOT_ARCH_KWARGS}
        self.arch_kwargs.setdefault("width", 1.0)
        self.classes = [str(c) for c in self.classes]
        self.input = dict(self.input)
        self.surgery = [dict(op) for op in self.surgery]

    @property
    def num_classes(self) -> int:
        """Number of output classes."""
        return len(self.classes)

    @property
    def channels(self) -> int:
        """Input channels."""
        return int(self.input.get("channels", 3))

    @property
    def size(self) -> int:
        """Input height = width in pixels."""
        return int(self.input.get("size", 32))

    def with_surgery(self, *ops: Mapping[str, Any], classes: list[str] | None = None) -> ModelSpec:
        """A copy with ``ops`` appended (and optionally new class names)."""
        spec = copy.deepcopy(self)
        spec.surgery.extend(json.loads(_dumps(dict(op))) for op in ops)
        if classes is not None:
            spec.classes = [str(c) for c in classes]
        return spec

    def to_metadata(self) -> dict[str, str]:
        """String metadata for an artifact: ``nnlab.arch`` is the registry name, the rest JSON."""
        return {
            "nnlab.arch": self.arch,
            "nnlab.arch_kwargs": _dumps(self.arch_kwargs),
            "nnlab.classes": _dumps(self.classes),
            "nnlab.input": _dumps(self.input),
            "nnlab.surgery": _dumps(self.surgery),
        }

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str], path: str | os.PathLike = "model artifact") -> ModelSpec:
        """Inverse of :meth:`to_metadata`; extra keys are ignored, a missing or malformed field is a
        :class:`~nnlab.errors.MetadataError` naming ``path`` and the field."""
        meta = dict(meta)
        arch = meta.get("nnlab.arch")
        if arch is None:
            raise MetadataError(f"{path}: metadata field nnlab.arch is missing; is this an nnlab model artifact?")
        if arch.startswith('"'):
            arch = parse_json_field(path, "nnlab.arch", arch, str)
        if not arch or len(arch) > 200:
            raise MetadataError(f"{path}: metadata field nnlab.arch is not a model name")
        arch_kwargs = read_json_field(
            path, meta, "nnlab.arch_kwargs", dict, fields={"width": float, "num_classes": int}
        )
        width = arch_kwargs.get("width", 1.0)
        if not 0 < width <= MAX_WIDTH:
            raise MetadataError(
                f"{path}: metadata field nnlab.arch_kwargs.width must be in (0, {MAX_WIDTH}], found {width}"
            )
        if "num_classes" in arch_kwargs and not 1 <= arch_kwargs["num_classes"] <= MAX_CLASSES:
            raise MetadataError(f"{path}: metadata field nnlab.arch_kwargs.num_classes must be in 1..{MAX_CLASSES}")
        classes = read_json_field(path, meta, "nnlab.classes", ListOf(str, MAX_CLASSES))
        if not classes:
            raise MetadataError(f"{path}: metadata field nnlab.classes is empty")
        input_ = read_json_field(
            path,
            meta,
            "nnlab.input",
            dict,
            fields={"channels": int, "size": int, "mean": ListOf(float), "std": ListOf(float)},
        )
        _check_input(path, input_)
        surgery = read_json_field(path, meta, "nnlab.surgery", ListOf(dict, 1000))
        if any(not isinstance(op.get("op"), str) for op in surgery):
            raise MetadataError(f"{path}: metadata field nnlab.surgery has a step without an 'op' name")
        return cls(arch=arch, arch_kwargs=arch_kwargs, classes=classes, input=input_, surgery=surgery)


MAX_WIDTH = 64.0
MAX_CLASSES = 100_000
MAX_CHANNELS = 64
MAX_SIZE = 2048


def _check_input(path: str | os.PathLike, input_: dict[str, Any]) -> None:
    missing = [k for k in ("channels", "size", "mean", "std") if k not in input_]
    if missing:
        raise MetadataError(f"{path}: metadata field nnlab.input lacks {', '.join(missing)}")
    channels, size = input_["channels"], input_["size"]
    if not 1 <= channels <= MAX_CHANNELS:
        raise MetadataError(
            f"{path}: metadata field nnlab.input.channels must be in 1..{MAX_CHANNELS}, found {channels}"
        )
    if not 1 <= size <= MAX_SIZE:
        raise MetadataError(f"{path}: metadata field nnlab.input.size must be in 1..{MAX_SIZE}, found {size}")
    for key in ("mean", "std"):
        if len(input_[key]) != channels:
            raise MetadataError(
                f"{path}: metadata field nnlab.input.{key} needs {channels} values, found {len(input_[key])}"
            )
    if any(s <= 0 for s in input_["std"]):
        raise MetadataError(f"{path}: metadata field nnlab.input.std must be positive")


class Classifier(nn.Module):
    """``forward(x) = net((x - mean) / std)`` for pixels ``x`` in [0, 1]; ``.spec`` describes it.

    mean/std are non-persistent buffers (they come from ``spec.input``, not from the state dict).
    """

    def __init__(self, net: nn.Module, spec: ModelSpec):
        super().__init__()
        self.net = net
        self.spec = spec
        channels = spec.channels
        mean = [float(m) for m in spec.input.get("mean", [0.0] * channels)]
        std = [float(s) for s in spec.input.get("std", [1.0] * channels)]
        if len(mean) != channels or len(std) != channels:
            raise NnlabError(f"input mean/std need {channels} values each, got {len(mean)} and {len(std)}")
        if any(s <= 0 for s in std):
            raise NnlabError(f"input std values must be positive, got {std}")
        device = module_device(net)
        self.register_buffer(
            "mean", torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1), persistent=False
        )

    @property
    def classes(self) -> list[str]:
        """Class names, in logit order."""
        return self.spec.classes

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] → the net's input."""
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))

    def extra_repr(self) -> str:
        ops = [op.get("op") for op in self.spec.surgery]
        return f"arch={self.spec.arch!r}, classes={len(self.spec.classes)}, surgery={ops}"
