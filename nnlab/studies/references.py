"""The seed reports' own figures and findings, as named references that `summarize` puts beside a study.

Each registered reference is a TOML data file shipped with the package (``nnlab/studies/seeds/NAME.toml``, one
per study; the package data is the one copy, so an installed nnlab has them too). A file holds ``help``,
``source``, one ``[rows.ROW]`` table per model or setting (named as the study names its rows) with ``seed_*``
figures, and the seed's findings as ``[[findings]]`` (nnlab.studies.findings). Accuracies are fractions (0.7348
for 73.48 %), as nnlab's metrics tables store them; figures are those stated in the seed reports (SEEDS.md).
A user's own reference is a .toml file in the same form, or a .parquet/.csv table whose first column names
the rows (figures only, no findings).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnlab.errors import NnlabError
from nnlab.registry import Registry
from nnlab.studies.findings import Finding, Verdict, evaluate, parse_finding

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    import pandas as pd

REFERENCES = Registry("seed reference")
ROW = "row"
SEED_PREFIX = "seed_"
FILE_KEYS = ("help", "source", "rows", "findings")


Record = dict[str, Any]


@dataclass(frozen=True)
class Reference:
    """A seed's figures, one record per row (``row`` + ``seed_*`` figures), and its findings."""

    name: str
    rows: list[Record]
    findings: list[Finding] = field(default_factory=list)
    help: str = ""
    source: str = ""

    @property
    def columns(self) -> list[str]:
        """``row`` and the figure columns, in the order the records first name them."""
        return list(dict.fromkeys([ROW, *(c for record in self.rows for c in record)]))

    @property
    def table(self) -> pd.DataFrame:
        """The figures as a DataFrame (``row`` column first), for a reader in pandas."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    def seed_verdicts(self) -> list[Verdict]:
        """Each finding checked on the seed's own figures (every one should hold)."""
        return check_findings(self, self.rows, ROW, seed=True)


def check_findings(
    reference: Reference, records: list[Record], key: str, columns: dict[str, str] | None = None, seed: bool = False
) -> list[Verdict]:
    """The reference's findings checked on the table ``records`` (row names in ``key``): on its ``seed_COLUMN``
    figures when ``seed``, else on the study's columns, ``columns`` mapping a finding's column to the study column
    that stands for it (e.g. ``svhn_acc`` → ``colordigits_acc``; default: the column of the same name)."""
    columns = columns or {}
    by_row: dict[str, Record] = {}
    for record in records:
        by_row.setdefault(str(record.get(key)), record)
    rows = [str(record.get(key)) for record in records]

    def lookup(row: str, column: str) -> float | None:
        name = SEED_PREFIX + column if seed else columns.get(column, column)
        value = by_row.get(row, {}).get(name)
        try:
            return float(value)
        except (TypeError, ValueError):
            return None

    return [evaluate(f, lookup, rows) for f in reference.findings]


def read_reference_file(path: str | Path, name: str | None = None) -> Reference:
    """A reference from its TOML file; a malformed file is one NnlabError line naming the file and the place."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise NnlabError(f"reference file {path}: no such readable file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise NnlabError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise NnlabError(f"{path}: unknown key {unknown[0]!r}; a reference file has {', '.join(FILE_KEYS)}")
    rows = data.get("rows")
    if not isinstance(rows, dict) or not rows:
        raise NnlabError(f"{path}: give the seed's figures as [rows.ROW] tables of seed_* numbers")
    records = []
    for row, figures in rows.items():
        if not isinstance(figures, dict) or not figures:
            raise NnlabError(f"{path}: rows.{row} must be a table of seed_* numbers")
        for column, value in figures.items():
            if not column.startswith(SEED_PREFIX) or len(column) == len(SEED_PREFIX):
                raise NnlabError(f"{path}: rows.{row}.{column}: seed figures are named seed_COLUMN")
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise NnlabError(f"{path}: rows.{row}.{column} must be a number, got {value!r}")
        records.append({ROW: str(row), **{k: float(v) for k, v in figures.items()}})
    raw_findings = data.get("findings", [])
    if not isinstance(raw_findings, list):
        raise NnlabError(f"{path}: findings must be an array of tables ([[findings]])")
    findings = [parse_finding(raw, f"{path}: finding {i}") for i, raw in enumerate(raw_findings, 1)]
    reference = Reference(name or path.stem, records, findings, str(data.get("help", "")), str(data.get("source", "")))
    _check_findings_match(path, reference)
    return reference


def _check_findings_match(path: Path, reference: Reference) -> None:
    """Every row and column a finding names is one the seed gives a figure for (catches misspelt names)."""
    rows = {record[ROW] for record in reference.rows}
    columns = {c[len(SEED_PREFIX) :] for c in reference.columns if c != ROW}
    for i, finding in enumerate(reference.findings, 1):
        for row, column in finding.cells(sorted(rows)):
            if row not in rows:
                raise NnlabError(f"{path}: finding {i} names the row {row!r}, which has no seed figures")
            if column not in columns:
                raise NnlabError(f"{path}: finding {i} names the column {column!r}; the seed gives seed_{column}?")


def _seed_files() -> list[Path]:
    folder = resources.files("nnlab.studies") / "seeds"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml"))


def _register_seed_files() -> None:
    for path in _seed_files():
        with path.open("rb") as fh:
            head = tomllib.load(fh)
        REFERENCES.register(path.stem, help=str(head.get("help", "")))(partial(read_reference_file, path, path.stem))


_register_seed_files()


def load_reference(name_or_path: str | Path) -> Reference:
    """A registered reference by name, a .toml reference file, or a .parquet/.csv table whose first column names
    the rows (figures only)."""
    text = str(name_or_path)
    if text in REFERENCES:
        return REFERENCES.get(text)()
    path = Path(text)
    if path.suffix not in (".parquet", ".csv", ".toml"):
        raise NnlabError(
            f"unknown seed reference {text!r}; give one of {', '.join(REFERENCES.names())} "
            "or a .toml/.parquet/.csv file"
        )
    if not path.is_file():
        raise NnlabError(f"reference file {path}: no such file")
    if path.suffix == ".toml":
        return read_reference_file(path)
    import pandas as pd  # a user's table of figures; the registered references are read without pandas

    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):  # pyarrow's ArrowInvalid is a ValueError
        raise NnlabError(f"{path} is not a readable {path.suffix[1:]} table") from None
    if df.shape[1] < 2:
        raise NnlabError(f"reference table {path} needs a row-name column and at least one figure column")
    df = df.rename(columns={df.columns[0]: ROW}).astype({ROW: str})
    records = [{c: _scalar(v) for c, v in record.items()} for record in df.to_dict("records")]
    return Reference(path.stem, records)


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
