"""The artifact contract: every file nnlab writes or reads goes through this module.

This is the file format only (atomic writes, safetensors and parquet with checked headers, the
provenance record); it knows nothing of models — model save/load live in :mod:`nnlab.models.io`.

Artifacts are safetensors files (models, features, adversarial sets) and parquet tables, each
carrying string metadata that says what it is (``nnlab.kind``) and which version of this contract
wrote it (``nnlab.format``). Writes are atomic: the data goes to a temporary file in the target
folder, which is renamed onto the target only once it is complete, so a failure never leaves a
half-written artifact behind. Loads check kind and version and turn foreign, truncated or newer
files into one clear :class:`~nnlab.errors.ArtifactError`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import torch

from nnlab import __version__
from nnlab.errors import ArtifactError, NnlabError

if TYPE_CHECKING:
    import pandas as pd

FORMAT_VERSION = 1
KIND_KEY = "nnlab.kind"
FORMAT_KEY = "nnlab.format"
TABLE_META_KEY = b"nnlab"


# --------------------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name keeps the target's suffix so that writers which look at the extension
    (matplotlib, OpenCV) choose the right format.
    """
    target = Path(path)
    if target.is_dir():
        raise NnlabError(f"output path {target} is a folder; give a file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sibling(path: str | os.PathLike, suffix: str) -> Path:
    """A file beside ``path`` named after it: ``artifacts/vgg.safetensors`` + ``.history.parquet``.

    Stages name their secondary outputs (metrics tables, figures) this way when no path is given.
    """
    path = Path(path)
    return path.with_name(path.name.split(".")[0] + suffix)


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write a matplotlib figure as PNG atomically; a figure pyplot manages is closed (a bare Figure needs not)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    if getattr(fig.canvas, "manager", None) is not None:  # made by pyplot, which holds it until closed
        import matplotlib.pyplot as plt

        plt.close(fig)
    return Path(path)


def save_text(text: str, path: str | os.PathLike) -> Path:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def provenance(command: str | None = None, options: dict[str, Any] | None = None, *,
               base: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Where an artifact came from: the command that made it and its options, nnlab and torch versions,
    UTC time, plus the ``extra`` fields (None values dropped).

    The caller says what the command was (the CLI passes its command line and parsed options; a library
    user may pass a description of the script). ``base`` is a provenance made earlier, e.g. by the CLI for
    a stage function, which then adds its own fields to it.
    """
    if base is not None:
        info = dict(base)
    else:
        info = {
            "command": command if command is not None else "python",
            "options": {k: _plain(v) for k, v in (options or {}).items()},
            "nnlab_version": __version__,
            "torch_version": torch.__version__,
            "utc_time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
    info.update({k: v for k, v in extra.items() if v is not None})
    return info


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, bool, type(None))) else str(value)


# --------------------------------------------------------------------------- safetensors core


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, Any],
                 kind: str) -> Path:
    """Write tensors and metadata (non-strings as JSON) as a safetensors artifact of ``kind``, atomically."""
    from safetensors.torch import save_file

    meta = {KIND_KEY: kind, FORMAT_KEY: str(FORMAT_VERSION)}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})
    # clone breaks storage sharing (tied weights), which safetensors refuses to write
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(flat, str(tmp), metadata=meta)
    return Path(path)


def open_tensors(path: str | os.PathLike, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read every tensor and the metadata of a safetensors artifact, checking that it is of ``kind``."""
    from safetensors import safe_open

    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"{p}: no such file")
    if p.is_dir():
        raise ArtifactError(f"{p} is a folder, not an nnlab {kind} artifact")
    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            _check_header(p, metadata, kind)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except ArtifactError:
        raise
    except Exception as exc:  # safetensors raises its own error types for foreign/truncated files
        raise ArtifactError(f"{p} is not a readable nnlab {kind} artifact (foreign or truncated file: {exc})") from None
    return tensors, metadata


def _check_header(path: Path, metadata: dict[str, str], kind: str) -> None:
    found = metadata.get(KIND_KEY)
    if found is None:
        raise ArtifactError(f"{path} is a safetensors file but not an nnlab artifact (no {KIND_KEY} metadata)")
    if found != kind:
        raise ArtifactError(f"{path} is an nnlab {found} artifact, but a {kind} artifact is needed here")
    try:
        version = int(metadata.get(FORMAT_KEY, "0"))
    except ValueError:
        raise ArtifactError(f"{path} has an unreadable {FORMAT_KEY} field") from None
    if version > FORMAT_VERSION:
        raise ArtifactError(
            f"{path} was written by a newer nnlab (artifact format {version}, this nnlab reads up to "
            f"{FORMAT_VERSION}); upgrade nnlab"
        )


def artifact_kind(path: str | os.PathLike) -> str:
    """The kind of an artifact file ('model', 'features', 'adversarial', 'table'), checked for readability."""
    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"{p}: no such file")
    if p.suffix == ".parquet":
        load_table(p)
        return "table"
    from safetensors import safe_open

    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
    except Exception:
        raise ArtifactError(f"{p} is not an nnlab artifact (neither a safetensors nor a parquet file)") from None
    kind = metadata.get(KIND_KEY)
    if kind is None:
        raise ArtifactError(f"{p} is a safetensors file but not an nnlab artifact (no {KIND_KEY} metadata)")
    _check_header(p, metadata, kind)
    return kind


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The raw string metadata of a safetensors artifact, without loading its tensors."""
    from safetensors import safe_open

    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"{p}: no such file")
    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            return dict(f.metadata() or {})
    except Exception:
        raise ArtifactError(f"{p} is not a readable safetensors artifact") from None


def tensor_shapes(path: str | os.PathLike) -> dict[str, tuple[list[int], str]]:
    """Name → (shape, dtype) of every tensor in a safetensors artifact, read from the header only."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        out = {}
        for k in f.keys():
            sl = f.get_slice(k)
            out[k] = (list(sl.get_shape()), str(sl.get_dtype()))
        return out


