"""Summaries of any artifact for `nnlab inspect`: kind, metadata, tensors or columns, parameters, surgery."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnlab import artifacts


@dataclass
class Section:
    """One titled block of a summary: key/value pairs or a small table."""

    title: str
    items: dict[str, Any] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)


def describe(path: str | Path, layers: bool = False) -> list[Section]:
    """Everything worth knowing about an artifact, as sections; ``layers`` adds per-layer output shapes."""
    path = Path(path)
    kind = artifacts.artifact_kind(path)
    if kind == "table":
        return _describe_table(path)
    sections = [Section("artifact", {"file": str(path), "kind": kind, "size": f"{path.stat().st_size:,} bytes"})]
    meta = artifacts.read_metadata(path)
    if kind == "model":
        sections += _describe_model(path, meta, layers)
    else:
        # the loader checks the tensors and metadata the same way every command does
        loaders = {"features": artifacts.load_features, "adversarial": artifacts.load_adversarial}
        inner = loaders[kind](path).meta if kind in loaders else {}
        if inner:
            sections.append(Section("metadata", {k: _short(v) for k, v in inner.items()}))
        shapes = artifacts.tensor_shapes(path)
        sections.append(
            Section(
                "tensors",
                columns=["name", "shape", "dtype"],
                rows=[[k, " × ".join(map(str, s)), d] for k, (s, d) in shapes.items()],
            )
        )
    return sections


def _describe_model(path: Path, meta: dict[str, str], layers: bool) -> list[Section]:
    from nnlab.models import count_parameters, list_layers, load_model  # lazy: a table is described without torch

    model = load_model(path)
    spec = model.spec
    total, trainable = count_parameters(model.net)
    info = {
        "architecture": spec.arch,
        "arguments": json.dumps(spec.arch_kwargs),
        "classes": len(spec.classes),
        "class names": ", ".join(map(str, spec.classes[:20])) + (" …" if len(spec.classes) > 20 else ""),
        "input": f"{spec.input['channels']}×{spec.input['size']}×{spec.input['size']}, mean "
        f"{[round(m, 4) for m in spec.input['mean']]}, std {[round(s, 4) for s in spec.input['std']]}",
        "parameters": total,
        "tensors": len(model.net.state_dict()),
    }
    sections = [Section("model", info)]
    surgery_rows = [
        [i, op.get("op"), _short({k: v for k, v in op.items() if k != "op"})] for i, op in enumerate(spec.surgery)
    ]
    sections.append(
        Section("surgery", columns=["step", "op", "arguments"], rows=surgery_rows)
        if surgery_rows
        else Section("surgery", {"operations": "none"})
    )
    if model.metrics:
        sections.append(Section("metrics", dict(model.metrics)))
    if model.provenance:
        sections.append(Section("provenance", {k: _short(v) for k, v in model.provenance.items()}))
    if layers:
        shape = (1, spec.input["channels"], spec.input["size"], spec.input["size"])
        rows = list_layers(model.net, shape)
        sections.append(
            Section(
                "layers",
                columns=["name", "type", "output shape", "parameters"],
                rows=[
                    [r[0], r[1], "×".join(map(str, r[2])) if isinstance(r[2], (list, tuple)) else r[2], r[3]]
                    for r in rows
                ],
            )
        )
    return sections


def _describe_table(path: Path) -> list[Section]:
    # pyarrow alone (no pandas, which takes seconds to import); dtypes are named as pandas would name them
    table, meta = artifacts.read_arrow_table(path)
    sections = [
        Section(
            "artifact",
            {
                "file": str(path),
                "kind": "table",
                "table": meta.get("table", ""),
                "rows": table.num_rows,
                "columns": table.num_columns,
            },
        )
    ]
    sections.append(
        Section(
            "columns",
            columns=["name", "dtype", "example"],
            rows=[
                [field.name, _dtype_name(field.type), _short(table.column(field.name)[0].as_py()) if len(table) else ""]
                for field in table.schema
            ],
        )
    )
    extra = {k: _short(v) for k, v in meta.items() if k not in ("nnlab.kind", "nnlab.format", "table")}
    if extra:
        sections.append(Section("metadata", extra))
    return sections


def _dtype_name(arrow_type: Any) -> str:
    """The name pandas gives a column of this arrow type (float64, int64, bool, str, …)."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "str"
    try:
        return str(np.dtype(arrow_type.to_pandas_dtype()))
    except (NotImplementedError, TypeError):
        return str(arrow_type)


def _short(value: Any, limit: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
