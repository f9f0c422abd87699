"""``ModelSpec`` (everything needed to rebuild a model) and ``Classifier`` (normalization + net).

A model artifact stores the spec as string metadata and the Classifier's state dict; rebuilding is
``build_classifier(spec)`` (nnlab.models.build) then ``load_state_dict``. The Classifier takes pixels in [0, 1] and
normalizes inside, so attack budgets stay in pixel units.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
from torch import nn

from nnlab.artifacts import json_default
from nnlab.device import module_device
from nnlab.errors import ArtifactError, NnlabError

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
    def from_metadata(cls, meta: Mapping[str, str]) -> ModelSpec:
        """Inverse of :meth:`to_metadata`; extra keys are ignored, missing or broken ones raise."""
        missing = [k for k in META_KEYS if k not in meta]
        if missing:
            raise ArtifactError(f"the model metadata lacks {', '.join(missing)}; is this an nnlab model artifact?")
        try:
            arch = meta["nnlab.arch"]
            if arch.startswith('"'):
                arch = json.loads(arch)
            arch_kwargs = json.loads(meta["nnlab.arch_kwargs"])
            classes = json.loads(meta["nnlab.classes"])
            input_ = json.loads(meta["nnlab.input"])
            surgery = json.loads(meta["nnlab.surgery"])
        except (TypeError, ValueError) as err:
            raise ArtifactError(f"the model metadata is not valid JSON ({err})") from err
        if not (isinstance(arch_kwargs, dict) and isinstance(classes, list) and isinstance(input_, dict)
                and isinstance(surgery, list) and all(isinstance(op, dict) for op in surgery)):
            raise ArtifactError("the model metadata has the wrong structure (arch_kwargs, classes, input or surgery)")
        return cls(arch=str(arch), arch_kwargs=arch_kwargs, classes=classes, input=input_, surgery=surgery)


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
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1), persistent=False)

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
        return f"arch={self.spec.arch!r}, classes={len(self.spec.classes)}, surgery={[op.get('op') for op in self.spec.surgery]}"
