"""The roi_align model (align-mode detector) and `train --roi-mode align`'s library side."""

from __future__ import annotations

import pytest
import torch

from nnlab import artifacts
from nnlab.data import DataSelection
from nnlab.detection import load_proposals_dataset, propose_regions, voc
from nnlab.detection.align import build_align_model, region_features, roi_head, train_align_head
from nnlab.detection.roi import extract_roi_features
from nnlab.errors import NnlabError
from nnlab.models import create_classifier, load_model, save_model
from nnlab.runtime import Runtime
from nnlab.training.config import TrainConfig


@pytest.fixture(scope="module")
def proposals_path(scenes_dir, tmp_path_factory):
    df, meta = propose_regions(scenes_dir, "train", max_side=96, max_per_image=40, search_threads=1)
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
    path = save_model(tmp_path / "align.safetensors", model.eval())
    loaded = load_model(path)
    x = torch.rand(3, 3, 16, 16)
    assert torch.allclose(loaded(x), model(x), atol=1e-6)
    assert loaded.net.roi_options == model.net.roi_options


def test_roi_head_pools_regions_from_one_backbone_pass(source):
    model, _ = build_align_model(source, ["background", "a"], {"pool": "avg", "output_size": 2})
    model.eval()
    image = torch.rand(3, 64, 80)
    boxes = torch.tensor([[0, 0, 32, 32], [10, 20, 70, 60]], dtype=torch.float32)
    head = roi_head(model)
    feats = extract_roi_features(head.backbone, image, boxes, tail=head.tail, **head.options)
    expected = model.net.classifier(feats).softmax(1)
    assert torch.allclose(head.predict_proba(image, boxes), expected, atol=1e-6)
    assert head.predict_proba(image, boxes).shape == (2, 2)


def test_default_align_model_splits_the_backbone_and_uses_a_pyramid(source):
    model, _ = build_align_model(source, ["background", "a"], {})
    kwargs = model.spec.arch_kwargs
    # 16-pixel crops: pooled at stride 2 (8 x 8 cells); mobilenet_v2 blocks 0-1 run at stride 2
    assert kwargs["split"] == 2 and kwargs["roi_size"] == 16 and kwargs["output_size"] == 8
    assert kwargs["scales"] == [1.0, 0.5, 0.25]
    head = roi_head(model)
    assert len(head.backbone) == 2 and len(head.tail) == 17
    # 224-pixel crops: Faster R-CNN's C4 split, stride 16 (blocks 0-13), 14 x 14 pooled cells
    big = create_classifier("mobilenet_v2", ["0", "1"], size=224, width=0.25, mean=[0.4] * 3, std=[0.2] * 3)
    kwargs = build_align_model(big, ["background", "a"], {})[0].spec.arch_kwargs
    assert kwargs["split"] == 14 and kwargs["output_size"] == 14


def test_auto_split_follows_the_strides_of_any_features_backbone():
    from nnlab.models.roi import feature_strides

    vgg = create_classifier("vgg16", ["0", "1"], size=32, width=0.125, mean=[0.4] * 3, std=[0.2] * 3).eval()
    kwargs = build_align_model(vgg, ["background", "a"], {})[0].spec.arch_kwargs
    strides = feature_strides(vgg.net.features, 3)
    # 32-px crops: the deepest block at stride 4 (just before the next max-pool), 8 x 8 pooled cells
    assert strides[kwargs["split"] - 1] == 4 and strides[kwargs["split"]] == 8 and kwargs["output_size"] == 8


def test_a_region_that_is_the_whole_crop_gets_the_crop_logits(source):
    """With the C4 split, a box covering a roi_size image pools exactly the trunk cells a crop has."""
    model, _ = build_align_model(source, ["background", "a", "b"], {"sampling_ratio": 1, "scales": [1.0]})
    model.eval()
    crop = torch.rand(1, 3, 16, 16)
    head = roi_head(model)
    box = torch.tensor([[0.0, 0.0, 16.0, 16.0]])
    assert torch.allclose(head.predict_proba(crop[0], box), model(crop).softmax(1), atol=1e-5)


