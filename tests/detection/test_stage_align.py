"""The roi_align model (align-mode detector) and `train --roi-mode align`'s library side."""

from __future__ import annotations

import pytest
import torch

from nnlab import artifacts
from nnlab.detection import load_proposals_dataset, propose_regions, voc
from nnlab.detection.align import build_align_model, region_features, roi_head, train_align_head
from nnlab.detection.roi import extract_roi_features
from nnlab.errors import NnlabError
from nnlab.models import create_classifier


@pytest.fixture(scope="module")
def proposals_path(scenes_dir, tmp_path_factory):
    df, meta = propose_regions(scenes_dir, "train", max_side=96, max_per_image=40, workers=1)
    path = tmp_path_factory.mktemp("props") / "train.parquet"
    artifacts.save_table(path, df, meta)
    return path


@pytest.fixture(scope="module")
def source():
    torch.manual_seed(0)
    return create_classifier("mobilenet_v2", ["0", "1", "2"], size=16, width=0.25, mean=[0.4] * 3, std=[0.2] * 3).eval()


def test_align_model_copies_the_backbone_and_rebuilds_from_its_file(source, tmp_path):
    model, copied = build_align_model(source, ["background", "3", "7"], {"output_size": 2})
    assert copied > 0 and model.spec.arch == "roi:mobilenet_v2" and model.spec.classes == ["background", "3", "7"]
    for key, value in source.net.features.state_dict().items():
        assert torch.equal(model.net.features.state_dict()[key], value)
    assert not any(p.requires_grad for p in model.net.features.parameters())
    assert model.spec.input == source.spec.input
    path = artifacts.save_model(tmp_path / "align.safetensors", model.eval())
    loaded = artifacts.load_model(path)
    x = torch.rand(3, 3, 16, 16)
    assert torch.allclose(loaded(x), model(x), atol=1e-6)
    assert loaded.net.roi_options == model.net.roi_options


def test_roi_head_pools_regions_from_one_backbone_pass(source):
    model, _ = build_align_model(source, ["background", "a"], {"pool": "avg", "output_size": 2})
    model.eval()
    image = torch.rand(3, 64, 80)
    boxes = torch.tensor([[0, 0, 32, 32], [10, 20, 70, 60]], dtype=torch.float32)
    head = roi_head(model)
    feats = extract_roi_features(model.net.features, image, boxes, **head.options)
    expected = model.net.classifier(feats).softmax(1)
    assert torch.allclose(head.predict_proba(image, boxes), expected, atol=1e-6)
    assert head.predict_proba(image, boxes).shape == (2, 2)


def test_align_mode_refuses_a_crop_model(source):
    with pytest.raises(NnlabError, match="roi_align"):
        roi_head(source)


def test_region_features_follow_the_dataset_rows(source, proposals_path):
    ds = load_proposals_dataset(proposals_path, "train", val_fraction=0.25)
    model, _ = build_align_model(source, list(ds.classes), {})
    feats, targets = region_features(model.eval(), ds)
    assert feats.shape[0] == len(ds) and torch.equal(targets, torch.as_tensor(ds.targets))
    row = 5
    file = ds.df["file"].iloc[row]
    box = ds.df[["x1", "y1", "x2", "y2"]].to_numpy()[row:row + 1]
    image = voc.read_image(voc.image_dir(ds.meta["voc_dir"]) / file)
    single = roi_head(model).features(image, box)
    assert torch.allclose(feats[row], single[0], atol=1e-5)


def test_train_align_head_writes_a_self_contained_detector(source, proposals_path, tmp_path):
    from nnlab.training.train_run import TrainRequest

    init = artifacts.save_model(tmp_path / "backbone.safetensors", source)
    out = tmp_path / "align.safetensors"
    req = TrainRequest(output=out, dataset=f"proposals:{proposals_path}", init=init, epochs=2, optimizer="adam",
                       lr=0.01, val_fraction=0.25, balance="undersample", model_args={"output_size": 1}, device="cpu")
    outcome = train_align_head(req)
    model = artifacts.load_model(out)
    assert model.spec.arch == "roi:mobilenet_v2" and model.spec.classes[0] == "background"
    assert model.net.roi_options["output_size"] == 1
    backbone = artifacts.load_model(init).net.features.state_dict()
    assert all(torch.equal(model.net.features.state_dict()[k], v) for k, v in backbone.items())
    assert len(outcome.history_frame) == 2 and out.with_name("align.history.parquet").exists()
    assert model.provenance["roi_mode"] == "align"


def test_train_align_head_needs_proposals_and_init(source, proposals_path, tmp_path):
    from nnlab.training.train_run import TrainRequest

    with pytest.raises(NnlabError, match="proposals"):
        train_align_head(TrainRequest(output=tmp_path / "a.safetensors", dataset="digits", init=tmp_path / "x"))
    with pytest.raises(NnlabError, match="--init"):
        train_align_head(TrainRequest(output=tmp_path / "a.safetensors", dataset=f"proposals:{proposals_path}"))
