"""The artifact contract: every file nnlab writes or reads goes through this module.

This is the file format only (atomic writes, safetensors and parquet with checked headers, the
provenance record); it knows nothing of models — model save/load live in :mod:`nnlab.models.io`.

Artifacts are safetensors files (models, features, adversarial sets) and parquet tables, each
carrying string metadata that says what it is (``nnlab.kind``) and which version of this contract
wrote it (``nnlab.format``). Writes are atomic: the data goes to a temporary file in the target
folder, which is renamed onto the target only once it is complete, so a failure never leaves a
half-written artifact behind. Loads check kind and version and turn foreign, truncated or newer
files into one clear :class:`~nnlab.errors.ArtifactError`.

Importing it costs no torch: tables (pandas, pyarrow) are read and written without it, and the tensor
functions import torch and safetensors when called.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import errno
import json
import math
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from nnlab import __version__
from nnlab.errors import ArtifactError, MetadataError, NnlabError, WriteError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import torch

FORMAT_VERSION = 1
KIND_KEY = "nnlab.kind"
FORMAT_KEY = "nnlab.format"
TABLE_META_KEY = b"nnlab"
TENSOR_KINDS = ("model", "features", "adversarial", "checkpoint")


# --------------------------------------------------------------------------- atomic writes

TMP_MARKER = ".nnlab-tmp-"
# OS failures a user can fix, recognised also when a writer library reports them only as text
_WRITE_CAUSES = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG, errno.EIO)


def _temp_name(target: Path) -> Path:
    """``.NAME.nnlab-tmp-PID-RAND.SUFFIX`` beside ``target``: hidden, recognisable, owned by this process."""
    return target.parent / f".{target.name}{TMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}{target.suffix}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but belongs to someone else, or cannot tell: keep its file
    return True


def remove_stale_temporaries(target: str | os.PathLike) -> list[Path]:
    """Delete temporary files of ``target`` left by writers that were killed (their process is gone).

    Returns the removed paths. Temporaries of live processes, including this one, are kept.
    """
    target = Path(target)
    removed = []
    prefix = f".{target.name}{TMP_MARKER}"
    try:
        candidates = [p for p in target.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return removed
    for p in candidates:
        pid_text = p.name[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_cause(exc: BaseException) -> str | None:
    """The OS reason behind a failed write (e.g. 'No space left on device'), or None for other errors."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return os.strerror(exc.errno)
    text = str(exc)
    for code in _WRITE_CAUSES:
        if os.strerror(code) in text:  # e.g. torch's, pyarrow's or safetensors' own error wrapping an OS error
            return os.strerror(code)
    if isinstance(exc, OSError):
        return text or type(exc).__name__
    return None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name keeps the target's suffix so that writers which look at the extension
    (matplotlib, OpenCV) choose the right format. The file gets the permissions of a normally
    created file (0o666 minus the umask). On any failure the temporary file is removed; an OS
    failure (read-only folder, full disk, no permission) becomes one :class:`WriteError` naming
    the path and the cause. After a successful write, temporaries of ``path`` left behind by
    killed runs are removed.
    """
    target = Path(path)
    if target.is_dir():
        raise NnlabError(f"output path {target} is a folder; give a file name")
    tmp = _temp_name(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except OSError as exc:
        raise WriteError(f"cannot write {target}: {_write_cause(exc)}") from None
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        cause = _write_cause(exc) if isinstance(exc, Exception) and not isinstance(exc, NnlabError) else None
        if cause is not None:
            raise WriteError(f"cannot write {target}: {cause}") from None
        raise
    remove_stale_temporaries(target)


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


def _torch_version() -> str:
    """The running torch's version, or the installed one's when this process has not imported torch (a
    ``summarize`` writes tables without it, and should not pay seconds to import it for one string)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.__version__
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return "not installed"


def provenance(
    command: str | None = None,
    options: dict[str, Any] | None = None,
    *,
    base: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
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
            "torch_version": _torch_version(),
            "utc_time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
    info.update({k: v for k, v in extra.items() if v is not None})
    return info


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, bool, type(None))) else str(value)


# --------------------------------------------------------------------------- metadata fields

_MISSING: Any = object()
MAX_JSON_FIELD = 4_000_000  # characters; a metadata field larger than this is not something nnlab wrote


