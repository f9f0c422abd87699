"""What each command imports before it works: listings and table commands start without torch.

Each check runs the command in a fresh interpreter (the test process has long imported everything) and
reads ``sys.modules`` after it: `nnlab datasets`, `summarize` of tables and `inspect` of a table load neither
torch nor pandas (nor does `evaluate`: its tables are written from records), and so on: they load no
torch at all, `nnlab models` no torchvision, and no `--help` loads torchvision, OpenCV, scikit-learn,
umap or timm. Timings are benchmarks/startup.py's business, not a test's.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from nnlab import artifacts
from nnlab.cli.main import COMMANDS

# Runs `nnlab ARGS` for each ARGS in argv[1] (JSON) in this one interpreter, then writes the loaded
# modules' names to argv[2]; a command that fails fails the probe.
PROBE = """
import json, sys
from nnlab.cli.main import app
for args in json.loads(sys.argv[1]):
    try:
        app(args, prog_name="nnlab")
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
with open(sys.argv[2], "w") as f:
    json.dump(sorted(sys.modules), f)
"""

HEAVY = ("torchvision", "cv2", "sklearn", "umap", "timm")


def loaded_after(tmp_path, *runs: list[str]) -> tuple[set[str], str]:
    """The modules a fresh interpreter holds after running each of ``runs`` as `nnlab` arguments, and its output."""
    listing = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([[str(a) for a in run] for run in runs]), str(listing)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(listing.read_text())), done.stdout


def roots(modules: set[str]) -> set[str]:
    """Top-level package names of ``modules``."""
    return {m.partition(".")[0] for m in modules}


@pytest.fixture()
def metrics_table(tmp_path):
    """A small metrics table as `nnlab evaluate` writes it (overall row and per-class rows)."""
    frame = pd.DataFrame(
        {
            "scope": ["overall", "class", "class"],
            "class": ["", "0", "1"],
            "accuracy": [0.75, None, None],
            "f1": [0.7, 0.6, 0.8],
        }
    )
    return artifacts.save_table(tmp_path / "m.metrics.parquet", frame, {"table": "metrics"})


def test_datasets_imports_no_torch_and_lists_the_declared_names(tmp_path):
    modules, out = loaded_after(tmp_path, ["datasets"])
    assert "torch" not in roots(modules)
    assert not roots(modules) & set(HEAVY)
    assert "digits" in out and "folder:NAME" in out
    assert "proposals:NAME" in out  # declared by nnlab.detection, listed without importing it
    assert "nnlab.detection.dataset" not in modules


def test_summarize_of_tables_imports_no_torch_and_no_pandas(tmp_path, metrics_table):
    out_table = tmp_path / "study.parquet"
    cells = [f"a.acc={metrics_table}", f"b.f1={metrics_table}#class:1:f1"]
    modules, out = loaded_after(tmp_path, ["summarize", *cells, "-r", "s0-compression", "-o", out_table])
    assert "torch" not in roots(modules)
    assert "pandas" not in roots(modules)  # records in, pyarrow buffers out
    assert "0.7500" in out and "0.8000" in out and "not measured" in out
    table, meta = artifacts.load_table(out_table)
    assert list(table["acc"].dropna()) == [0.75] and list(table["f1"].dropna()) == [0.8]
    assert table["seed_test_acc"].dtype == "float64" and table["seed_test_acc"].isna().all()
    assert meta["table"] == "summary" and len(meta["findings"]) > 0
    assert pd.read_parquet(out_table).attrs["table"] == "summary"  # the metadata reaches pandas users too


def test_inspect_of_a_table_imports_no_torch(tmp_path, metrics_table):
    modules, out = loaded_after(tmp_path, ["inspect", metrics_table])
    assert "torch" not in roots(modules)
    assert "pandas" not in roots(modules)  # pyarrow reads the schema alone
    assert "metrics" in out and "accuracy" in out


def test_models_listing_imports_no_torchvision(tmp_path):
    modules, out = loaded_after(tmp_path, ["models"])
    assert not roots(modules) & set(HEAVY)
    for name in ("mlp", "vgg16", "resnet18", "mobilenet_v2", "tv:NAME", "timm:NAME"):
        assert name in out


def test_every_help_imports_no_heavy_library(tmp_path):
    runs = [["--help"]] + [[name, "--help"] for name, _, _ in COMMANDS]
    modules, out = loaded_after(tmp_path, *runs)
    assert not roots(modules) & set(HEAVY), sorted(roots(modules) & set(HEAVY))
    assert "torch" not in roots(modules)
    assert out.count("Usage: nnlab") == len(runs)


def test_evaluate_of_a_small_model_imports_no_torchvision_opencv_or_scikit_learn(tmp_path):
    from nnlab.models import create_classifier, save_model

    model = save_model(
        tmp_path / "cnn.safetensors", create_classifier("cnn", [str(i) for i in range(10)], channels=1, size=8)
    )
    args = [
        "evaluate",
        model,
        "--dataset",
        "digits",
        "--num-workers",
        "0",
        "--device",
        "cpu",
        "-o",
        tmp_path / "m.parquet",
    ]
    modules, out = loaded_after(tmp_path, args)
    assert not roots(modules) & {"torchvision", "cv2", "sklearn", "scipy"}, sorted(roots(modules) & set(HEAVY))
    assert "accuracy" in out and (tmp_path / "m.parquet").exists()
    assert "pandas" not in roots(modules)  # the metrics table is written from records
    table, meta = artifacts.load_table(tmp_path / "m.parquet")
    assert meta["table"] == "metrics" and str(table["support"].dtype) == "Int64"


LAZY_LOOKUP = """
import sys
import nnlab.detection, nnlab.robustness
from nnlab.data import DATASETS
assert "torch" not in sys.modules, "importing the plugin packages imported torch"
from nnlab.models.surgery import SURGERY
assert "nnlab.detection.dataset" not in sys.modules and "nnlab.robustness.knn" not in sys.modules
DATASETS.resolve("proposals:regions.parquet")
assert "nnlab.detection.dataset" in sys.modules
assert "nnlab.robustness.knn" not in sys.modules
SURGERY.resolve("knn")
assert "nnlab.robustness.knn" in sys.modules
"""


def test_a_declared_name_imports_its_package_on_first_lookup_only():
    done = subprocess.run([sys.executable, "-c", LAZY_LOOKUP], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
