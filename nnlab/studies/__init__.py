"""nnlab.studies — the layer above the stages: joining their outputs into one study table (`summarize`)
beside the seed reports' reference figures."""

from __future__ import annotations

from nnlab.studies.references import REFERENCES, load_reference
from nnlab.studies.selectors import read_figure
from nnlab.studies.summarize import (
    PLOT_KINDS,
    Cell,
    StudySummary,
    build_table,
    summarize,
)

__all__ = [
    "PLOT_KINDS",
    "REFERENCES",
    "Cell",
    "StudySummary",
    "build_table",
    "load_reference",
    "read_figure",
    "summarize",
]
