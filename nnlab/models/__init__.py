"""Models: the registry of architectures, the Classifier wrapper and its spec, and surgery.

    from nnlab.models import create_model, create_classifier, build_classifier, ModelSpec
    net = create_model("vgg16", num_classes=10, width=0.125)
"""

from __future__ import annotations

from nnlab.models.registry import IMAGENET_MEAN, IMAGENET_STD, MODELS, create_model, model_defaults, register_model
from nnlab.models.spec import Classifier, ModelSpec, build_classifier, create_classifier
from nnlab.models.weights import LoadReport, load_weights, read_state_dict

# Builders register themselves on import.
from nnlab.models import custom_resnet, simple, vgg, zoo  # noqa: E402,F401  isort: skip
from nnlab.models import roi  # noqa: E402,F401  isort: skip  (roi_align, issue 6)
from nnlab.models.surgery import (  # noqa: E402
    SURGERY,
    apply_surgery,
    attach_head,
    count_parameters,
    feature_dim,
    feature_layer,
    freeze,
    list_layers,
    match_parameters,
    profile_layers,
    resolve_layer,
    set_trainable,
    truncate,
    unfreeze,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MODELS",
    "SURGERY",
    "Classifier",
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
    "load_weights",
    "match_parameters",
    "model_defaults",
    "profile_layers",
    "read_state_dict",
    "register_model",
    "resolve_layer",
    "set_trainable",
    "truncate",
    "unfreeze",
]
