"""The names nnlab.detection registers into lower layers' registries, declared without importing them.

Importing nnlab.detection runs this module only: listings show these names from here, and a lookup of
one imports the module that registers it (see :func:`nnlab.registry.declare`). The lines of help
below are the registrations' only help text.
"""

from __future__ import annotations

from nnlab.registry import declare

declare(
    "dataset",
    "proposals:",
    "nnlab.detection.dataset",
    help="region crops cut on the fly from a `nnlab propose-regions` table PATH.parquet (split by image; balance "
    "option)",
)
declare(
    "roi mode",
    "align",
    "nnlab.detection.align",
    help="fit a head on roi_align features of a frozen backbone (Fast R-CNN)",
)
