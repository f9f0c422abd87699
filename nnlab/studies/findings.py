"""A seed's findings as data: small declarative claims checked against a study table.

A finding is a TOML table with a ``claim`` (the sentence a reader sees), a ``kind`` and the kind's fields. Rows
are the study's row names, a column is a study column (``test_acc``); the same finding is checked on the seed's
own figures in ``seed_COLUMN``. Cells are written ``ROW.COLUMN``. The kinds:

- ``order``: ``rows`` (two or more), ``column`` — the values fall strictly along ``rows`` (a > b > c).
- ``best`` / ``worst``: ``row``, ``column``, optional ``among`` (default: every row of the table) — ``row``
  has the highest / lowest value (ties hold).
- ``beats``: ``rows``, ``than`` (a row or a list), ``column``, optional ``by`` — every row of ``rows`` is
  above every row of ``than`` (by at least ``by`` when given, else strictly).
- ``difference``: ``a``, ``b`` (cells), ``at_least`` and/or ``at_most`` — ``a - b`` lies in the bounds.
- ``ratio``: ``a``, ``b`` (cells), ``at_least`` and/or ``at_most`` — ``a / b`` lies in the bounds.

A finding holds, does not hold, or is not measured (a cell it reads is missing or NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from nnlab.errors import NnlabError

HOLDS = "holds"
FAILS = "does not hold"
UNMEASURED = "not measured"
# bounds are met up to rounding: 0.7 - 0.5 is 0.19999999999999996 in floating point, and "by at least 0.2" holds
TOLERANCE = 1e-9

# per kind: required fields, optional fields (besides claim and kind)
KINDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "order": (frozenset({"rows", "column"}), frozenset()),
    "best": (frozenset({"row", "column"}), frozenset({"among"})),
    "worst": (frozenset({"row", "column"}), frozenset({"among"})),
    "beats": (frozenset({"rows", "than", "column"}), frozenset({"by"})),
    "difference": (frozenset({"a", "b"}), frozenset({"at_least", "at_most"})),
    "ratio": (frozenset({"a", "b"}), frozenset({"at_least", "at_most"})),
}

Lookup = Callable[[str, str], float | None]


@dataclass(frozen=True)
class Finding:
    """One claim of a seed and how to check it (see the module docstring for the kinds)."""

    claim: str
    kind: str
    fields: dict[str, Any]

    def cells(self, all_rows: list[str]) -> list[tuple[str, str]]:
        """The (row, column) cells this finding reads, given the table's rows (for ``among`` defaults)."""
        f = self.fields
        if self.kind in ("difference", "ratio"):
            return [_split_cell(f["a"]), _split_cell(f["b"])]
        if self.kind == "order":
            return [(r, f["column"]) for r in f["rows"]]
        if self.kind == "beats":
            return [(r, f["column"]) for r in [*f["rows"], *_as_list(f["than"])]]
        among = list(f.get("among") or all_rows)
        return [(r, f["column"]) for r in dict.fromkeys([f["row"], *among])]


@dataclass(frozen=True)
class Verdict:
    """A finding checked on one table: the verdict and the figures it rests on."""

    claim: str
    kind: str
    verdict: str
    measured: str

    def as_dict(self) -> dict[str, str]:
        """The verdict as plain JSON-able fields (for a table's metadata)."""
        return asdict(self)


