"""`summarize`: parsing cells, reading figures from each kind of table, joining the seed's reference, errors."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from nnlab import artifacts
from nnlab.errors import NnlabError
from nnlab.studies import Cell, load_reference, read_figure, summarize
from tests.cli.helpers import assert_clear_error, invoke


def _metrics(path, accuracy):
    rows = [
        {"scope": "overall", "class": "all", "accuracy": accuracy, "f1": accuracy - 0.01},
        {"scope": "class", "class": "0", "f1": 0.5, "precision": 0.4},
        {"scope": "class", "class": "1", "f1": 0.7, "precision": 0.6},
        {"scope": "confusion", "class": "0", "true_class": "0", "pred_class": "0", "count": 3},
        {"scope": "confusion", "class": "0", "true_class": "0", "pred_class": "1", "count": 1},
        {"scope": "confusion", "class": "1", "true_class": "1", "pred_class": "1", "count": 4},
    ]
    artifacts.save_table(path, pd.DataFrame(rows), {"table": "metrics"})
    return path


def _history(path):
    df = pd.DataFrame(
        {"epoch": [1, 2, 3], "train_loss": [2.0, 1.0, 0.5], "val_accuracy": [0.5, 0.8, 0.7], "seconds": [1.0, 2.0, 3.0]}
    )
    artifacts.save_table(path, df, {"table": "history"})
    return path


def _profile(path, si, splits=("val", "test")):
    rows = []
    for split in splits:
        for i, name in enumerate(("conv1", "avgpool", "fc2")):
            rows.append(
                {
                    "layer_index": i,
                    "layer_name": name,
                    "layer_type": "X",
                    "split": split,
                    "samples": 10,
                    "dim": 4,
                    "si": si + 0.1 * i + (split == "test") * 0.01,
                    "csi": si / 2 + 0.1 * i,
                }
            )
    artifacts.save_table(path, pd.DataFrame(rows), {"table": "si_profile"})
    return path


@pytest.fixture
def tables(tmp_path):
    return {
        "a_metrics": _metrics(tmp_path / "a.metrics.parquet", 0.9),
        "b_metrics": _metrics(tmp_path / "b.metrics.parquet", 0.6),
        "history": _history(tmp_path / "a.history.parquet"),
        "a_profile": _profile(tmp_path / "a.profile.parquet", 0.3),
        "b_profile": _profile(tmp_path / "b.profile.parquet", 0.2),
    }


def test_parse_cell():
    cell = Cell.parse("batchnorm.si_val=out/bn.profile.parquet#avgpool:val:si")
    assert cell == Cell("batchnorm", "si_val", cell.path, "avgpool:val:si")
    assert str(cell.path) == "out/bn.profile.parquet"
    assert Cell.parse("a.acc=x.parquet").selector is None
    for bad in ("a=x.parquet", "acc=x", ".acc=x.parquet", "a.=x.parquet", "a.acc=", "a.acc=#accuracy"):
        with pytest.raises(NnlabError, match="cell"):
            Cell.parse(bad)


def test_read_figures(tables):
    assert read_figure(tables["a_metrics"]) == pytest.approx(0.9)
    assert read_figure(tables["a_metrics"], "f1") == pytest.approx(0.89)
    assert read_figure(tables["a_metrics"], "class:1:precision") == pytest.approx(0.6)
    assert read_figure(tables["history"]) == pytest.approx(0.8)  # best_val_accuracy by default
    assert read_figure(tables["history"], "best_epoch") == 2
    assert read_figure(tables["history"], "seconds_per_epoch") == pytest.approx(2.0)
    assert read_figure(tables["history"], "min:train_loss") == pytest.approx(0.5)
    assert read_figure(tables["history"], "epochs") == 3
    assert read_figure(tables["a_profile"], "avgpool:test:si") == pytest.approx(0.41)
    assert read_figure(tables["a_profile"], "1:val:csi") == pytest.approx(0.25)
    assert read_figure(tables["a_profile"], "last:val:si") == pytest.approx(0.5)


@pytest.mark.parametrize(
    "key, selector, message",
    [
        ("a_metrics", "class:7:f1", "does not fit"),
        ("a_metrics", "nope", "does not fit"),
        ("history", "median:seconds", "does not fit"),
        ("a_profile", "avgpool:val", "does not fit"),
        ("a_profile", "avgpool:train:si", "no 'train' split"),
        ("a_profile", "fc9:val:si", "no layer 'fc9'"),
        ("a_profile", None, "say which figure"),
    ],
)
def test_bad_selectors(tables, key, selector, message):
    with pytest.raises(NnlabError, match=message):
        read_figure(tables[key], selector)


def test_summarize_joins_rows_columns_and_reference(tables, tmp_path):
    cells = [
        f"clean.clean_acc={tables['a_metrics']}",
        f"clean.adv_acc={tables['b_metrics']}",
        f"circle.clean_acc={tables['b_metrics']}",
        f"extra.clean_acc={tables['a_metrics']}",
    ]
    out = summarize(cells, reference="s4-robustness", output=tmp_path / "summary.parquet", plot=tmp_path / "s.png")
    df = out.table
    assert list(df.columns) == ["model", "clean_acc", "adv_acc", "seed_clean_acc", "seed_adv_acc"]
    assert list(df["model"]) == ["clean", "circle", "extra"]
    assert df.loc[0, "adv_acc"] == pytest.approx(0.6) and math.isnan(df.loc[1, "adv_acc"])
    assert df.loc[0, "seed_adv_acc"] == pytest.approx(0.1189) and math.isnan(df.loc[2, "seed_clean_acc"])
    stored, meta = artifacts.load_table(tmp_path / "summary.parquet", table="summary")
    pd.testing.assert_frame_equal(stored, df)
    assert meta["reference"] == "s4-robustness" and (tmp_path / "s.png").stat().st_size > 0


def test_summarize_figures(tables, tmp_path):
    cells = [
        f"a.si={tables['a_profile']}#avgpool:test:si",
        f"a.acc={tables['a_metrics']}",
        f"b.si={tables['b_profile']}#avgpool:test:si",
        f"b.acc={tables['b_metrics']}",
    ]
    summarize(cells, plot=tmp_path / "curves.png", plot_kind="si-curves", plot_split="val")
    summarize(cells, plot=tmp_path / "cm.png", plot_kind="confusion")
    assert (tmp_path / "curves.png").stat().st_size > 0 and (tmp_path / "cm.png").stat().st_size > 0
    with pytest.raises(NnlabError, match="no si_profile table"):
        summarize([f"a.acc={tables['a_metrics']}"], plot=tmp_path / "x.png", plot_kind="si-curves")


def test_si_curves_panels_read_each_split_from_the_profile_that_has_it(tables, tmp_path, monkeypatch):
    from nnlab.studies import plots

    train = _profile(tmp_path / "a.train-profile.parquet", 0.3, splits=("train",))
    cells = [
        f"a.si_train={train}#avgpool:train:si",
        f"a.si_test={tables['a_profile']}#avgpool:test:si",
        f"b.si_test={tables['b_profile']}#avgpool:test:si",
        f"b.si_train={_profile(tmp_path / 'b.train.parquet', 0.5, splits=('train',))}#avgpool:train:si",
    ]
    drawn = {}
    real = plots.plot_si_curves

    def spy(profiles, path, split, measure, title=None):
        drawn.update(profiles=profiles, split=split, measure=measure)
        return real(profiles, path, split=split, measure=measure, title=title)

    monkeypatch.setattr(plots, "plot_si_curves", spy)
    summarize(cells, plot=tmp_path / "p.png", plot_kind="si-curves", plot_split="train,test", plot_measure="si,csi")
    assert drawn["split"] == ["train", "test"] and drawn["measure"] == ["si", "csi"]
    assert drawn["profiles"]["a"] == [train, tables["a_profile"]]
    assert (tmp_path / "p.png").stat().st_size > 0
    part = plots._profile_part(drawn["profiles"]["a"], "train", "csi", "a")
    assert list(part["csi"]) == pytest.approx([0.15, 0.25, 0.35])
    with pytest.raises(NnlabError, match="no SI profile of split 'val'"):
        plots._profile_part([train], "val", "si", "a")


def test_reference_file_and_errors(tables, tmp_path):
    pd.DataFrame({"name": ["a"], "seed_acc": [0.5]}).to_csv(tmp_path / "ref.csv", index=False)
    df = summarize([f"a.acc={tables['a_metrics']}"], reference=tmp_path / "ref.csv", key="setting").table
    assert list(df.columns) == ["setting", "acc", "seed_acc"] and df.loc[0, "seed_acc"] == 0.5
    assert set(load_reference("s1-norm").table["row"]) >= {"plain", "no-skip", "four-path", "improved"}
    assert len(load_reference("s1-norm").table) == 9
    with pytest.raises(NnlabError, match="unknown seed reference"):
        load_reference("s9")
    with pytest.raises(NnlabError, match="given twice"):
        summarize([f"a.acc={tables['a_metrics']}", f"a.acc={tables['b_metrics']}"])
    with pytest.raises(NnlabError, match="no such file"):
        summarize([f"a.acc={tmp_path / 'missing.parquet'}"])
    with pytest.raises(NnlabError, match=".parquet"):
        summarize([f"a.acc={tables['a_metrics']}"], output=tmp_path / "s.csv")


def test_cli_prints_table_and_errors_are_one_line(tables, tmp_path):
    from typer.testing import CliRunner

    from nnlab.cli.main import app

    runner = CliRunner()
    out = tmp_path / "summary.parquet"
    res = invoke(
        runner,
        app,
        "summarize",
        f"clean.clean_acc={tables['a_metrics']}",
        f"clean.adv_acc={tables['b_metrics']}",
        "--reference",
        "s4-robustness",
        "-o",
        out,
    )
    assert res.exit_code == 0, res.output
    assert "clean_acc" in res.output and "0.9000" in res.output and "0.8931" in res.output and out.is_file()
    assert_clear_error(invoke(runner, app, "summarize", f"a.acc={tables['a_metrics']}#bogus"), "bogus", "valid")
    assert_clear_error(invoke(runner, app, "summarize", f"a.acc={tmp_path / 'none.parquet'}"), "no such file")
    assert_clear_error(invoke(runner, app, "summarize", "a-acc"), "ROW.COLUMN=FILE")
    assert_clear_error(
        invoke(runner, app, "summarize", f"a.acc={tables['a_metrics']}", "--plot-kind", "pie"), "pie", code=2
    )
    assert not (tmp_path / "none.parquet").exists()


def test_cli_prints_a_wide_table_whole_into_a_log(tables, tmp_path):
    """Under make the output is a log, not a terminal: every column must arrive unabridged, not cut to 80."""
    from typer.testing import CliRunner

    from nnlab.cli.main import app

    cells = [f"clean.a_rather_long_column_name_{i}={tables['a_metrics']}" for i in range(8)]
    res = invoke(CliRunner(), app, "summarize", *cells, "--reference", "s4-robustness")
    assert res.exit_code == 0, res.output
    assert all(f"a_rather_long_column_name_{i}" in res.output for i in range(8)), res.output
    assert "…" not in res.output


def test_merged_layer_order_keeps_each_sequence():
    from nnlab.studies.plots import _merged_axis

    order, xs = _merged_axis(
        [["conv1", "elu1", "pool", "fc"], ["conv1", "norm1", "elu1", "pool", "fc"], ["conv1", "block1", "fc"]]
    )
    assert order == ["conv1", "block1", "norm1", "elu1", "pool", "fc"]
    assert xs == [[0, 3, 4, 5], [0, 2, 3, 4, 5], [0, 1, 5]]


def test_merged_axis_never_sends_a_curve_backwards():
    """custom-resnet has elu3 after conv3; the improved model has an elu3 after fc1: two ticks, both curves rise."""
    from nnlab.studies.plots import _merged_axis

    order, xs = _merged_axis([["conv3", "elu3", "avgpool", "fc1", "fc2"], ["block3", "avgpool", "fc1", "elu3", "fc2"]])
    assert all(a < b for x in xs for a, b in zip(x, x[1:], strict=False))
    assert order.count("elu3") == 2 and [order[i] for i in xs[1]] == ["block3", "avgpool", "fc1", "elu3", "fc2"]
