"""The seeds' findings as data: each kind's verdicts, the shipped references, malformed files, the summary's
`findings` metadata and the verdicts `nnlab summarize --reference` prints."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from nnlab import artifacts
from nnlab.errors import NnlabError
from nnlab.studies import REFERENCES, load_reference, summarize
from nnlab.studies.findings import FAILS, HOLDS, UNMEASURED, evaluate, parse_finding
from nnlab.studies.references import read_reference_file
from tests.cli.helpers import assert_clear_error, invoke

FIGURES = {
    ("a", "acc"): 0.9,
    ("b", "acc"): 0.7,
    ("c", "acc"): 0.5,
    ("d", "acc"): float("nan"),
    ("a", "params"): 10.0,
    ("b", "params"): 100.0,
}
ROWS = ["a", "b", "c"]


def verdict(**raw) -> str:
    finding = parse_finding({"claim": "a claim", **raw}, "test: finding 1")
    return evaluate(finding, lambda row, column: FIGURES.get((row, column)), ROWS).verdict


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"kind": "order", "rows": ["a", "b", "c"], "column": "acc"}, HOLDS),
        ({"kind": "order", "rows": ["a", "c", "b"], "column": "acc"}, FAILS),
        ({"kind": "order", "rows": ["a", "d"], "column": "acc"}, UNMEASURED),
        ({"kind": "order", "rows": ["a", "x"], "column": "acc"}, UNMEASURED),
        ({"kind": "best", "row": "a", "column": "acc"}, HOLDS),
        ({"kind": "best", "row": "b", "column": "acc"}, FAILS),
        ({"kind": "best", "row": "b", "column": "acc", "among": ["b", "c"]}, HOLDS),
        ({"kind": "worst", "row": "c", "column": "acc"}, HOLDS),
        ({"kind": "worst", "row": "a", "column": "acc", "among": ["a", "b"]}, FAILS),
        ({"kind": "worst", "row": "c", "column": "acc", "among": ["c", "d"]}, UNMEASURED),
        ({"kind": "beats", "rows": ["a", "b"], "than": "c", "column": "acc"}, HOLDS),
        ({"kind": "beats", "rows": ["a", "b"], "than": ["c"], "column": "acc", "by": 0.2}, HOLDS),
        ({"kind": "beats", "rows": ["a", "b"], "than": "c", "column": "acc", "by": 0.25}, FAILS),
        ({"kind": "beats", "rows": ["a", "c"], "than": "b", "column": "acc"}, FAILS),
        ({"kind": "difference", "a": "a.acc", "b": "c.acc", "at_least": 0.4}, HOLDS),
        ({"kind": "difference", "a": "a.acc", "b": "c.acc", "at_least": 0.41}, FAILS),
        ({"kind": "difference", "a": "b.acc", "b": "a.acc", "at_least": -0.3, "at_most": -0.1}, HOLDS),
        ({"kind": "difference", "a": "a.acc", "b": "b.acc", "at_most": 0.1}, FAILS),
        ({"kind": "ratio", "a": "a.params", "b": "b.params", "at_most": 0.1}, HOLDS),
        ({"kind": "ratio", "a": "a.params", "b": "b.params", "at_least": 0.2}, FAILS),
        ({"kind": "ratio", "a": "a.params", "b": "c.params", "at_most": 1.0}, UNMEASURED),
    ],
)
def test_each_kind_holds_fails_or_is_not_measured(raw, expected):
    assert verdict(**raw) == expected


def test_verdict_names_the_figures():
    finding = parse_finding({"claim": "a over b", "kind": "order", "rows": ["a", "b"], "column": "acc"}, "x")
    result = evaluate(finding, lambda row, column: FIGURES.get((row, column)), ROWS)
    assert result.measured == "a 0.9, b 0.7" and result.claim == "a over b"
    missing = evaluate(finding, lambda row, column: None, ROWS)
    assert missing.verdict == UNMEASURED and missing.measured == "missing a.acc, b.acc"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "order", "rows": ["a", "b"], "column": "acc"}, "needs a claim"),
        ({"claim": "x", "kind": "larger"}, "unknown finding kind 'larger'"),
        ({"claim": "x", "kind": "order", "rows": ["a", "b"]}, "needs column"),
        ({"claim": "x", "kind": "order", "rows": ["a"], "column": "acc"}, "at least 2 row names"),
        ({"claim": "x", "kind": "best", "row": "a", "column": "acc", "by": 1}, "no field 'by'"),
        ({"claim": "x", "kind": "difference", "a": "a.acc", "b": "b.acc"}, "at_least, at_most or both"),
        ({"claim": "x", "kind": "difference", "a": "acc", "b": "b.acc", "at_least": 0}, "a cell ROW.COLUMN"),
        ({"claim": "x", "kind": "ratio", "a": "a.p", "b": "b.p", "at_most": "ten"}, "must be a number"),
    ],
)
def test_malformed_finding_is_one_clear_error(raw, message):
    with pytest.raises(NnlabError, match=message) as info:
        parse_finding(raw, "ref.toml: finding 2")
    assert str(info.value).startswith("ref.toml: finding 2") and "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["s0-compression", "s1-norm", "s2-transfer", "s3-finetune", "s4-generalization"])
def test_registered_names(name):
    assert name in REFERENCES and "s4-robustness" in REFERENCES


@pytest.mark.parametrize("name", sorted(REFERENCES.names()))
def test_every_seed_finding_holds_on_the_seeds_own_figures(name):
    reference = load_reference(name)
    assert reference.findings and reference.help and reference.source
    assert [v.verdict for v in reference.seed_verdicts()] == [HOLDS] * len(reference.findings)


def test_seed_figures_are_the_reports():
    s0 = load_reference("s0-compression").table.set_index("row")
    assert s0.loc["retrain-classifier", "seed_test_acc"] == 0.9056 and s0.loc["vgg16", "seed_test_acc"] == 0.9068
    assert s0.loc["compressed-mlp", "seed_test_acc"] == 0.8996 and s0.loc["compressed-linear", "seed_test_acc"] == 0.902
    assert s0.loc["vgg16", "seed_params"] == 134_301_514 and math.isnan(s0.loc["retrain-classifier", "seed_si_train"])
    s3 = load_reference("s3-finetune").table.set_index("row")
    assert s3.loc["deit-block", "seed_val_accuracy"] == 0.9644 and s3.loc["densenet-block", "seed_paper_val_accuracy"]
    s1 = load_reference("s1-norm").table.set_index("row")
    assert math.isnan(s1.loc["improved", "seed_si_val"]) and s1.loc["plain", "seed_test_acc"] == 0.7329


GOOD = """help = "a test reference"
source = "made up"