def test_align_options_none_restore_single_scale_last_map_pooling(source):
    model, _ = build_align_model(source, ["background", "a"], {"split": "none", "scales": "none", "output_size": 2})
    assert "split" not in model.spec.arch_kwargs and "scales" not in model.spec.arch_kwargs
    head = roi_head(model)
    assert head.tail is None and head.options["scales"] is None and len(head.backbone) == len(source.net.features)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"split": 99}, "split must be"),
        ({"split": "x"}, "split must be"),
        ({"roi_size": "none"}, "roi_size must be"),
        ({"roi_size": 0}, "roi_size must be"),
    ],
)
def test_bad_align_options_are_clear_errors(source, options, message):
    with pytest.raises(NnlabError, match=message):
        build_align_model(source, ["background", "a"], options)


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
    box = ds.df[["x1", "y1", "x2", "y2"]].to_numpy()[row : row + 1]
    image = voc.read_image(voc.image_dir(ds.meta["voc_dir"]) / file)
    single = roi_head(model).features(image, box)
    assert torch.allclose(feats[row], single[0], atol=1e-5)


def test_run_train_in_align_mode_writes_a_self_contained_detector(source, proposals_path, tmp_path):
    from nnlab.training.train_run import TrainRequest, run_train

    init = save_model(tmp_path / "backbone.safetensors", source)
    out = tmp_path / "align.safetensors"
    req = TrainRequest(
        output=out,
        init=init,
        config=TrainConfig(epochs=2, optimizer="adam", lr=0.01),
        data=DataSelection(dataset=f"proposals:{proposals_path}", val_fraction=0.25),
        runtime=Runtime(device="cpu"),
        balance="undersample",
        model_args={"output_size": 1},
        roi_mode="align",
    )
    outcome = run_train(req)  # the training library dispatches roi_mode "align" to train_align_head
    model = load_model(out)
    assert model.spec.arch == "roi:mobilenet_v2" and model.spec.classes[0] == "background"
    assert model.net.roi_options["output_size"] == 1
    # the trunk stays frozen; the tail (blocks after the split) is trained with the classifier (C4 head)
    split = model.net.split
    backbone = load_model(init).net.features.state_dict()
    trained = model.net.features.state_dict()
    trunk_keys = [k for k in backbone if int(k.split(".")[0]) < split]
    tail_weights = [k for k in backbone if int(k.split(".")[0]) >= split and k.endswith("weight")]
    assert trunk_keys and all(torch.equal(trained[k], backbone[k]) for k in trunk_keys)
    assert any(not torch.equal(trained[k], backbone[k]) for k in tail_weights)
    assert len(outcome.history_frame) == 2 and out.with_name("align.history.parquet").exists()
    assert model.provenance["roi_mode"] == "align"


def test_train_align_head_needs_proposals_and_init(source, proposals_path, tmp_path):
    from nnlab.training.train_run import TrainRequest

    with pytest.raises(NnlabError, match="proposals"):
        train_align_head(
            TrainRequest(output=tmp_path / "a.safetensors", data=DataSelection(dataset="digits"), init=tmp_path / "x")
        )
    with pytest.raises(NnlabError, match="init model"):
        train_align_head(
            TrainRequest(output=tmp_path / "a.safetensors", data=DataSelection(dataset=f"proposals:{proposals_path}"))
        )


def test_run_train_dispatch_refuses_unknown_modes_and_robustness_hooks(tmp_path):
    from nnlab.robustness.training import RobustnessSettings
    from nnlab.training.train_run import ROI_TRAINERS, TrainRequest, run_train

    assert ROI_TRAINERS.get("align") is train_align_head
    with pytest.raises(NnlabError, match="unknown roi mode 'pool'.*align, crop"):
        run_train(TrainRequest(output=tmp_path / "a.safetensors", roi_mode="pool"))
    with pytest.raises(NnlabError, match="cannot be combined"):
        run_train(
            TrainRequest(output=tmp_path / "a.safetensors", roi_mode="align", hooks=RobustnessSettings(loss="circle"))
        )
    assert list(tmp_path.iterdir()) == []
