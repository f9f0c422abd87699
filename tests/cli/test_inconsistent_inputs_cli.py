"""Issue 23: inconsistent data files, model tensors, feature labels and doubled options through the real CLI:
exit 1 (2 for a usage error), one line, no traceback, nothing written."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.io
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tests.cli.helpers import error_text, invoke
from tests.data.conftest import _write_idx, write_cifar10, write_mnist, write_svhn


def _one_line(result, out_dir, before, *fragments, code=1):
    text = error_text(result)
    assert result.exit_code == code, (result.exit_code, text)
    assert "Traceback" not in text and "Traceback" not in result.output
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), text
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])
    assert sorted(p.name for p in out_dir.iterdir()) == before


def _train(runner, app, tmp_path, dataset, root, *fragments):
    out = tmp_path / "out"
    out.mkdir()
    res = invoke(
        runner,
        app,
        "train",
        "-m",
        "mlp",
        "--dataset",
        dataset,
        "--data-root",
        root,
        "--limit",
        "60",
        "--epochs",
        "1",
        "-o",
        out / "o.safetensors",
    )
    _one_line(res, out, [], *fragments)


def _cifar_batch(root, images, labels):
    write_cifar10(root)
    path = root / "cifar-10-batches-py" / "data_batch_1"
    entry = pickle.loads(path.read_bytes())
    rng = np.random.default_rng(0)
    entry["data"] = rng.integers(0, 256, (images, 3072), dtype=np.uint8)
    entry["labels"] = [i % 10 for i in range(labels)]
    path.write_bytes(pickle.dumps(entry, protocol=2))
    return entry


def test_cifar_batch_with_more_labels_than_images(runner, app, tmp_path):
    _cifar_batch(tmp_path / "d", 20, 50)
    _train(runner, app, tmp_path, "cifar10", tmp_path / "d", "data_batch_1 holds 20 images but 50 labels")


def test_cifar_label_outside_the_classes_and_float_labels(runner, app, tmp_path):
    root = tmp_path / "d"
    entry = _cifar_batch(root, 10, 10)
    entry["labels"][3] = 10
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps(entry, protocol=2))
    _train(runner, app, tmp_path, "cifar10", root, "data_batch_1 has 1 of 10 labels outside the 10 classes")
    entry["labels"] = [0.5] * 10
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps(entry, protocol=2))
    (tmp_path / "out").rmdir()
    _train(runner, app, tmp_path, "cifar10", root, "labels must be whole numbers")


@pytest.mark.parametrize("images, labels", [(30, 50), (30, 10)])
def test_mnist_idx_pair_counts_differ(runner, app, tmp_path, images, labels):
    root = tmp_path / "d"
    write_mnist(root)
    raw = root / "MNIST" / "raw"
    _write_idx(raw / "train-images-idx3-ubyte", np.zeros((images, 28, 28), np.uint8))
    _write_idx(raw / "train-labels-idx1-ubyte", (np.arange(labels) % 10).astype(np.uint8))
    _train(
        runner,
        app,
        tmp_path,
        "mnist",
        root,
        f"train-images-idx3-ubyte holds {images} images but",
        f"train-labels-idx1-ubyte holds {labels} labels",
    )


def test_mnist_images_of_another_size(runner, app, tmp_path):
    root = tmp_path / "d"
    write_mnist(root)
    _write_idx(root / "MNIST" / "raw" / "train-images-idx3-ubyte", np.zeros((40, 32, 32), np.uint8))
    _train(runner, app, tmp_path, "mnist", root, "holds images of shape 32×32, but the format's images are 28×28")


def test_svhn_fewer_labels_than_images(runner, app, tmp_path):
    root = tmp_path / "d"
    write_svhn(root)
    x = np.zeros((32, 32, 3, 30), np.uint8)
    scipy.io.savemat(root / "train_32x32.mat", {"X": x, "y": np.arange(1, 6, dtype=np.uint8).reshape(-1, 1)})
    _train(runner, app, tmp_path, "svhn", root, "train_32x32.mat (X) holds 30 images but y holds 5 labels")


def test_folder_whose_first_image_is_unreadable(runner, app, tmp_path):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(1, 4):
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "d" / c / f"{i}.png")
    (tmp_path / "d" / "a" / "0.png").write_bytes(b"junk")
    _train(runner, app, tmp_path, f"folder:{tmp_path / 'd'}", tmp_path, "cannot read image", "0.png")


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--width", "2", "--model-arg", "width=2"], ["--width (2.0)", "--model-arg (width=2)"]),
        (["--model-arg", "width=2"], ["--width (1.0)", "--model-arg (width=2)"]),
        (["--image-size", "8", "--model-arg", "image_size=8"], ["--image-size (8)", "--model-arg (image_size=8)"]),
        (["--model-arg", "pretrained=true"], ["--pretrained (False)", "--model-arg (pretrained=True)"]),
        (["--model-arg", "num_classes=3"], ["the classes (10)", "--model-arg (num_classes=3)"]),
    ],
)
def test_an_option_given_twice_is_a_usage_error(runner, app, tmp_path, args, fragments):
    res = invoke(
        runner,
        app,
        "train",
        "-m",
        "mlp",
        "--dataset",
        "digits",
        *args,
        "--epochs",
        "1",
        "--limit",
        "60",
        "-o",
        tmp_path / "o.safetensors",
    )
    _one_line(res, tmp_path, [], *fragments, code=2)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from typer.testing import CliRunner

    from nnlab.cli.main import app

    d = tmp_path_factory.mktemp("small")
    runner = CliRunner()
    for args in (
        [
            "train",
            "-m",
            "mlp",
            "--width",
            "0.25",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--limit",
            "100",
            "-o",
            d / "m.safetensors",
            "--quiet",
        ],
        ["extract-features", d / "m.safetensors", "--limit", "60", "-o", d / "f.safetensors", "--quiet"],
    ):
        assert runner.invoke(app, [str(a) for a in args]).exit_code == 0
    return d


def _rewrite(src, dst, key, fn):
    with safe_open(str(src), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    tensors[key] = fn(tensors[key]).contiguous()
    save_file(tensors, str(dst), metadata=meta)
    return tensors


def test_model_bias_stored_as_int32_is_refused_before_loading(runner, app, small, tmp_path):
    with safe_open(str(small / "m.safetensors"), framework="pt") as f:
        bias = next(k for k in f.keys() if k.endswith("bias"))
    bad = tmp_path / "bad.safetensors"
    _rewrite(small / "m.safetensors", bad, bias, lambda t: t.view(torch.int32))
    for args in (["inspect", bad], ["extract-features", bad, "--limit", "20", "-o", tmp_path / "x.safetensors"]):
        _one_line(
            invoke(runner, app, *args),
            tmp_path,
            ["bad.safetensors"],
            f"tensor '{bias}' is stored as int32, but the architecture needs float32",
        )
    _rewrite(small / "m.safetensors", bad, bias, lambda t: t[:-1])
    _one_line(invoke(runner, app, "inspect", bad), tmp_path, ["bad.safetensors"], f"tensor '{bias}' has shape")
    text = error_text(invoke(runner, app, "inspect", bad))
    assert "Error(s) in loading state_dict" not in text


@pytest.mark.parametrize(
    "label, fn, fragment",
    [
        ("negative", lambda t: t - 1, "outside 0..9 (the file's 10 classes)"),
        ("huge", lambda t: t * 10**12 + 1, "outside 0..9"),
        ("float", lambda t: t.float(), "must hold whole class indices"),
    ],
)
def test_feature_labels_that_are_no_classes(runner, app, small, tmp_path, label, fn, fragment):
    bad = tmp_path / "bad.safetensors"
    _rewrite(small / "f.safetensors", bad, "labels", fn)
    for args in (
        ["rank-features", bad, "--method", "univariate", "-o", tmp_path / "r.parquet"],
        ["si-profile", bad, "-o", tmp_path / "p.parquet"],
    ):
        _one_line(invoke(runner, app, *args), tmp_path, ["bad.safetensors"], fragment)


def test_empty_ranges_read_sensibly():
    from nnlab.errors import NnlabError
    from nnlab.models.listing import resolve_layer
    from nnlab.models.surgery import _check_indices

    with pytest.raises(NnlabError, match="has no features to select") as err:
        _check_indices([0, 1], 0)
    assert "0..-1" not in str(err.value)
    with pytest.raises(NnlabError, match="has no layers to select"):
        resolve_layer(torch.nn.Sequential(), 0)
