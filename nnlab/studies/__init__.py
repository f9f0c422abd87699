"""nnlab.studies — the layer above the stages: joining their outputs into one study table (`summarize`)
beside the seed reports' reference figures, with the seeds' findings checked on it."""

from __future__ import annotations

from nnlab.studies.findings import Finding, Verdict
from nnlab.studies.references import REFERENCES, Reference, load_reference
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
    "Finding",
    "Reference",
    "StudySummary",
    "Verdict",
    "build_table",
    "load_reference",
    "read_figure",
    "summarize",
]
