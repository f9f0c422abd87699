"""The artifact contract: round trips, atomic writes, and clear errors for bad files."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from nnlab import artifacts
from nnlab.errors import ArtifactError, WriteError
from nnlab.models import load_model, save_model


def small_model(arch: str = "cnn"):
    from nnlab.training.recipe import DataOptions, build_new_model

    torch.manual_seed(0)
    return build_new_model(arch, DataOptions(dataset="digits"), width=0.25)


def test_model_round_trip_keeps_metadata_weights_and_logits(tmp_path):
    model = small_model().eval()
    path = tmp_path / "m.safetensors"
    save_model(path, model, metrics={"val_accuracy": 0.5}, provenance={"dataset": "digits", "seed": 3})
    loaded = load_model(path)
    assert loaded.spec == model.spec
    assert loaded.metrics == {"val_accuracy": 0.5}
    assert loaded.provenance == {"dataset": "digits", "seed": 3}
    a, b = model.net.state_dict(), loaded.net.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    x = torch.rand(4, model.spec.input["channels"], model.spec.input["size"], model.spec.input["size"])
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_failed_save_leaves_no_partial_file(tmp_path, monkeypatch):
    import safetensors.torch

    def explode(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", explode)
    path = tmp_path / "m.safetensors"
    with pytest.raises(WriteError, match="disk full"):
        save_model(path, small_model())
    assert list(tmp_path.iterdir()) == []


def test_failed_table_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "t.parquet"
    artifacts.save_table(path, pd.DataFrame({"a": [1, 2]}), {"table": "demo"})
    with pytest.raises(ValueError):  # pyarrow.ArrowInvalid: an object column has no parquet type
        artifacts.save_table(path, pd.DataFrame({"a": [object()]}), {"table": "demo"})
    df, meta = artifacts.load_table(path)
    assert df["a"].tolist() == [1, 2] and meta["table"] == "demo"
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_records_are_stored_as_the_same_dataframe_would_be(tmp_path):
    records = [
        {"model": "a", "acc": 0.5, "params": 1200, "block": "b1", "ok": True, "nan": float("nan")},
        {"model": "b", "acc": 1, "params": None, "ok": False},
        {"model": "c", "acc": None, "params": 7, "block": "ünï", "ok": None},
    ]
    columns = ["model", "acc", "params", "block", "ok", "nan", "empty"]
    frame = pd.DataFrame(records, columns=columns)
    artifacts.save_table(tmp_path / "frame.parquet", frame, {"table": "summary"})
    artifacts.save_records(tmp_path / "records.parquet", records, columns, {"table": "summary"})
    from_frame, meta_frame = artifacts.load_table(tmp_path / "frame.parquet")
    from_records, meta_records = artifacts.load_table(tmp_path / "records.parquet")
    assert list(from_records.columns) == columns
    for column in columns:
        assert from_records[column].tolist() == from_frame[column].tolist() or (
            from_records[column].isna().tolist() == from_frame[column].isna().tolist()
            and from_records[column].dropna().tolist() == from_frame[column].dropna().tolist()
        ), column
    assert from_records["acc"].dtype == "float64" and from_records["empty"].dtype == "float64"
    assert meta_records == meta_frame
    assert pd.read_parquet(tmp_path / "records.parquet").attrs == pd.read_parquet(tmp_path / "frame.parquet").attrs


def test_records_mixing_kinds_in_a_column_are_refused(tmp_path):
    with pytest.raises(ArtifactError, match="mixes"):
        artifacts.save_records(tmp_path / "r.parquet", [{"a": 1}, {"a": "x"}], ["a"])
    assert list(tmp_path.iterdir()) == []


def test_wrong_kind_is_a_clear_error(tmp_path):
    path = tmp_path / "f.safetensors"
    artifacts.save_features(path, {"fc": torch.zeros(3, 2)}, torch.tensor([0, 1, 0]), {"model": "x"})
    with pytest.raises(ArtifactError, match="features artifact, but a model artifact is needed"):
        load_model(path)


def test_truncated_and_foreign_files_are_clear_errors(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, small_model())
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="truncated"):
        load_model(cut)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00not a safetensors file at all" * 10)
    with pytest.raises(ArtifactError):
        load_model(junk)
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ArtifactError, match="not an nnlab artifact"):
        load_model(plain)
    with pytest.raises(ArtifactError, match="no such file"):
        load_model(tmp_path / "missing.safetensors")


def test_newer_format_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "f.safetensors"
    monkeypatch.setattr(artifacts, "FORMAT_VERSION", artifacts.FORMAT_VERSION + 1)
    artifacts.save_features(path, {"fc": torch.zeros(2, 2)}, torch.tensor([0, 1]), {})
    monkeypatch.undo()
    with pytest.raises(ArtifactError, match="newer nnlab"):
        artifacts.load_features(path)


def test_features_round_trip_keeps_layer_order(tmp_path):
    layers = {"z": torch.randn(5, 3), "a": torch.randn(5, 4), "m.0": torch.randn(5, 2)}
    labels = torch.tensor([0, 1, 2, 1, 0])
    path = tmp_path / "f.safetensors"
    artifacts.save_features(path, layers, labels, {"model": "m", "split": "train"})
    fs = artifacts.load_features(path)
    assert list(fs.layers) == ["z", "a", "m.0"]
    assert all(torch.equal(fs.layers[k], layers[k]) for k in layers)
    assert torch.equal(fs.labels, labels) and fs.meta == {"model": "m", "split": "train"}


def test_adversarial_round_trip(tmp_path):
    images = torch.rand(3, 1, 8, 8)
    path = tmp_path / "adv.safetensors"
    artifacts.save_adversarial(
        path,
        images,
        torch.tensor([1, 2, 0]),
        torch.tensor([1, 2, 0]),
        torch.tensor([0, 0, 0]),
        torch.tensor([7, 8, 9]),
        {"attack": "fgsm", "eps": 0.1},
    )
    adv = artifacts.load_adversarial(path)
    assert torch.equal(adv.images, images) and adv.indices.tolist() == [7, 8, 9]
    assert adv.meta == {"attack": "fgsm", "eps": 0.1}


def test_table_round_trip_and_foreign_parquet(tmp_path):
    df = pd.DataFrame({"layer_index": [0, 1], "si": [0.1, 0.9]})
    path = tmp_path / "p.parquet"
    artifacts.save_table(path, df, {"table": "si_profile", "provenance": {"seed": 1}})
    back, meta = artifacts.load_table(path, table="si_profile")
    pd.testing.assert_frame_equal(back, df)
    assert meta["provenance"] == {"seed": 1}
    with pytest.raises(ArtifactError, match="ranking table is needed"):
        artifacts.load_table(path, table="ranking")
    foreign = tmp_path / "foreign.parquet"
    df.to_parquet(foreign)
    with pytest.raises(ArtifactError, match="not an nnlab table"):
        artifacts.load_table(foreign)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 nothing")
    with pytest.raises(ArtifactError):
        artifacts.load_table(bad)


def test_metadata_is_json_in_the_header(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, small_model(), provenance={"seed": 0})
    meta = artifacts.read_metadata(path)
    assert meta["nnlab.kind"] == "model" and meta["nnlab.format"] == str(artifacts.FORMAT_VERSION)
    assert json.loads(meta["nnlab.classes"]) == [str(i) for i in range(10)]
    assert json.loads(meta["nnlab.provenance"]) == {"seed": 0}