def parse_finding(raw: Any, where: str) -> Finding:
    """A finding from its TOML table; ``where`` names it in errors (``FILE: finding 3``)."""
    if not isinstance(raw, dict):
        raise NnlabError(f"{where}: a finding must be a table with claim, kind and the kind's fields")
    claim, kind = raw.get("claim"), raw.get("kind")
    if not isinstance(claim, str) or not claim.strip():
        raise NnlabError(f"{where}: a finding needs a claim (the sentence a reader sees)")
    if kind not in KINDS:
        raise NnlabError(f"{where}: unknown finding kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    required, optional = KINDS[kind]
    fields = {k: v for k, v in raw.items() if k not in ("claim", "kind")}
    missing = sorted(required - fields.keys())
    if missing:
        raise NnlabError(f"{where}: a finding of kind {kind!r} needs {', '.join(missing)}")
    extra = sorted(fields.keys() - required - optional)
    if extra:
        raise NnlabError(f"{where}: a finding of kind {kind!r} has no field {extra[0]!r}; its fields: {_fields(kind)}")
    for name, value in fields.items():
        _check_field(where, kind, name, value)
    if kind in ("difference", "ratio") and "at_least" not in fields and "at_most" not in fields:
        raise NnlabError(f"{where}: a finding of kind {kind!r} needs at_least, at_most or both")
    return Finding(claim.strip(), kind, fields)


def evaluate(finding: Finding, lookup: Lookup, all_rows: list[str]) -> Verdict:
    """Check ``finding`` on the figures ``lookup(row, column)`` gives (None: missing)."""
    values = {cell: lookup(*cell) for cell in finding.cells(all_rows)}
    missing = [f"{r}.{c}" for (r, c), v in values.items() if v is None or math.isnan(v)]
    if missing:
        return Verdict(finding.claim, finding.kind, UNMEASURED, "missing " + ", ".join(missing))
    holds, measured = _CHECKS[finding.kind](finding.fields, values)
    return Verdict(finding.claim, finding.kind, HOLDS if holds else FAILS, measured)


def _order(f: dict[str, Any], v: dict[tuple[str, str], float]) -> tuple[bool, str]:
    figures = [v[(r, f["column"])] for r in f["rows"]]
    holds = all(a > b for a, b in zip(figures, figures[1:], strict=False))
    return holds, ", ".join(f"{r} {_fmt(x)}" for r, x in zip(f["rows"], figures, strict=True))


def _extreme(highest: bool) -> Callable[[dict[str, Any], dict[tuple[str, str], float]], tuple[bool, str]]:
    def check(f: dict[str, Any], v: dict[tuple[str, str], float]) -> tuple[bool, str]:
        mine = v[(f["row"], f["column"])]
        others = {r: x for (r, _), x in v.items()}
        top = max(others.values()) if highest else min(others.values())
        leader = next(r for r, x in others.items() if x == top)
        return mine == top, f"{f['row']} {_fmt(mine)}; {'highest' if highest else 'lowest'} {leader} {_fmt(top)}"

    return check


def _beats(f: dict[str, Any], v: dict[tuple[str, str], float]) -> tuple[bool, str]:
    column, than = f["column"], _as_list(f["than"])
    low = min(f["rows"], key=lambda r: v[(r, column)])
    high = max(than, key=lambda r: v[(r, column)])
    gap = v[(low, column)] - v[(high, column)]
    holds = gap >= f["by"] - TOLERANCE if "by" in f else gap > 0
    return holds, f"lowest {low} {_fmt(v[(low, column)])} − highest {high} {_fmt(v[(high, column)])} = {_fmt(gap)}"


def _between(divide: bool) -> Callable[[dict[str, Any], dict[tuple[str, str], float]], tuple[bool, str]]:
    def check(f: dict[str, Any], v: dict[tuple[str, str], float]) -> tuple[bool, str]:
        a, b = v[_split_cell(f["a"])], v[_split_cell(f["b"])]
        if divide and b == 0:
            return False, f"{f['b']} is 0"
        x = a / b if divide else a - b
        holds = f.get("at_least", -math.inf) - TOLERANCE <= x <= f.get("at_most", math.inf) + TOLERANCE
        sign = "/" if divide else "−"
        return holds, f"{f['a']} {_fmt(a)} {sign} {f['b']} {_fmt(b)} = {_fmt(x)}"

    return check


_CHECKS = {
    "order": _order,
    "best": _extreme(True),
    "worst": _extreme(False),
    "beats": _beats,
    "difference": _between(False),
    "ratio": _between(True),
}


def _check_field(where: str, kind: str, name: str, value: Any) -> None:
    bad = None
    if name in ("rows", "among"):
        minimum = 2 if kind == "order" or name == "among" else 1
        if not _names(value) or len(value) < minimum:
            bad = f"a list of at least {minimum} row names"
    elif name == "than":
        if not (_names(value) or (isinstance(value, str) and value)):
            bad = "a row name or a list of row names"
    elif name in ("row", "column"):
        if not isinstance(value, str) or not value or "." in value:
            bad = f"a {name} name"
    elif name in ("a", "b"):
        if not isinstance(value, str) or value.count(".") < 1 or not all(_split_cell(value)):
            bad = "a cell ROW.COLUMN"
    elif not isinstance(value, int | float) or isinstance(value, bool):
        bad = "a number"
    if bad:
        raise NnlabError(f"{where}: the {name} of a finding of kind {kind!r} must be {bad}, got {value!r}")


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) and x for x in value)


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _split_cell(text: str) -> tuple[str, str]:
    row, _, column = text.rpartition(".")
    return row, column


def _fields(kind: str) -> str:
    required, optional = KINDS[kind]
    return ", ".join([*sorted(required), *(f"{o} (optional)" for o in sorted(optional))])


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"
