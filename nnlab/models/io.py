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
    try:
        model.net.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ArtifactError(f"{path}: weights do not fit the described architecture ({first})") from None
    model.metrics = metrics
    model.provenance = provenance
    model.source_path = str(path)
    return model.to(device).eval()
