"""The closed sets of option values, as ``Literal`` types.

Typer turns a ``Literal`` into a choice: ``--optimizer sgdd`` is a usage error (exit 2) that lists the
valid values, ``--help`` shows them, and shell completion offers them, while the command still
receives (and hands the library) plain strings. The sets are written out here rather than imported
from the library so that ``nnlab --help`` and shell completion do not import torch;
tests/cli/test_conventions.py checks each against the library constant that validates it
(``OPTIMIZERS``, ``SCHEDULES``, ``PRECISIONS``, ``AUGMENTS``, ``NORMALIZATIONS``, ``BALANCE_MODES``, ``ROI_MODES``,
``LOSSES``, the selective-search ``MODES``, the embedding and ranking ``METHODS``).
"""

from __future__ import annotations

from typing import Literal

DEVICES = ("auto", "cpu", "cuda", "mps")

Split = Literal["train", "val", "test"]
Optimizer = Literal["sgd", "adam", "adamw"]
Schedule = Literal["none", "step", "exponential", "cosine", "onecycle"]
Augment = Literal["none", "flip-crop", "flip-rotate", "rotate", "svhn-aug", "random-resized-crop", "resize-center-crop"]
Normalize = Literal["dataset", "imagenet", "half", "none"]
Balance = Literal["none", "undersample", "weights"]
RoiMode = Literal["crop", "align"]
Loss = Literal["ce", "circle"]
SearchMode = Literal["fast", "quality", "single"]
EmbedMethod = Literal["umap", "pca"]
RankMethod = Literal["forward", "univariate"]
Precision = Literal["32", "bf16", "16", "auto"]
