"""Models: the registry of architectures, the Classifier wrapper and its spec, building, surgery,
parameter freezing, layer listing and model artifacts (save/load).

    from nnlab.models import create_model, create_classifier, build_classifier, ModelSpec
    net = create_model("vgg16", num_classes=10, width=0.125)
"""

from __future__ import annotations

from nnlab.models.build import build_classifier, create_classifier
from nnlab.models.freezing import freeze, match_parameters, set_trainable, unfreeze
from nnlab.models.io import load_model, save_model
from nnlab.models.listing import (
    LayerRow,
    SurgeredNet,
    count_parameters,
    feature_dim,
    feature_layer,
    list_layers,
    profile_layers,
    resolve_layer,
)
from nnlab.models.registry import MODELS, create_model, model_defaults, register_model
from nnlab.models.spec import Classifier, ModelSpec
from nnlab.models.surgery import SURGERY, apply_surgery, attach_head, truncate
from nnlab.models.weights import LoadReport, load_weights, read_state_dict

# Builders register themselves on import.
from nnlab.models import custom_resnet, simple, vgg, zoo  # noqa: E402,F401  isort: skip
from nnlab.models import roi  # noqa: E402,F401  isort: skip  (roi_align, issue 6)

__all__ = [
    "MODELS",
    "SURGERY",
    "SurgeredNet",
    "Classifier",
    "LayerRow",
    "LoadReport",
    "ModelSpec",
    "apply_surgery",
    "attach_head",
    "build_classifier",
    "count_parameters",
    "create_classifier",
    "create_model",
    "feature_dim",
    "feature_layer",
    "freeze",
    "list_layers",
    "load_model",
    "load_weights",
    "match_parameters",
    "model_defaults",
    "profile_layers",
    "read_state_dict",
    "register_model",
    "resolve_layer",
    "save_model",
    "set_trainable",
    "truncate",
    "unfreeze",
]
