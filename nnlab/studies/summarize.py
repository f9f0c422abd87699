"""The `summarize` stage: join figures from many per-model artifacts into one study table.

A study is a set of *cells*, each ``ROW.COLUMN=PATH[#SELECTOR]``: the figure ``SELECTOR`` picks out of the
artifact at PATH (nnlab.studies.selectors) goes in row ROW, column COLUMN. Rows keep the order in which they
first appear, columns too; a named seed reference (nnlab.studies.references) or a reference file adds the seed's
own figures in ``seed_*`` columns, matched by row name, and the seed's findings, each checked on this table
(holds / does not hold / not measured) and stored in the table's metadata as ``findings``. The table is
written as an nnlab parquet table (``summary``), optionally with a figure: grouped bars of chosen columns, the
SI-by-layer curves of each row's profile table, or the confusion matrices of each row's metrics table side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnlab import artifacts
from nnlab.errors import NnlabError
from nnlab.studies.findings import Verdict
from nnlab.studies.references import ROW, Record, Reference, check_findings, load_reference
from nnlab.studies.selectors import clear_cache, read_figure, table_kind

if TYPE_CHECKING:
    import pandas as pd

PLOT_KINDS = ("bars", "si-curves", "confusion")


@dataclass(frozen=True)
class Cell:
    """One figure of the study table: row, column, source artifact and selector (None: the kind's default)."""

    row: str
    column: str
    path: Path
    selector: str | None = None

    @classmethod
    def parse(cls, text: str) -> Cell:
        """``ROW.COLUMN=PATH[#SELECTOR]``, e.g. ``batchnorm.si_val=bn.profile.parquet#avgpool:val:si``."""
        target, eq, source = text.partition("=")
        row, dot, column = target.partition(".")
        if not eq or not dot or not row or not column or not source:
            raise NnlabError(f"cannot read the cell {text!r}; write ROW.COLUMN=FILE or ROW.COLUMN=FILE#SELECTOR")
        path, _, selector = source.partition("#")
        if not path:
            raise NnlabError(f"the cell {text!r} names no file")
        return cls(row, column, Path(path), selector or None)


@dataclass
class StudySummary:
    """What `summarize` produced: the table (one record per row, plain Python values), the files written, and
    which columns are the study's own; ``table`` gives it as a DataFrame."""

    rows: list[Record]
    key: str
    columns: list[str]
    reference_columns: list[str] = field(default_factory=list)
    findings: list[Verdict] = field(default_factory=list)
    seed_findings: list[Verdict] = field(default_factory=list)
    output: Path | None = None
    plot: Path | None = None

    @property
    def all_columns(self) -> list[str]:
        """The key, the study columns and the reference columns, in table order."""
        return [self.key, *self.columns, *self.reference_columns]

    @property
    def table(self) -> pd.DataFrame:
        """The study table as a DataFrame, as the written parquet file reads back."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.all_columns)


def build_table(
    cells: Sequence[Cell], key: str = "model", reference: str | Path | Reference | None = None
) -> tuple[list[Record], list[str], list[str]]:
    """The joined table as records (one per ROW, in first-appearance order), its study columns and its reference
    columns (``seed_*``, matched by row name; a row the reference lacks has none)."""
    if not cells:
        raise NnlabError("name at least one cell ROW.COLUMN=FILE[#SELECTOR]")
    rows: dict[str, dict[str, Any]] = {}
    columns: list[str] = []
    seen: set[tuple[str, str]] = set()
    clear_cache()
    for cell in cells:
        if (cell.row, cell.column) in seen:
            raise NnlabError(f"the cell {cell.row}.{cell.column} is given twice")
        seen.add((cell.row, cell.column))
        if cell.column == key:
            raise NnlabError(f"{cell.column!r} is the row-name column; choose another column name")
        rows.setdefault(cell.row, {})[cell.column] = read_figure(cell.path, cell.selector)
        if cell.column not in columns:
            columns.append(cell.column)
    records = [{key: name, **values} for name, values in rows.items()]
    ref_columns: list[str] = []
    if reference is not None:
        ref = reference if isinstance(reference, Reference) else load_reference(reference)
        ref_columns = [c for c in ref.columns if c != ROW]
        clash = [c for c in ref_columns if c in columns]
        if clash:
            raise NnlabError(f"the reference's column {clash[0]!r} is also a study column; rename the study column")
        seed = {str(r[ROW]): r for r in reversed(ref.rows)}  # the first record of a row name wins
        for record in records:
            figures = seed.get(str(record[key]), {})
            record.update({c: figures[c] for c in ref_columns if c in figures})
    return records, columns, ref_columns


def cells_of(cells: Sequence[Cell], row: str, kind: str) -> list[Path]:
    """The artifacts of ``row``'s cells that are ``kind`` tables, in cell order, each once."""
    out: list[Path] = []
    for cell in cells:
        if cell.row == row and cell.path not in out and table_kind(cell.path) == kind:
            out.append(cell.path)
    return out


def summarize(
    cells: Sequence[Cell | str],
    *,
    key: str = "model",
    reference: str | Path | None = None,
    output: str | Path | None = None,
    plot: str | Path | None = None,
    plot_kind: str = "bars",
    plot_columns: Sequence[str] | None = None,
    plot_split: str = "test",
    plot_measure: str = "si",
    title: str | None = None,
    column_as: dict[str, str] | None = None,
    provenance: dict[str, Any] | None = None,
) -> StudySummary:
    """Build the study table from ``cells``, write it (parquet) and its figure, and return a StudySummary.

    ``plot_kind``: ``bars`` (``plot_columns``, default every numeric study column, with the matching seed
    columns hatched beside them), ``si-curves`` (each of the comma-separated ``plot_measure`` per layer on each of the
    comma-separated ``plot_split``, one panel each, e.g. ``si,csi`` on ``train,test``, from each row's SI-profile
    tables) or ``confusion`` (each row's first metrics table). ``provenance`` is the caller's record
    (e.g. the CLI's command line), stored in the table's metadata with the cells. ``column_as`` maps a study
    column to the seed column it stands for in the findings (``colordigits_acc`` → ``svhn_acc`` when a stand-in
    dataset replaces the seed's); by default a finding's column is the study column of the same name.
    """
    parsed = [c if isinstance(c, Cell) else Cell.parse(c) for c in cells]
    if output is not None and Path(output).suffix != ".parquet":
        raise NnlabError(f"the summary table must be a .parquet file, got {output}")
    if plot is not None and Path(plot).suffix != ".png":
        raise NnlabError(f"the summary figure must be a .png file, got {plot}")
    if plot_kind not in PLOT_KINDS:
        raise NnlabError(f"unknown figure kind {plot_kind!r}; valid kinds: {', '.join(PLOT_KINDS)}")
    ref = load_reference(reference) if reference is not None else None
    records, columns, ref_columns = build_table(parsed, key, ref)
    result = StudySummary(rows=records, key=key, columns=columns, reference_columns=ref_columns)
    if ref is not None and ref.findings:
        unknown = [c for c in (column_as or {}) if c not in columns]
        if unknown:
            known = ", ".join(columns)
            raise NnlabError(f"no study column {unknown[0]!r} to stand for a seed column; columns: {known}")
        finding_columns = {seed: study for study, seed in (column_as or {}).items()}
        result.findings = check_findings(ref, records, key, finding_columns)
        result.seed_findings = ref.seed_verdicts()
    if plot is not None:
        from nnlab.studies import plots  # pandas and matplotlib: only a figure needs them

        rows = [record[key] for record in records]
        if plot_kind == "bars":
            import pandas as pd

            df = result.table
            numeric = [c for c in columns if pd.api.types.is_numeric_dtype(df[c])]
            chosen = list(plot_columns) if plot_columns else numeric
            unknown = [c for c in chosen if c not in df.columns]
            if unknown:
                raise NnlabError(f"no column {unknown[0]!r} to plot; columns: {', '.join(df.columns[1:])}")
            plots.plot_bars(df, key, chosen, plot, title=title)
        elif plot_kind == "si-curves":
            profiles = {row: _all(cells_of(parsed, row, "si_profile"), row, "si_profile") for row in rows}
            splits, measures = _names(plot_split), _names(plot_measure)
            plots.plot_si_curves(profiles, plot, split=splits, measure=measures, title=title)
        else:
            metrics = {row: _one(cells_of(parsed, row, "metrics"), row, "metrics") for row in rows}
            plots.plot_confusions(metrics, plot, title=title)
        result.plot = Path(plot)
    if output is not None:
        meta = {
            "table": "summary",
            "key": key,
            "columns": columns,
            "reference": str(reference) if reference else None,
            "reference_columns": ref_columns,
            "findings": findings_record(result),
            "cells": [f"{c.row}.{c.column}={c.path}" + (f"#{c.selector}" if c.selector else "") for c in parsed],
            "provenance": artifacts.provenance(base=provenance),
        }
        artifacts.save_records(output, records, result.all_columns, meta)
        result.output = Path(output)
    return result


def _all(paths: list[Path], row: str, kind: str) -> list[Path]:
    if not paths:
        raise NnlabError(f"row {row!r} has no {kind} table among its cells to draw")
    return paths


def _one(paths: list[Path], row: str, kind: str) -> Path:
    return _all(paths, row, kind)[0]


def _names(text: str) -> list[str]:
    """``train,test`` → ``["train", "test"]`` (the si-curves panels' splits or measures)."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise NnlabError(f"name at least one split / measure to draw, got {text!r}")
    return names


def findings_record(result: StudySummary) -> list[dict[str, str]]:
    """The findings as stored in the table's metadata: claim, kind, this run's verdict and figures, the seed's."""
    return [
        {**mine.as_dict(), "seed_verdict": seed.verdict, "seed_measured": seed.measured}
        for mine, seed in zip(result.findings, result.seed_findings, strict=True)
    ]
