"""Model artifacts: save a Classifier with everything needed to rebuild it, and load it back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from nnlab.artifacts import open_tensors, save_tensors
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
    try:
        spec = ModelSpec.from_metadata(metadata)
    except NnlabError:
        raise
    except Exception as exc:
        raise ArtifactError(f"{path}: the model description in its metadata is unreadable ({exc})") from None
    model = build_classifier(spec)
    try:
        model.net.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ArtifactError(f"{path}: weights do not fit the described architecture ({first})") from None
    model.metrics = json.loads(metadata.get("nnlab.metrics", "{}"))
    model.provenance = json.loads(metadata.get("nnlab.provenance", "{}"))
    model.source_path = str(path)
    return model.to(device).eval()