class ListOf:
    """Expected type of a metadata value: a list whose items are all of ``item``."""

    def __init__(self, item: Any, max_len: int | None = None):
        self.item, self.max_len = item, max_len

    def __repr__(self) -> str:
        plural = {dict: "mappings", str: "strings", int: "integers", float: "numbers", list: "lists"}
        return f"a list of {plural.get(self.item, _type_name(self.item))}"


class Count:
    """Expected type of a metadata value: a whole number in ``0..2**53`` (sizes, counts, steps, versions)."""

    def __repr__(self) -> str:
        return "a count (a whole number ≥ 0)"


COUNT = Count()


def _type_name(expected: Any) -> str:
    if isinstance(expected, tuple):
        return " or ".join(_type_name(e) for e in expected)
    if isinstance(expected, (ListOf, Count)):
        return repr(expected)
    names = {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        type(None): "null",
    }
    return names.get(expected, getattr(expected, "__name__", str(expected)))


def value_has_type(value: Any, expected: Any) -> bool:
    """``value`` is of ``expected`` (a type, a :class:`ListOf` or a tuple of them); ints are not bools,
    a number may be an int, and numbers must be finite."""
    if isinstance(expected, tuple):
        return any(value_has_type(value, e) for e in expected)
    if isinstance(expected, ListOf):
        return (
            isinstance(value, list)
            and (expected.max_len is None or len(value) <= expected.max_len)
            and all(value_has_type(v, expected.item) for v in value)
        )
    if isinstance(expected, Count):
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2**53
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def check_fields(path: str | os.PathLike, field: str, mapping: dict[str, Any], fields: dict[str, Any]) -> None:
    """Check the known sub-fields of a parsed metadata mapping (absent or null ones are allowed)."""
    for key, expected in fields.items():
        value = mapping.get(key)
        if value is not None and not value_has_type(value, expected):
            raise MetadataError(
                f"{path}: metadata field {field}.{key} must be {_type_name(expected)}, found {_found(value)}"
            )