# --------------------------------------------------------------------------- features


@dataclass
class FeatureSet:
    """Flattened activations of one or more layers for N samples, and their labels."""

    layers: dict[str, torch.Tensor]
    labels: torch.Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    def layer(self, name: str | None = None) -> tuple[str, torch.Tensor]:
        """The named layer, or the only/last one when ``name`` is None."""
        if name is None:
            name = list(self.layers)[-1]
        if name not in self.layers:
            raise NnlabError(f"layer {name!r} is not in this features file; it has: {', '.join(self.layers)}")
        return name, self.layers[name]


def save_features(path: str | os.PathLike, layers: dict[str, torch.Tensor], labels: torch.Tensor, meta: dict[str, Any]) -> Path:
    """Write a features artifact: ``labels`` (int64, N) and one N×D tensor per layer, in order."""
    if "labels" in layers:
        raise NnlabError("a layer may not be called 'labels' in a features artifact")
    n = len(labels)
    for name, t in layers.items():
        if t.shape[0] != n:
            raise NnlabError(f"layer {name!r} has {t.shape[0]} rows but there are {n} labels")
    tensors = {"labels": labels.to(torch.int64), **{k: v.reshape(n, -1) for k, v in layers.items()}}
    metadata = {"nnlab.layers": json.dumps(list(layers)), "nnlab.meta": json.dumps(meta)}
    return save_tensors(path, tensors, metadata, "features")


def load_features(path: str | os.PathLike) -> FeatureSet:
    """Read a features artifact; layers come back in the order they were written."""
    tensors, metadata = open_tensors(path, "features")
    if "labels" not in tensors:
        raise ArtifactError(f"{path} has no 'labels' tensor")
    order = json.loads(metadata.get("nnlab.layers", "[]")) or [k for k in tensors if k != "labels"]
    return FeatureSet(
        layers={k: tensors[k] for k in order},
        labels=tensors["labels"],
        meta=json.loads(metadata.get("nnlab.meta", "{}")),
    )


# --------------------------------------------------------------------------- adversarial sets


@dataclass
class AdversarialSet:
    """Adversarial images in pixel space [0, 1], with labels and predictions before/after the attack."""

    images: torch.Tensor
    labels: torch.Tensor
    clean_pred: torch.Tensor
    adv_pred: torch.Tensor
    indices: torch.Tensor
    meta: dict[str, Any] = field(default_factory=dict)


def save_adversarial(
    path: str | os.PathLike,
    images: torch.Tensor,
    labels: torch.Tensor,
    clean_pred: torch.Tensor,
    adv_pred: torch.Tensor,
    indices: torch.Tensor,
    meta: dict[str, Any],
) -> Path:
    """Write an adversarial-set artifact (images N×C×H×W in [0, 1], labels, predictions, split indices)."""
    tensors = {
        "images": images.float(),
        "labels": labels.to(torch.int64),
        "clean_pred": clean_pred.to(torch.int64),
        "adv_pred": adv_pred.to(torch.int64),
        "indices": indices.to(torch.int64),
    }
    return save_tensors(path, tensors, {"nnlab.meta": json.dumps(meta)}, "adversarial")


def load_adversarial(path: str | os.PathLike) -> AdversarialSet:
    """Read an adversarial-set artifact."""
    tensors, metadata = open_tensors(path, "adversarial")
    missing = {"images", "labels", "clean_pred", "adv_pred", "indices"} - set(tensors)
    if missing:
        raise ArtifactError(f"{path} lacks the tensors {', '.join(sorted(missing))}")
    return AdversarialSet(**{k: tensors[k] for k in ("images", "labels", "clean_pred", "adv_pred", "indices")},
                          meta=json.loads(metadata.get("nnlab.meta", "{}")))


# --------------------------------------------------------------------------- tables


def save_table(path: str | os.PathLike, df: "pd.DataFrame", meta: dict[str, Any] | None = None) -> Path:
    """Write a DataFrame as parquet with nnlab metadata (kind, format, ``meta``) in the schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    payload = {KIND_KEY: "table", FORMAT_KEY: FORMAT_VERSION, **(meta or {})}
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[TABLE_META_KEY] = json.dumps(payload, default=json_default).encode()
    table = table.replace_schema_metadata(schema_meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def load_table(path: str | os.PathLike, table: str | None = None) -> tuple["pd.DataFrame", dict[str, Any]]:
    """Read an nnlab parquet table and its metadata; ``table`` checks the ``table`` field (e.g. 'ranking')."""
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"{p}: no such file")
    try:
        t = pq.read_table(p)
    except Exception:
        raise ArtifactError(f"{p} is not a readable parquet table (foreign or truncated file)") from None
    raw = (t.schema.metadata or {}).get(TABLE_META_KEY)
    if raw is None:
        raise ArtifactError(f"{p} is a parquet file but not an nnlab table (no nnlab metadata)")
    meta = json.loads(raw)
    if int(meta.get(FORMAT_KEY, 0)) > FORMAT_VERSION:
        raise ArtifactError(f"{p} was written by a newer nnlab (table format {meta.get(FORMAT_KEY)}); upgrade nnlab")
    if table is not None and meta.get("table") != table:
        raise ArtifactError(f"{p} is an nnlab {meta.get('table', 'unnamed')} table, but a {table} table is needed here")
    return t.to_pandas(), meta


def json_default(obj: Any) -> Any:
    """``json.dumps`` fallback for what artifacts store: paths as text, tensors and numpy values as lists/numbers."""
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"cannot store {type(obj).__name__} in table metadata")
