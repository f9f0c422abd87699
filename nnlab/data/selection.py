"""Which data a stage reads and how it batches it: one type for every stage's data-selection options
(where and how the stage runs is :class:`nnlab.runtime.Runtime`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from nnlab.errors import NnlabError
from nnlab.runtime import Runtime


@dataclass
class DataSelection:
    """The data-selection options every data-reading stage shares, one name and one default each.

    ``dataset`` None: the one the model (or the adversarial set) was made from. ``split``: train, val or test; None:
    the stage's own (the adversarial set's, else test; extract-features: train).
    ``val_fraction``: the stratified share of the train pool held out as val (as in training, to rebuild the same
    val split). ``fraction`` / ``limit``: a stratified subset of the split (one of them), drawn with the run's seed.
    ``batch_size`` is per process under torchrun. ``data_root`` None: ``$NNLAB_DATA`` or ``./data``; ``download``
    fetches a missing torchvision dataset. How the stage runs (device, precision, loader workers, seed) is the
    request's :class:`nnlab.runtime.Runtime`.
    """

    dataset: str | None = None
    split: str | None = None
    val_fraction: float = 0.1
    fraction: float | None = None
    limit: int | None = None
    batch_size: int = 256
    data_root: Path | None = None
    download: bool = False

    @classmethod
    def pick(cls, options: Mapping[str, Any]) -> "DataSelection":
        """The selection named by those of ``options`` that are its fields (the rest keep their defaults)."""
        return cls(**{f.name: options[f.name] for f in fields(cls) if f.name in options})

    def named(self, fallback: str | None, what: str = "use") -> str:
        """``dataset``, else ``fallback`` (e.g. the model's training dataset); an error when neither names one."""
        name = self.dataset or fallback
        if not name:
            raise NnlabError(f"say which dataset to {what} (the model does not record one)")
        return name

    def with_dataset(self, name: str | None) -> "DataSelection":
        """A copy naming ``name`` as the dataset."""
        return replace(self, dataset=name)


@dataclass(kw_only=True)
class DataStageRequest:
    """What the request of every stage that reads a dataset holds besides its own fields: which data (``data``)
    and how the stage runs (``runtime``). Keyword-only, so a request's own fields keep their places."""

    data: DataSelection = field(default_factory=DataSelection)
    runtime: Runtime = field(default_factory=Runtime)