[rows.a]
seed_acc = 0.9

[rows.b]
seed_acc = 0.8

[[findings]]
claim = "a beats b"
kind = "order"
rows = ["a", "b"]
column = "acc"
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rows = [", "is not valid TOML"),
        ("extra = 1\n" + GOOD, "unknown key 'extra'"),
        ('help = "x"\n', "[rows.ROW] tables"),
        (GOOD.replace("seed_acc = 0.8", "acc = 0.8"), "named seed_COLUMN"),
        (GOOD.replace("seed_acc = 0.8", 'seed_acc = "high"'), "must be a number"),
        (GOOD.replace('kind = "order"', 'kind = "bigger"'), "finding 1: unknown finding kind"),
        (GOOD.replace('rows = ["a", "b"]', 'rows = ["a", "z"]'), "names the row 'z'"),
        (GOOD.replace('column = "acc"', 'column = "f1"'), "names the column 'f1'"),
    ],
)
def test_malformed_reference_file(tmp_path, text, message):
    path = tmp_path / "ref.toml"
    path.write_text(text)
    with pytest.raises(NnlabError, match=message.replace("[", r"\[")) as info:
        read_reference_file(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def _metrics(path, accuracy):
    frame = pd.DataFrame([{"scope": "overall", "class": "all", "accuracy": accuracy}])
    artifacts.save_table(path, frame, {"table": "metrics"})
    return path


@pytest.fixture
def robustness_cells(tmp_path):
    """A robustness-shaped study where the attack transfers to nothing: two findings fail, three hold."""
    figures = {"clean": (0.95, 0.10), "adversarial": (0.93, 0.90), "circle": (0.96, 0.80)}
    cells = []
    for model, (clean, adv) in figures.items():
        cells.append(f"{model}.clean_acc={_metrics(tmp_path / f'{model}.clean.parquet', clean)}")
        cells.append(f"{model}.adv_acc={_metrics(tmp_path / f'{model}.adv.parquet', adv)}")
    return cells


def test_summary_metadata_holds_the_findings(robustness_cells, tmp_path):
    out = summarize(robustness_cells, reference="s4-robustness", output=tmp_path / "summary.parquet")
    _, meta = artifacts.load_table(tmp_path / "summary.parquet", table="summary")
    findings = meta["findings"]
    assert [f["verdict"] for f in findings] == [HOLDS, HOLDS, HOLDS, FAILS, HOLDS]
    assert [f["verdict"] for f in findings] == [v.verdict for v in out.findings]
    assert {f["seed_verdict"] for f in findings} == {HOLDS}
    worst = findings[3]
    assert worst["kind"] == "worst" and worst["claim"].startswith("circle loss")
    assert worst["measured"] == "circle 0.8; lowest clean 0.1"


def test_missing_rows_are_not_measured_and_tables_have_no_findings(robustness_cells, tmp_path):
    out = summarize(robustness_cells[:2], reference="s4-robustness")
    assert [v.verdict for v in out.findings] == [HOLDS, UNMEASURED, UNMEASURED, UNMEASURED, UNMEASURED]
    pd.DataFrame({"model": ["clean"], "seed_acc": [0.5]}).to_csv(tmp_path / "ref.csv", index=False)
    summarize(robustness_cells, reference=tmp_path / "ref.csv", output=tmp_path / "s.parquet")
    assert artifacts.load_table(tmp_path / "s.parquet")[1]["findings"] == []


def test_column_as_maps_a_stand_in_column_to_the_seeds(tmp_path):
    cells = []
    for setting, (a, b) in {"baseline": (0.9, 0.6), "reverse": (0.2, 0.99)}.items():
        cells.append(f"{setting}.colordigits_acc={_metrics(tmp_path / f'{setting}.a.parquet', a)}")
        cells.append(f"{setting}.mnist5k_acc={_metrics(tmp_path / f'{setting}.b.parquet', b)}")
    mapping = {"colordigits_acc": "svhn_acc", "mnist5k_acc": "mnist_acc"}
    out = summarize(cells, key="setting", reference="s4-generalization", column_as=mapping)
    by_claim = {v.claim: v.verdict for v in out.findings}
    assert by_claim["the baseline drops across domains by at least 15 points"] == HOLDS
    assert by_claim["trained on the target, the reverse model drops by at least 50 points on the source"] == HOLDS
    unmapped = summarize(cells, key="setting", reference="s4-generalization")
    assert {v.verdict for v in unmapped.findings} == {UNMEASURED}
    with pytest.raises(NnlabError, match="no study column 'svhn_acc'"):
        summarize(cells, key="setting", reference="s4-generalization", column_as={"svhn_acc": "x"})


def test_cli_prints_each_finding_with_its_verdict(robustness_cells, tmp_path):
    from typer.testing import CliRunner

    from nnlab.cli.main import app

    res = invoke(CliRunner(), app, "summarize", *robustness_cells, "--reference", "s4-robustness")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "findings" in text and "this run" in text
    lines = [" ".join(line.split()) for line in res.output.splitlines()]
    assert any("least accurate under the transferred attack" in line and FAILS in line for line in lines)
    assert any("adversarial training is the most accurate" in line and HOLDS in line for line in lines)


def test_cli_malformed_reference_is_one_line(robustness_cells, tmp_path):
    from typer.testing import CliRunner

    from nnlab.cli.main import app

    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace('kind = "order"', 'kind = "bigger"'))
    out = tmp_path / "s.parquet"
    res = invoke(CliRunner(), app, "summarize", *robustness_cells, "--reference", str(bad), "-o", out)
    assert_clear_error(res, "bad.toml", "finding 1", "unknown finding kind 'bigger'")
    assert not out.exists()
    res = invoke(CliRunner(), app, "summarize", *robustness_cells, "--reference", "s4-robustness", "--column-as", "x")
    assert_clear_error(res, "STUDY=SEED", code=2)
