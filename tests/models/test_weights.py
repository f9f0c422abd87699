"""Loading local weight files: formats, prefixes, new heads, channel adaptation and bad files."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from nnlab.errors import NnlabError
from nnlab.models import create_classifier, create_model, load_weights, read_state_dict

CLASSES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def source():
    torch.manual_seed(0)
    return create_model("vgg16", num_classes=3, width=0.125)


def _same(a, b, skip=()):
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa if not any(k.startswith(s) for s in skip))


@pytest.mark.parametrize("fmt", ["pt", "pth-state_dict", "bin-model", "safetensors", "artifact-like"])
def test_load_formats(tmp_path, source, fmt):
    state = source.state_dict()
    if fmt == "pt":
        path = tmp_path / "w.pt"
        torch.save(state, path)
    elif fmt == "pth-state_dict":
        path = tmp_path / "w.pth"
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    elif fmt == "bin-model":
        path = tmp_path / "w.bin"
        torch.save({"model": state}, path)
    elif fmt == "safetensors":
        path = tmp_path / "w.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        path = tmp_path / "model.safetensors"
        save_file({f"net.{k}": v.contiguous() for k, v in state.items()}, str(path), metadata={"nnlab.kind": "model"})
    net = create_model("vgg16", num_classes=3, width=0.125, weights=str(path))
    assert _same(net, source)


def test_new_head_is_skipped_and_reported(tmp_path, source):
    path = tmp_path / "w.pt"
    torch.save(source.state_dict(), path)
    net = create_model("vgg16", num_classes=7, width=0.125)
    report = load_weights(net, path)
    assert report.skipped == ["classifier.6.weight", "classifier.6.bias"]
    assert _same(net, source, skip=("classifier.6",)) and net.classifier[6].out_features == 7
    assert "new (randomly initialized)" in report.summary()


def test_rgb_weights_adapt_to_grayscale(tmp_path, source):
    path = tmp_path / "w.pt"
    torch.save(source.state_dict(), path)
    gray = create_classifier("vgg16", CLASSES, channels=1, width=0.125, weights=str(path))
    stem = gray.net.features[0].weight
    assert stem.shape[1] == 1 and torch.allclose(stem[:, 0], source.features[0].weight.sum(1))


def test_bad_files_raise_clear_errors(tmp_path, source):
    with pytest.raises(NnlabError, match="does not exist"):
        create_model("vgg16", num_classes=3, width=0.125, weights=str(tmp_path / "missing.pt"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(NnlabError, match="cannot read"):
        read_state_dict(junk)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00\x01")
    with pytest.raises(NnlabError, match="safetensors"):
        read_state_dict(broken)
    nothing = tmp_path / "nothing.pt"
    torch.save({"epoch": 3}, nothing)
    with pytest.raises(NnlabError, match="no tensors"):
        read_state_dict(nothing)
    other = tmp_path / "other.pt"
    torch.save(create_model("mlp", num_classes=3, width=0.125).state_dict(), other)
    with pytest.raises(NnlabError, match="no tensor .* matches"):
        create_model("vgg16", num_classes=3, width=0.125, weights=str(other))
    wider = tmp_path / "wider.pt"
    torch.save(create_model("vgg16", num_classes=3, width=0.25).state_dict(), wider)
    with pytest.raises(NnlabError, match="other shapes.*width"):
        create_model("vgg16", num_classes=3, width=0.125, weights=str(wider))
    partial = tmp_path / "partial.pt"
    torch.save({k: v for k, v in source.state_dict().items() if k.startswith("features.0.")}, partial)
    with pytest.raises(NnlabError, match="covers only"):
        create_model("vgg16", num_classes=3, width=0.125, weights=str(partial))
