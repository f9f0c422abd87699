"""Model artifacts: save a Classifier with everything needed to rebuild it, and load it back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from nnlab.artifacts import PROVENANCE_FIELDS, open_tensors, read_json_field, save_tensors
from nnlab.errors import ArtifactError, NnlabError
from nnlab.models.build import build_classifier
from nnlab.models.spec import Classifier, ModelSpec


def save_model(
    path: str | os.PathLike,
    model: Classifier,
    metrics: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write a self-describing model artifact: weights plus everything needed to rebuild the model."""
    metadata: dict[str, str] = dict(model.spec.to_metadata())
    metadata["nnlab.provenance"] = json.dumps(provenance or {})
    if metrics:
        metadata["nnlab.metrics"] = json.dumps(metrics)
    return save_tensors(path, model.net.state_dict(), metadata, "model")


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> Classifier:
    """Rebuild a model from its artifact alone (architecture, surgery, weights), in eval mode."""
    tensors, metadata = open_tensors(path, "model")
    spec = ModelSpec.from_metadata(metadata, path=path)
    metrics = read_json_field(path, metadata, "nnlab.metrics", dict, {})
    provenance = read_json_field(path, metadata, "nnlab.provenance", dict, {}, fields=PROVENANCE_FIELDS)
    try:
        model = build_classifier(spec)
    except ArtifactError:
        raise
    except NnlabError as exc:  # e.g. an option outside the architecture's allow-list
        raise ArtifactError(f"{path}: {exc}") from None
    except Exception as exc:  # the metadata is untrusted input: a description no builder accepts is the file's fault
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ArtifactError(
            f"{path}: the model its metadata describes cannot be built ({type(exc).__name__}: {first})"
        ) from None
    check_weights(path, model.net.state_dict(), tensors)
    try:
        model.net.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:  # check_weights should have caught it; torch's first line names no tensor
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        raise ArtifactError(f"{path}: weights do not fit the described architecture ({lines[-1][:200]})") from None
    model.metrics = metrics
    model.provenance = provenance
    model.source_path = str(path)
    return model.to(device).eval()


def check_weights(path: str | os.PathLike, expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> None:
    """Refuse stored tensors that do not match the architecture's by name, dtype and shape, before any is copied.

    ``load_state_dict`` would cast a tensor of another dtype silently (integers become float weights) and
    reports a shape mismatch as a multi-line message; here the first mismatch is one line naming the
    tensor, what the architecture needs and what the file holds. A tensor the architecture builds empty
    (a bank that loading fills, e.g. a k-NN head's) may hold any shape of the same rank.
    """
    missing = [k for k in expected if k not in found]
    if missing:
        want = expected[missing[0]]
        raise ArtifactError(
            f"{path}: the described architecture needs tensor {missing[0]!r} ({_describe(want)}), which the file "
            f"lacks ({len(missing)} of {len(expected)} missing)"
        )
    extra = [k for k in found if k not in expected]
    if extra:
        raise ArtifactError(
            f"{path}: the file holds tensor {extra[0]!r}, which the described architecture has no place for "
            f"({len(extra)} such tensors)"
        )
    for name, want in expected.items():
        got = found[name]
        if got.dtype != want.dtype:
            raise ArtifactError(
                f"{path}: tensor {name!r} is stored as {_dtype(got)}, but the architecture needs {_dtype(want)}"
            )
        fills_on_load = want.numel() == 0 and got.dim() == want.dim()
        if got.shape != want.shape and not fills_on_load:
            raise ArtifactError(
                f"{path}: tensor {name!r} has shape {_shape(got)}, but the architecture needs {_shape(want)}"
            )


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def _shape(t: torch.Tensor) -> str:
    return str(list(t.shape)) if t.dim() else "a scalar"


def _describe(t: torch.Tensor) -> str:
    return f"{_dtype(t)}, shape {_shape(t)}"
