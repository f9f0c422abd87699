"""Training runs side by side: one row per model artifact (model, trainable parameters, accuracy, speed).

The seed S3 report compares fine-tuned models by trainable parameters, train and validation
accuracy and seconds per epoch; `nnlab train` stores all of these in the artifact's metrics, so the
table is read from the artifacts' metadata alone (no weights are loaded).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from nnlab import artifacts
from nnlab.errors import ArtifactError

SHOWN = (
    "run",
    "block",
    "trainable_parameters",
    "train_accuracy",
    "val_accuracy",
    "train_seconds_per_epoch",
    "val_seconds_per_epoch",
)  # what a terminal has room for
COLUMNS = (
    "run",
    "model",
    "dataset",
    "block",
    "trainable_parameters",
    "parameters",
    "train_accuracy",
    "val_accuracy",
    "epochs",
    "train_seconds_per_epoch",
    "val_seconds_per_epoch",
    "train_images_per_second",
    "val_images_per_second",
)


@dataclass
class RunTable:
    """The table and where it was written."""

    frame: pd.DataFrame
    output: Path | None
    markdown: Path | None


def run_row(path: str | os.PathLike) -> dict[str, object]:
    """One table row from a model artifact written by `nnlab train` (its metrics and provenance)."""
    meta = artifacts.read_metadata(path)
    if meta.get(artifacts.KIND_KEY) != "model":
        raise ArtifactError(f"{path} is not an nnlab model artifact (kind {meta.get(artifacts.KIND_KEY)!r})")
    try:
        metrics = json.loads(meta.get("nnlab.metrics", "{}"))
        prov = json.loads(meta.get("nnlab.provenance", "{}"))
    except ValueError as err:
        raise ArtifactError(f"{path}: unreadable metrics or provenance metadata ({err})") from None
    return {
        "run": Path(path).name.split(".")[0],
        "model": meta.get("nnlab.arch", "?"),
        "dataset": prov.get("dataset"),
        "block": (metrics.get("block") or "head only") if "block_preset" in metrics else "",
        "trainable_parameters": metrics.get("trainable_parameters"),
        "parameters": metrics.get("parameters"),
        "train_accuracy": metrics.get("train_accuracy"),
        "val_accuracy": metrics.get("val_accuracy"),
        "epochs": metrics.get("epochs_run"),
        **{k: metrics.get(k) for k in COLUMNS[9:]},
    }


def markdown(frame: pd.DataFrame) -> str:
    """The table as GitHub markdown (accuracies in %, seconds to 2 decimals, counts with separators)."""

    def cell(col: str, value: object) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if col.endswith("accuracy"):
            return f"{100 * float(value):.2f}"
        if col.endswith("parameters"):
            return f"{int(value):,}"
        if isinstance(value, float):
            return f"{value:.2f}" if "seconds" in col else f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += [
        "| " + " | ".join(cell(c, v) for c, v in zip(frame.columns, row, strict=False)) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"


def run_table(
    runs: Iterable[str | os.PathLike],
    output: str | os.PathLike | None = None,
    markdown_path: str | os.PathLike | None = None,
    provenance: dict[str, Any] | None = None,
) -> RunTable:
    """Put the training runs ``runs`` side by side; write the table as parquet (and markdown) when asked.

    ``provenance`` (see :func:`nnlab.artifacts.provenance`, e.g. the CLI's command line) goes into the table."""
    paths = [Path(p) for p in runs]
    if not paths:
        raise ArtifactError("give at least one model artifact")
    frame = pd.DataFrame([run_row(p) for p in paths], columns=list(COLUMNS))
    out = md = None
    if output is not None:
        out = artifacts.save_table(
            output,
            frame,
            {"table": "runs", "provenance": artifacts.provenance(base=provenance, runs=[str(p) for p in paths])},
        )
    if markdown_path is not None:
        md = artifacts.save_text(markdown(frame), markdown_path)
    return RunTable(frame=frame, output=out, markdown=md)
