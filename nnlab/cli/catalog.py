"""`nnlab models` and `nnlab datasets`: what the registries hold."""

from __future__ import annotations

from nnlab.cli.common import command, console


@command
def models() -> None:
    """List the registered model names (plus tv:NAME and timm:NAME)."""
    from nnlab.models import MODELS
    from nnlab.report import table

    console.print(table("models", ["name", "description"], [[k, v] for k, v in MODELS.help().items()]))


@command
def datasets() -> None:
    """List the registered datasets (built-in ones work offline)."""
    from nnlab.data import DATASETS
    from nnlab.report import table

    console.print(table("datasets", ["name", "description"], [[k, v] for k, v in DATASETS.help().items()]))
