"""Metadata fuzz: every metadata field of every artifact kind, mutated, fed to every command that reads that kind.

Artifacts come from files people exchange, so their metadata is untrusted input. For each field
of model, features, adversarial and table artifacts, each mutation (missing, not JSON, wrong type,
a list where a mapping belongs, absurd values) is written into a copy of a good artifact, and each
command that reads that kind runs on it through the CLI: the contract is no traceback, exit
status 1, one line, and no output file. The tensors are untrusted too: the label tensors of
features and adversarial files (dtype, range, count) and the weight tensors of model files (dtype,
shape, presence) are mutated the same way.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from typer.testing import CliRunner

from nnlab.cli.main import app

DROP = object()  # "remove this field"
SAFETENSORS_OUT = ("extract-features", "truncate", "attack", "train", "fit-head")
RUNNER = CliRunner()


def _run(*args):
    return RUNNER.invoke(app, [str(a) for a in args])


def _ok(*args):
    res = _run(*args)
    assert res.exit_code == 0, (args, res.output)
    return res


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """One valid artifact of each kind, made by the commands themselves on digits (8×8, tiny models)."""
    from PIL import Image

    d = tmp_path_factory.mktemp("good")
    _ok(
        "train",
        "--model",
        "cnn",
        "--width",
        "0.25",
        "--dataset",
        "digits",
        "--image-size",
        "8",
        "--epochs",
        "1",
        "--limit",
        "300",
        "-o",
        d / "model.safetensors",
        "--quiet",
    )
    _ok("truncate", d / "model.safetensors", "--at", "3", "-o", d / "trunc.safetensors", "--quiet")
    _ok(
        "extract-features",
        d / "trunc.safetensors",
        "--split",
        "train",
        "--limit",
        "200",
        "-o",
        d / "trunc_features.safetensors",
        "--quiet",
    )
    _ok(
        "rank-features",
        d / "trunc_features.safetensors",
        "--method",
        "univariate",
        "-o",
        d / "ranking.parquet",
        "--quiet",
    )
    _ok("extract-features", d / "model.safetensors", "--limit", "100", "-o", d / "features.safetensors", "--quiet")
    _ok(
        "si-profile",
        d / "model.safetensors",
        "--splits",
        "train",
        "--limit",
        "100",
        "-o",
        d / "profile.parquet",
        "--quiet",
    )
    _ok("attack", d / "model.safetensors", "--attack", "fgsm", "--limit", "40", "-o", d / "adv.safetensors", "--quiet")
    _ok("evaluate", d / "model.safetensors", "--limit", "100", "-o", d / "metrics.parquet", "--quiet")
    Image.new("RGB", (64, 64), "white").save(d / "scene.png")
    return d


# -------------------------------------------------------------------------- mutations

BAD_JSON = "{not json"
NESTED = "[" * 100_000 + "]" * 100_000  # deeper than the JSON parser's recursion limit

MODEL_FIELDS = {
    "nnlab.arch": {"missing": DROP, "unknown model": "no-such-net", "a path": "/etc/passwd"},
    "nnlab.arch_kwargs": {
        "not JSON": BAD_JSON,
        "a list": "[1, 2]",
        "negative width": '{"width": -1}',
        "width NaN": '{"width": NaN}',
        "a path": '{"width": 0.25, "checkpoint_path": "/tmp/w.pth"}',
    },
    "nnlab.classes": {"missing": DROP, "a number": "42", "empty": "[]", "huge": json.dumps(["c"] * 200_001)},
    "nnlab.input": {
        "a list": "[1, 2]",
        "negative size": '{"channels": 1, "size": -8, "mean": [0.5], "std": [0.5]}',
        "huge size": '{"channels": 1, "size": 1000000000, "mean": [0.5], "std": [0.5]}',
        "zero std": '{"channels": 1, "size": 8, "mean": [0.5], "std": [0]}',
    },
    "nnlab.surgery": {
        "not JSON": BAD_JSON,
        "a mapping": '{"op": "truncate"}',
        "unknown op": '[{"op": "explode"}]',
        "truncate far away": '[{"op": "truncate", "at": 999999}]',
    },
    "nnlab.metrics": {"not JSON": BAD_JSON, "a list": "[1, 2]"},
    "nnlab.provenance": {"a list": "[1, 2]", "dataset a number": '{"dataset": 5}', "deeply nested": NESTED},
    "nnlab.format": {"newer": "2", "huge": "1" + "0" * 40, "text": "one"},
    "nnlab.kind": {"missing": DROP, "nonsense": "???"},
}
FEATURES_FIELDS = {
    "nnlab.layers": {
        "not JSON": BAD_JSON,
        "a mapping": '{"a": 1}',
        "unknown layer": '["nope"]',
        "labels as a layer": '["labels"]',
    },
    "nnlab.meta": {
        "not JSON": BAD_JSON,
        "a list": "[1, 2]",
        "classes a mapping": '{"classes": {"a": 1}}',
        "negative samples": '{"samples": -4}',
    },
    "nnlab.format": {"text": "one"},
    "nnlab.kind": {"another kind": "model"},
}
ADVERSARIAL_FIELDS = {
    "nnlab.meta": {
        "not JSON": BAD_JSON,
        "a list": "[1, 2]",
        "classes of numbers": '{"classes": [1, 2]}',
        "params a list": '{"params": [1]}',
    },
    "nnlab.format": {"newer": "2"},
    "nnlab.kind": {"missing": DROP},
}
TABLE_FIELDS = {
    "nnlab": {
        "missing": DROP,
        "not JSON": BAD_JSON,
        "a list": "[1, 2]",
        "invalid UTF-8": b"\xff\xfe",
        "deeply nested": NESTED,
    },
    "nnlab.format": {"huge": 10**40, "text": "one"},
    "table": {"a number": 5},
    "provenance": {"a list": [1]},
    "arch": {"a list": [1]},
    "width": {"text": "wide"},
    "feature_dim": {"negative": -3},
    "best_step": {"fraction": 0.5},
    "samples": {"negative": -2},
}

# Tensor mutations: (tensor name, function of the good tensor → the bad one, or DROP / a new name → ADD).
ADD = object()  # "add this tensor"
LABEL_MUTATIONS = {
    "float": lambda t: t.float(),
    "bool": lambda t: t > 4,
    "negative": lambda t: torch.cat([torch.tensor([-1]), t[1:]]),
    "huge": lambda t: t * 10**12 + 1,
    "one too many": lambda t: torch.cat([t, t[:1]]),
    "one too few": lambda t: t[:-1],
    "a column": lambda t: t.reshape(-1, 1),
}
FEATURES_TENSORS = {f"labels {label}": ("labels", fn) for label, fn in LABEL_MUTATIONS.items()}
ADVERSARIAL_TENSORS = {
    **{f"labels {label}": ("labels", fn) for label, fn in LABEL_MUTATIONS.items()},
    "clean_pred huge": ("clean_pred", LABEL_MUTATIONS["huge"]),
    "adv_pred float": ("adv_pred", LABEL_MUTATIONS["float"]),
    "adv_pred one too few": ("adv_pred", LABEL_MUTATIONS["one too few"]),
    "indices float": ("indices", lambda t: t.double()),
    "indices negative": ("indices", lambda t: -1 - t),
    "images integer": ("images", lambda t: (t * 255).to(torch.uint8)),
    "images flat": ("images", lambda t: t.reshape(len(t), -1)),
}
MODEL_TENSORS = {
    "a bias as int32 (same bytes)": ("conv1.bias", lambda t: t.view(torch.int32)),
    "a weight as float64": ("conv2.weight", lambda t: t.double()),
    "a weight as float16": ("fc.weight", lambda t: t.half()),
    "a bias one short": ("conv1.bias", lambda t: t[:-1]),
    "a weight missing": ("fc.weight", DROP),
    "an extra tensor": ("extra.weight", ADD),
}

# -------------------------------------------------------------------------- commands per kind


def model_commands(good, m, trunc, out):
    """Every command that reads a model artifact, given the model ``m``, a truncated model ``trunc`` (for
    fit-head) and an output path ``out``."""
    return {
        "evaluate": ["evaluate", m, "--limit", "50", "-o", out],
        "evaluate --adversarial": ["evaluate", m, "--adversarial", good / "adv.safetensors", "-o", out],
        "inspect": ["inspect", m],
        "inspect --layers": ["inspect", m, "--layers"],
        "extract-features": ["extract-features", m, "--limit", "50", "-o", out],
        "si-profile": ["si-profile", m, "--splits", "train", "--limit", "50", "-o", out],
        "truncate": ["truncate", m, "--at", "3", "-o", out],
        "truncate --profile": ["truncate", m, "--at", "auto", "--profile", good / "profile.parquet", "-o", out],
        "fit-head": [
            "fit-head",
            trunc,
            "--ranking",
            good / "ranking.parquet",
            "--top",
            "4",
            "--epochs",
            "1",
            "--limit",
            "100",
            "-o",
            out,
        ],
        "attack": ["attack", m, "--attack", "fgsm", "--limit", "20", "-o", out],
        "embed": ["embed", m, "--method", "pca", "--limit", "50", "-o", out],
        "train --init": [
            "train",
            "--model",
            "cnn",
            "--width",
            "0.25",
            "--image-size",
            "8",
            "--dataset",
            "digits",
            "--init",
            m,
            "--epochs",
            "1",
            "--limit",
            "100",
            "-o",
            out,
        ],
        "compare": ["compare", m, good / "model.safetensors", "--limit", "50", "-o", out],
        "detect": ["detect", m, good / "scene.png", "-o", out],
    }


def features_commands(good, f, out):
    return {
        "inspect": ["inspect", f],
        "si-profile": ["si-profile", f, "-o", out],
        "rank-features": ["rank-features", f, "--method", "univariate", "-o", out],
        "embed": ["embed", f, "--method", "pca", "-o", out],
    }


def adversarial_commands(good, a, out):
    return {
        "inspect": ["inspect", a],
        "evaluate --adversarial": ["evaluate", good / "model.safetensors", "--adversarial", a, "-o", out],
        "embed --adversarial": [
            "embed",
            good / "model.safetensors",
            "--adversarial",
            a,
            "--method",
            "pca",
            "--limit",
            "50",
            "-o",
            out,
        ],
    }


def table_commands(good, which, t, out):
    cmds = {"inspect": ["inspect", t]}
    if which == "profile":
        cmds["truncate --profile"] = ["truncate", good / "model.safetensors", "--at", "auto", "--profile", t, "-o", out]
    if which == "ranking":
        cmds["fit-head --ranking"] = [
            "fit-head",
            good / "trunc.safetensors",
            "--ranking",
            t,
            "--top",
            "4",
            "--epochs",
            "1",
            "--limit",
            "100",
            "-o",
            out,
        ]
    if which == "metrics":
        cmds["summarize"] = ["summarize", f"m.acc={t}", "-o", out.with_suffix(".parquet")]
    return cmds


# -------------------------------------------------------------------------- helpers


def _mutate_safetensors(src, dst, key, value):
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if value is DROP:
        meta.pop(key, None)
    else:
        meta[key] = value
    save_file(tensors, str(dst), metadata=meta)


def _mutate_tensor(src, dst, key, change):
    """Copy ``src`` to ``dst`` with tensor ``key`` changed by ``change`` (a function, DROP or ADD); metadata kept."""
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if change is DROP:
        del tensors[key]
    elif change is ADD:
        tensors[key] = torch.zeros(3)
    else:
        tensors[key] = change(tensors[key]).contiguous()
    save_file(tensors, str(dst), metadata=meta)


def _mutate_table(src, dst, key, value):
    table = pq.read_table(src)
    schema_meta = dict(table.schema.metadata)
    if key == "nnlab":
        if value is DROP:
            schema_meta.pop(b"nnlab")
        else:
            schema_meta[b"nnlab"] = value if isinstance(value, bytes) else value.encode()
    else:
        payload = json.loads(schema_meta[b"nnlab"])
        payload[key] = value
        schema_meta[b"nnlab"] = json.dumps(payload).encode()
    pq.write_table(table.replace_schema_metadata(schema_meta), dst)


def _check(name, res, folder, inputs):
    """One clean error line, exit 1, and nothing written into ``folder`` besides the ``inputs``."""
    assert res.exception is None or isinstance(res.exception, SystemExit), (name, repr(res.exception), res.output)
    assert "Traceback" not in res.output, (name, res.output)
    assert res.exit_code == 1, (name, res.exit_code, res.output)
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), (name, res.output)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in inputs), name


def _cases(fields):
    return [
        pytest.param(field, value, id=f"{field}={label}")
        for field, muts in fields.items()
        for label, value in muts.items()
    ]


# -------------------------------------------------------------------------- the fuzz


@pytest.mark.parametrize("field, value", _cases(MODEL_FIELDS))
def test_model_metadata(good, tmp_path, field, value):
    m, trunc = tmp_path / "bad.safetensors", tmp_path / "bad_trunc.safetensors"
    _mutate_safetensors(good / "model.safetensors", m, field, value)
    _mutate_safetensors(good / "trunc.safetensors", trunc, field, value)
    for name, args in model_commands(good, m, trunc, tmp_path / "out").items():
        out = tmp_path / ("out.safetensors" if args[0] in SAFETENSORS_OUT else "out.parquet")
        _check(f"{field} → {name}", _run(*[out if a == tmp_path / "out" else a for a in args]), tmp_path, [m, trunc])


@pytest.mark.parametrize("field, value", _cases(FEATURES_FIELDS))
def test_features_metadata(good, tmp_path, field, value):
    f = tmp_path / "bad.safetensors"
    _mutate_safetensors(good / "features.safetensors", f, field, value)
    for name, args in features_commands(good, f, tmp_path / "out.parquet").items():
        _check(f"{field} → {name}", _run(*args), tmp_path, [f])


@pytest.mark.parametrize("field, value", _cases(ADVERSARIAL_FIELDS))
def test_adversarial_metadata(good, tmp_path, field, value):
    a = tmp_path / "bad.safetensors"
    _mutate_safetensors(good / "adv.safetensors", a, field, value)
    for name, args in adversarial_commands(good, a, tmp_path / "out.parquet").items():
        _check(f"{field} → {name}", _run(*args), tmp_path, [a])


@pytest.mark.parametrize("key, change", [pytest.param(*v, id=k) for k, v in MODEL_TENSORS.items()])
def test_model_tensors(good, tmp_path, key, change):
    m, trunc = tmp_path / "bad.safetensors", tmp_path / "bad_trunc.safetensors"
    _mutate_tensor(good / "model.safetensors", m, key, change)
    _mutate_tensor(good / "trunc.safetensors", trunc, key if key != "fc.weight" else "conv1.weight", change)
    for name, args in model_commands(good, m, trunc, tmp_path / "out").items():
        out = tmp_path / ("out.safetensors" if args[0] in SAFETENSORS_OUT else "out.parquet")
        _check(f"{key} → {name}", _run(*[out if a == tmp_path / "out" else a for a in args]), tmp_path, [m, trunc])


@pytest.mark.parametrize("key, change", [pytest.param(*v, id=k) for k, v in FEATURES_TENSORS.items()])
def test_features_tensors(good, tmp_path, key, change):
    f = tmp_path / "bad.safetensors"
    _mutate_tensor(good / "features.safetensors", f, key, change)
    for name, args in features_commands(good, f, tmp_path / "out.parquet").items():
        _check(f"{key} → {name}", _run(*args), tmp_path, [f])


@pytest.mark.parametrize("key, change", [pytest.param(*v, id=k) for k, v in ADVERSARIAL_TENSORS.items()])
def test_adversarial_tensors(good, tmp_path, key, change):
    a = tmp_path / "bad.safetensors"
    _mutate_tensor(good / "adv.safetensors", a, key, change)
    for name, args in adversarial_commands(good, a, tmp_path / "out.parquet").items():
        _check(f"{key} → {name}", _run(*args), tmp_path, [a])


@pytest.mark.parametrize("which", ["profile", "ranking", "metrics"])
@pytest.mark.parametrize("field, value", _cases(TABLE_FIELDS))
def test_table_metadata(good, tmp_path, which, field, value):
    t = tmp_path / "bad.parquet"
    _mutate_table(good / f"{which}.parquet", t, field, value)
    for name, args in table_commands(good, which, t, tmp_path / "out.safetensors").items():
        _check(f"{which}.{field} → {name}", _run(*args), tmp_path, [t])


def test_the_good_artifacts_pass_every_command_that_reads_them(good, tmp_path):
    """The fuzz means something only if the unmutated files pass the same command lines (detect excepted:
    the digits model is no detector, so there only the clean failure is checked)."""
    runs = {}
    for kind, src in (
        ("model", "model.safetensors"),
        ("features", "features.safetensors"),
        ("adversarial", "adv.safetensors"),
    ):
        make = {
            "model": lambda g, f, o: model_commands(g, f, g / "trunc.safetensors", o),
            "features": features_commands,
            "adversarial": adversarial_commands,
        }[kind]
        for name, args in make(good, good / src, tmp_path / "out").items():
            runs[f"{kind}: {name}"] = args
    for which in ("profile", "ranking", "metrics"):
        for name, args in table_commands(good, which, good / f"{which}.parquet", tmp_path / "out").items():
            args = [tmp_path / "out" if str(a).startswith(str(tmp_path / "out")) else a for a in args]
            runs[f"{which} table: {name}"] = args
    for i, (name, args) in enumerate(runs.items()):
        out = tmp_path / f"out{i}"
        suffix = ".safetensors" if args[0] in SAFETENSORS_OUT else ".parquet"
        res = _run(*[out.with_suffix(suffix) if a == tmp_path / "out" else a for a in args])
        if name == "model: detect":
            assert res.exit_code == 1 and "Traceback" not in res.output, res.output
        else:
            assert res.exit_code == 0, (name, res.output)