def _found(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_json_field(
    path: str | os.PathLike, field: str, raw: Any, expected: Any, fields: dict[str, Any] | None = None
) -> Any:
    """Parse the JSON text ``raw`` of metadata ``field`` and check its type (and known sub-fields)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode()
        except UnicodeDecodeError:
            raise MetadataError(f"{path}: metadata field {field} is not UTF-8 text") from None
    if not isinstance(raw, str):
        raise MetadataError(f"{path}: metadata field {field} is not text")
    if len(raw) > MAX_JSON_FIELD:
        raise MetadataError(f"{path}: metadata field {field} is implausibly large ({len(raw):,} characters)")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise MetadataError(f"{path}: metadata field {field} is not valid JSON") from None
    if not value_has_type(value, expected):
        raise MetadataError(f"{path}: metadata field {field} must be {_type_name(expected)}, found {_found(value)}")
    if fields and isinstance(value, dict):
        check_fields(path, field, value, fields)
    return value


def read_json_field(
    path: str | os.PathLike,
    metadata: dict[str, str],
    key: str,
    expected: Any,
    default: Any = _MISSING,
    fields: dict[str, Any] | None = None,
) -> Any:
    """One JSON field of an artifact's metadata, type-checked: the one place nnlab parses metadata.

    A missing field gives ``default`` (a copy of it) or, without one, a :class:`MetadataError`; a
    malformed one (not JSON, wrong type, a known sub-field of the wrong type) always does. The
    error names the file and the field, and the CLI prints it as one line.
    """
    if key not in metadata:
        if default is _MISSING:
            raise MetadataError(f"{path}: metadata field {key} is missing")
        return copy.deepcopy(default)
    return parse_json_field(path, key, metadata[key], expected, fields)


# What nnlab itself writes into the metadata it reads back; a value of another type is refused at load.
PROVENANCE_FIELDS = {
    "command": str,
    "options": dict,
    "dataset": str,
    "seed": int,
    "nnlab_version": str,
    "torch_version": str,
    "utc_time": str,
    "source": str,
}
FEATURES_META_FIELDS = {
    "model": str,
    "arch": str,
    "arch_kwargs": dict,
    "surgery": list,
    "classes": ListOf(str),
    "dataset": str,
    "split": str,
    "fraction": float,
    "limit": COUNT,
    "seed": int,
    "samples": COUNT,
    "canonical": dict,
    "provenance": dict,
}
ADVERSARIAL_META_FIELDS = {
    "attack": str,
    "params": dict,
    "classes": ListOf(str),
    "model": str,
    "dataset": str,
    "split": str,
    "metrics": dict,
}
TABLE_FIELDS = {
    "table": str,
    FORMAT_KEY: COUNT,
    "provenance": dict,
    "arch": str,
    "width": float,
    "dataset": str,
    "layer": str,
    "cut": str,
    "feature_dim": COUNT,
    "best_step": COUNT,
    "best_si": float,
    "si_all": float,
    "method": str,
    "split": str,
    "splits": ListOf(str),
    "samples": (COUNT, dict),
    "model": str,
    "source_model": str,
    "normalize": bool,
}


# --------------------------------------------------------------------------- safetensors core


def save_tensors(
    path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, Any], kind: str
) -> Path:
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
    version = read_json_field(path, metadata, FORMAT_KEY, COUNT, 0)
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
        read_arrow_table(p)
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
    if kind not in TENSOR_KINDS:
        raise MetadataError(
            f"{p}: metadata field {KIND_KEY} names no kind of nnlab artifact ({', '.join(TENSOR_KINDS)})"
        )
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


def save_features(
    path: str | os.PathLike, layers: dict[str, torch.Tensor], labels: torch.Tensor, meta: dict[str, Any]
) -> Path:
    """Write a features artifact: ``labels`` (int64, N) and one N×D tensor per layer, in order."""
    if "labels" in layers:
        raise NnlabError("a layer may not be called 'labels' in a features artifact")
    n = len(labels)
    for name, t in layers.items():
        if t.shape[0] != n:
            raise NnlabError(f"layer {name!r} has {t.shape[0]} rows but there are {n} labels")
    import torch

    tensors = {"labels": labels.to(torch.int64), **{k: v.reshape(n, -1) for k, v in layers.items()}}
    metadata = {"nnlab.layers": json.dumps(list(layers)), "nnlab.meta": json.dumps(meta)}
    return save_tensors(path, tensors, metadata, "features")


def load_features(path: str | os.PathLike) -> FeatureSet:
    """Read a features artifact; layers come back in the order they were written."""
    tensors, metadata = open_tensors(path, "features")
    if "labels" not in tensors:
        raise ArtifactError(f"{path} has no 'labels' tensor")
    order = read_json_field(path, metadata, "nnlab.layers", ListOf(str), []) or [k for k in tensors if k != "labels"]
    if not order:
        raise ArtifactError(f"{path} holds labels but no layer of features")
    unknown = [k for k in order if k not in tensors or k == "labels"]
    if unknown:
        raise MetadataError(
            f"{path}: metadata field nnlab.layers names {unknown[0]!r}, which is not a layer tensor in the file"
        )
    meta = read_json_field(path, metadata, "nnlab.meta", dict, {}, fields=FEATURES_META_FIELDS)
    labels = tensors["labels"]
    if labels.dim() != 1:
        raise ArtifactError(f"{path}: the 'labels' tensor must be one-dimensional")
    bad = [k for k in order if tensors[k].dim() != 2 or tensors[k].shape[0] != labels.shape[0]]
    if bad:
        raise ArtifactError(f"{path}: layer {bad[0]!r} is not a {labels.shape[0]}-row matrix like the labels")
    labels = check_label_tensor(path, "labels", labels, len(labels), meta.get("classes"))
    return FeatureSet(layers={k: tensors[k] for k in order}, labels=labels, meta=meta)


def check_label_tensor(
    path: str | os.PathLike, name: str, values: torch.Tensor, rows: int, classes: list[str] | None
) -> torch.Tensor:
    """A stored tensor of class indices, checked and returned as int64: ``rows`` whole numbers in 0..C-1.

    C is the number of ``classes`` the file records; where it records none, N samples can show at most
    N classes, so the indices must lie in 0..N-1. Anything else (floats, negative or huge values, a
    count that differs from the samples') would be read as classes that do not exist.
    """
    import torch

    if values.dtype.is_floating_point or values.dtype.is_complex or values.dtype == torch.bool:
        raise ArtifactError(f"{path}: the {name!r} tensor must hold whole class indices, found {values.dtype}")
    if values.dim() != 1 or len(values) != rows:
        raise ArtifactError(
            f"{path}: the {name!r} tensor must hold {rows} values, one per sample; found shape {list(values.shape)}"
        )
    values = values.to(torch.int64)
    if not rows:
        return values
    bound = len(classes) if classes is not None else rows
    if bound == 0:
        raise ArtifactError(f"{path}: the {name!r} tensor holds class indices, but the file records no classes")
    outside = (values < 0) | (values >= bound)
    if bool(outside.any()):
        which = f"the file's {bound} classes" if classes is not None else f"{rows} samples (no classes recorded)"
        raise ArtifactError(
            f"{path}: {int(outside.sum())} of {rows} values of the {name!r} tensor lie outside 0..{bound - 1} "
            f"({which}), e.g. {int(values[outside][0])}"
        )
    return values


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
    import torch

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
    import torch

    meta = read_json_field(path, metadata, "nnlab.meta", dict, {}, fields=ADVERSARIAL_META_FIELDS)
    images = tensors["images"]
    if images.dim() != 4 or not images.dtype.is_floating_point:
        raise ArtifactError(
            f"{path}: the 'images' tensor must be N×C×H×W floating-point pixels, found {images.dtype} of shape "
            f"{list(images.shape)}"
        )
    checked = {
        k: check_label_tensor(path, k, tensors[k], len(images), meta.get("classes"))
        for k in ("labels", "clean_pred", "adv_pred")
    }
    indices = tensors["indices"]
    if indices.dtype.is_floating_point or indices.dtype == torch.bool or list(indices.shape) != [len(images)]:
        raise ArtifactError(
            f"{path}: the 'indices' tensor must hold {len(images)} whole numbers, found {indices.dtype} of shape "
            f"{list(indices.shape)}"
        )
    if len(indices) and int(indices.min()) < 0:
        raise ArtifactError(f"{path}: the 'indices' tensor holds negative positions, e.g. {int(indices.min())}")
    return AdversarialSet(images=images, **checked, indices=indices.to(torch.int64), meta=meta)


# --------------------------------------------------------------------------- tables


def save_table(path: str | os.PathLike, df: "pd.DataFrame", meta: dict[str, Any] | None = None) -> Path:
    """Write a DataFrame as parquet with nnlab metadata (kind, format, ``meta``) in the schema.

    The metadata is stored twice: under the schema key ``nnlab`` (what :func:`load_table` reads) and
    as the frame's ``attrs``, so that ``pandas.read_parquet(path).attrs`` shows the table name,
    format version and provenance to users who do not have nnlab.
    """
    import pyarrow as pa

    text = _table_meta_text(meta)
    df = df.copy(deep=False)
    df.attrs = json.loads(text)
    return _write_arrow_table(path, pa.Table.from_pandas(df, preserve_index=False), text)


def save_records(
    path: str | os.PathLike,
    records: list[dict[str, Any]],
    columns: list[str],
    meta: dict[str, Any] | None = None,
    *,
    nullable_ints: Sequence[str] = (),
) -> Path:
    """Write rows of plain Python values (one dict per row, ``columns`` in order; a missing key is a null) as an
    nnlab parquet table, as :func:`save_table` stores a DataFrame of the same values, without importing pandas:
    for stages that start in a moment (`nnlab summarize`, `nnlab evaluate`). ``nullable_ints`` are integer
    columns with gaps that pandas reads back as its nullable ``Int64`` (as when the frame held them so);
    ``pandas.read_parquet(path).attrs`` shows the metadata here too."""
    import pyarrow as pa

    text = _table_meta_text(meta)
    arrays = [_arrow_column(path, c, [record.get(c) for record in records]) for c in columns]
    table = pa.Table.from_arrays(arrays, names=list(columns))
    # the part of pandas' own schema metadata that carries attrs and extension dtypes; pandas rebuilds the rest
    described = [
        {"name": c, "field_name": c, "pandas_type": "int64", "numpy_type": "Int64", "metadata": None}
        for c in columns
        if c in nullable_ints
    ]
    pandas_meta = {"index_columns": [], "column_indexes": [], "columns": described, "attributes": json.loads(text)}
    return _write_arrow_table(path, table, text, {b"pandas": json.dumps(pandas_meta).encode()})


def _arrow_column(path: str | os.PathLike, name: str, values: list[Any]) -> "pa.Array":
    """One column of plain values as pandas would store it: bools, int64, float64 (NaN and None as nulls; a
    column of nulls only is float64) or UTF-8 text, built from buffers because ``pyarrow.array`` imports pandas."""
    import numpy as np
    import pyarrow as pa

    values = [v.item() if hasattr(v, "item") else v for v in values]
    values = [None if isinstance(v, float) and v != v else v for v in values]  # NaN is a null, as from pandas
    valid = np.array([v is not None for v in values], dtype=bool)
    present = [v for v in values if v is not None]
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
    nulls, n = int((~valid).sum()), len(values)
    if present and all(isinstance(v, bool) for v in present):
        bits = np.packbits(np.array([bool(v) for v in values], dtype=bool), bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), n, [bitmap, pa.py_buffer(bits.tobytes())], nulls)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        integer = bool(present) and all(isinstance(v, int) for v in present)
        dtype, kind = (np.int64, pa.int64()) if integer else (np.float64, pa.float64())
        data = np.array([0 if v is None else v for v in values], dtype=dtype)
        return pa.Array.from_buffers(kind, n, [bitmap, pa.py_buffer(data.tobytes())], nulls)
    if all(isinstance(v, str) for v in present):
        encoded = [b"" if v is None else v.encode() for v in values]
        offsets = np.cumsum([0, *map(len, encoded)], dtype=np.int64)
        buffers = [bitmap, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(encoded))]
        return pa.Array.from_buffers(pa.large_string(), n, buffers, nulls)
    kinds = " and ".join(sorted({type(v).__name__ for v in present}))
    raise ArtifactError(f"{path}: the column {name!r} mixes {kinds} values; a table column holds one kind")


def _table_meta_text(meta: dict[str, Any] | None) -> str:
    return json.dumps({KIND_KEY: "table", FORMAT_KEY: FORMAT_VERSION, **(meta or {})}, default=json_default)


def _write_arrow_table(
    path: str | os.PathLike, table: "pa.Table", meta_text: str, extra: dict[bytes, bytes] | None = None
) -> Path:
    import pyarrow.parquet as pq

    schema_meta = {**(table.schema.metadata or {}), **(extra or {})}
    schema_meta[TABLE_META_KEY] = meta_text.encode()
    table = table.replace_schema_metadata(schema_meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_arrow_table(path: str | os.PathLike, table: str | None = None) -> tuple["pa.Table", dict[str, Any]]:
    """Read an nnlab parquet table as a pyarrow Table, with its metadata checked as :func:`load_table` does.

    For readers that need no DataFrame (`nnlab inspect`), which then start without importing pandas.
    """
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"{p}: no such file")
    try:
        with pq.ParquetFile(p) as f:  # not pq.read_table: its dataset reader imports pandas (seconds)
            t = f.read()
    except Exception:
        raise ArtifactError(f"{p} is not a readable parquet table (foreign or truncated file)") from None
    raw = (t.schema.metadata or {}).get(TABLE_META_KEY)
    if raw is None:
        raise ArtifactError(f"{p} is a parquet file but not an nnlab table (no nnlab metadata)")
    meta = parse_json_field(p, "nnlab (table schema)", raw, dict, TABLE_FIELDS)
    if int(meta.get(FORMAT_KEY) or 0) > FORMAT_VERSION:
        raise ArtifactError(f"{p} was written by a newer nnlab (table format {meta.get(FORMAT_KEY)}); upgrade nnlab")
    if table is not None and meta.get("table") != table:
        raise ArtifactError(f"{p} is an nnlab {meta.get('table', 'unnamed')} table, but a {table} table is needed here")
    return t, meta


def load_table(path: str | os.PathLike, table: str | None = None) -> tuple["pd.DataFrame", dict[str, Any]]:
    """Read an nnlab parquet table and its metadata; ``table`` checks the ``table`` field (e.g. 'ranking')."""
    t, meta = read_arrow_table(path, table)
    try:
        df = t.to_pandas()
    except Exception as exc:  # pandas' own schema metadata is as untrusted as ours
        raise MetadataError(f"{Path(path)}: the table's pandas metadata is unreadable ({type(exc).__name__})") from None
    return df, meta


def json_default(obj: Any) -> Any:
    """``json.dumps`` fallback for what artifacts store: paths as text, tensors and numpy values as lists/numbers."""
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"cannot store {type(obj).__name__} in table metadata")
