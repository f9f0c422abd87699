"""`make-scenes`, `propose-regions`, `train --dataset proposals:`, `detect` end to end, and their user errors."""

from __future__ import annotations

import shutil

import pytest
import torch

from nnlab import artifacts
from nnlab.detection import voc
from nnlab.detection.stage import max_same_class_overlap
from nnlab.models import load_model
from tests.cli.helpers import assert_clear_error, error_text, invoke

TINY = ["--width", "0.25", "--image-size", "16"]
SEARCH = ["--max-side", "96", "--max-per-image", "40", "--search-threads", "1"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """make-scenes → propose-regions → mnist5k backbone → detector trained on proposals (tiny sizes)."""
    from typer.testing import CliRunner

    from nnlab.cli.main import app

    runner = CliRunner()
    root = tmp_path_factory.mktemp("detect")
    vocdir, props = root / "voc", root / "train.parquet"
    steps = [
        ["make-scenes", vocdir, "--count", "10", "--size", "96", "--seed", "2"],
        ["propose-regions", vocdir, "--split", "train", *SEARCH, "-o", props],
        [
            "train",
            "--model",
            "mobilenet_v2",
            *TINY,
            "--dataset",
            "mnist5k",
            "--limit",
            "200",
            "--epochs",
            "1",
            "-o",
            root / "backbone.safetensors",
            "--quiet",
        ],
        [
            "train",
            "--model",
            "mobilenet_v2",
            *TINY,
            "--init",
            root / "backbone.safetensors",
            "--freeze",
            "features",
            "--dataset",
            f"proposals:{props}",
            "--balance",
            "undersample",
            "--val-fraction",
            "0.2",
            "--epochs",
            "1",
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
            "-o",
            root / "det.safetensors",
            "--quiet",
        ],
    ]
    outputs = [invoke(runner, app, *step) for step in steps]
    for step, res in zip(steps, outputs, strict=False):
        assert res.exit_code == 0, (step[0], res.output)
    return {
        "root": root,
        "voc": vocdir,
        "props": props,
        "det": root / "det.safetensors",
        "backbone": root / "backbone.safetensors",
        "outputs": outputs,
    }


def test_make_scenes_writes_a_voc_folder(demo):
    vocdir = demo["voc"]
    assert sum(len(voc.list_images(vocdir, s)) for s in voc.SPLITS) == 10
    assert len(list((vocdir / "Annotations").glob("*.xml"))) == 10
    assert "objects" in demo["outputs"][0].output


def test_proposals_table_records_every_option(demo):
    df, meta = artifacts.load_table(demo["props"], table="proposals")
    assert {"image", "x1", "y1", "x2", "y2", "iou", "gt_class", "label"} <= set(df.columns)
    for key in (
        "split",
        "mode",
        "max_side",
        "min_size",
        "max_per_image",
        "pos_iou",
        "neg_iou",
        "classes",
        "add_gt",
        "labelled",
        "skipped",
        "image_root",
    ):
        assert key in meta, key
    assert meta["max_side"] == 96 and meta["max_per_image"] == 40 and meta["split"] == "train"
    assert "labels" in demo["outputs"][1].output


def test_init_copies_the_backbone_across_class_counts(demo):
    backbone, det = load_model(demo["backbone"]), load_model(demo["det"])
    assert len(backbone.spec.classes) == 10 and det.spec.classes[0] == "background"
    for key, value in backbone.net.features.state_dict().items():
        if not key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert torch.equal(det.net.features.state_dict()[key], value), key
    assert det.net.classifier[-1].out_features == len(det.spec.classes) != 10
    assert det.provenance["dataset"].startswith("proposals:")


def test_detect_writes_detections_metrics_plot_and_drawings(demo, runner, app, tmp_path):
    out = tmp_path / "dets.parquet"
    res = invoke(
        runner,
        app,
        "detect",
        demo["det"],
        demo["voc"],
        *SEARCH,
        "--score",
        "0.0",
        "--nms-iou",
        "0.4",
        "-o",
        out,
        "--draw",
        tmp_path / "drawn",
    )
    assert res.exit_code == 0, error_text(res)
    dets, meta = artifacts.load_table(out, table="detections")
    assert list(dets.columns) == ["image", "x1", "y1", "x2", "y2", "score", "class"] and len(dets) > 0
    assert max_same_class_overlap(dets) <= 0.4 + 1e-6
    metrics, mmeta = artifacts.load_table(tmp_path / "dets.metrics.parquet")
    assert metrics["class"].iloc[-1] == "all" and {"ap50", "ap"} <= set(metrics.columns)
    assert mmeta["map50"] == pytest.approx(metrics["ap50"].iloc[-1], nan_ok=True)
    assert (tmp_path / "dets.pr.png").stat().st_size > 1000
    assert len(list((tmp_path / "drawn").glob("*.png"))) == len(voc.list_images(demo["voc"], "test"))
    assert "mAP@0.5" in res.output and meta["options"]["nms_iou"] == 0.4


def test_align_head_trains_and_detects(demo, runner, app, tmp_path):
    align = tmp_path / "align.safetensors"
    res = invoke(
        runner,
        app,
        "train",
        "--roi-mode",
        "align",
        "--init",
        demo["det"],
        "--dataset",
        f"proposals:{demo['props']}",
        "--val-fraction",
        "0.2",
        "--epochs",
        "2",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "-o",
        align,
        "--quiet",
    )
    assert res.exit_code == 0, error_text(res)
    assert load_model(align).spec.arch == "roi:mobilenet_v2"
    out = tmp_path / "align.parquet"
    res = invoke(runner, app, "detect", align, demo["voc"], "--roi-mode", "align", *SEARCH, "--score", "0", "-o", out)
    assert res.exit_code == 0, error_text(res)
    assert max_same_class_overlap(artifacts.load_table(out)[0]) <= 0.3 + 1e-6
    res = invoke(runner, app, "detect", demo["det"], demo["voc"], "--roi-mode", "align", "-o", tmp_path / "x.parquet")
    assert_clear_error(res, "roi_align")
    assert not (tmp_path / "x.parquet").exists()


def test_balance_weights_and_its_misuse(demo, runner, app, tmp_path):
    out = tmp_path / "w.safetensors"
    res = invoke(
        runner,
        app,
        "train",
        "--model",
        "mobilenet_v2",
        *TINY,
        "--init",
        demo["backbone"],
        "--freeze",
        "features",
        "--dataset",
        f"proposals:{demo['props']}",
        "--balance",
        "weights",
        "--limit",
        "300",
        "--epochs",
        "1",
        "-o",
        out,
        "--quiet",
    )
    assert res.exit_code == 0, error_text(res)
    weights = load_model(out).provenance["train_config"]["class_weights"]
    assert weights is not None and weights[0] < max(weights)
    res = invoke(
        runner,
        app,
        "train",
        "--model",
        "cnn",
        "--dataset",
        "digits",
        "--balance",
        "weights",
        "-o",
        tmp_path / "d.safetensors",
    )
    assert_clear_error(res, "proposals")
    assert not (tmp_path / "d.safetensors").exists()


def test_corrupt_image_is_skipped_counted_and_named(demo, runner, app, tmp_path):
    copy = tmp_path / "voc"
    shutil.copytree(demo["voc"], copy)
    victim = voc.list_images(copy, "train")[0]
    voc.image_path(copy, victim).write_bytes(b"\xff\xd8 broken")
    out = tmp_path / "p.parquet"
    res = invoke(runner, app, "propose-regions", copy, *SEARCH, "-o", out)
    assert res.exit_code == 0, error_text(res)
    assert victim in res.output and "skipped" in res.output
    df, meta = artifacts.load_table(out)
    assert victim in meta["skipped"] and victim not in set(df["image"])
    res = invoke(runner, app, "detect", demo["det"], copy, "--split", "train", *SEARCH, "-o", tmp_path / "d.parquet")
    assert res.exit_code == 0 and victim in res.output


def test_boxes_outside_the_image_are_clipped(demo, runner, app, tmp_path):
    copy = tmp_path / "voc"
    shutil.copytree(demo["voc"], copy)
    image_id = voc.list_images(copy, "train")[0]
    ann = voc.annotation_path(copy, image_id)
    size, objects = voc.read_annotation(ann)
    objects[0]["box"] = (-20.0, -5.0, 300.0, 40.0)
    ann.write_text(voc.annotation_xml(f"{image_id}.jpg", size, objects).replace(">-19<", ">-19<"))
    out = tmp_path / "p.parquet"
    res = invoke(runner, app, "propose-regions", copy, *SEARCH, "-o", out)
    assert res.exit_code == 0, error_text(res)
    df, _ = artifacts.load_table(out)
    gt = df[(df["image"] == image_id) & (df["source"] == "gt")]
    assert gt["x1"].min() >= 0 and gt["x2"].max() <= size[0] and gt["y1"].min() >= 0


@pytest.mark.parametrize("case", ["empty", "malformed", "no-background", "class-mismatch"])
def test_bad_inputs_give_one_clear_line_and_no_file(case, demo, runner, app, tmp_path):
    out = tmp_path / "out.parquet"
    if case == "empty":
        (tmp_path / "empty").mkdir()
        res = invoke(runner, app, "propose-regions", tmp_path / "empty", "-o", out)
        assert_clear_error(res, "empty")
        res = invoke(runner, app, "detect", demo["det"], tmp_path / "empty", "-o", out)
        assert_clear_error(res, "JPEGImages")
    elif case == "malformed":
        copy = tmp_path / "voc"
        shutil.copytree(demo["voc"], copy)
        image_id = voc.list_images(copy, "train")[0]
        voc.annotation_path(copy, image_id).write_text("<annotation><size>")
        res = invoke(runner, app, "propose-regions", copy, *SEARCH, "-o", out)
        assert_clear_error(res, f"{image_id}.xml")
        res = invoke(runner, app, "detect", demo["det"], copy, "--split", "train", "-o", out)
        assert_clear_error(res, f"{image_id}.xml")
    elif case == "no-background":
        res = invoke(runner, app, "detect", demo["backbone"], demo["voc"], "-o", out)
        assert_clear_error(res, "do not match proposal labels")
    else:
        df, meta = artifacts.load_table(demo["props"])
        meta.update(classes=["cat"], add_gt=False)
        df = df.assign(label="background")
        props = artifacts.save_table(tmp_path / "cats.parquet", df, meta)
        res = invoke(
            runner, app, "detect", demo["det"], demo["voc"], "--split", "train", "--proposals", props, "-o", out
        )
        assert_clear_error(res, "do not match the proposals' labels")
    assert not out.exists()
