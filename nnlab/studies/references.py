"""The seed reports' own figures, as named reference tables that `summarize` puts beside a study's results.

Each reference is a table with one row per model or setting (the ``row`` column, named as the study's
Makefile names its rows) and ``seed_*`` columns. Accuracies are fractions (0.7348 for 73.48 %), as nnlab's
metrics tables store them. Figures are those stated in the seed reports (see DESIGN's SEEDS digest).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nnlab.errors import NnlabError
from nnlab.registry import Registry

REFERENCES = Registry("seed reference")
ROW = "row"


def _frame(columns: list[str], rows: dict[str, tuple]) -> pd.DataFrame:
    return pd.DataFrame([{ROW: name, **dict(zip(columns, values, strict=False))} for name, values in rows.items()])


@REFERENCES.register("s1-norm", help="seed S1: custom-ResNet variants on CIFAR-10 (val/test accuracy, avgpool SI/CSI)")
def s1_norm() -> pd.DataFrame:
    """Seed S1's normalization table; the improved model has no reported SI/CSI."""
    nan = float("nan")
    return _frame(
        ["seed_val_acc", "seed_test_acc", "seed_si_val", "seed_csi_val", "seed_si_test", "seed_csi_test"],
        {
            "plain": (0.7348, 0.7329, 0.5977, 0.6705, 0.6071, 0.6615),
            "batchnorm": (0.8464, 0.8567, 0.883, 0.929, 0.788, 0.845),
            "groupnorm": (0.8462, 0.8486, 0.847, 0.899, 0.787, 0.839),
            "layernorm": (0.8562, 0.8524, 0.79, 0.833, 0.762, 0.790),
            "no-skip": (0.5942, 0.5975, 0.506, 0.580, 0.499, 0.562),
            "conv4-1x1": (0.7162, 0.7218, 0.580, 0.614, 0.584, 0.605),
            "two-path": (0.7994, 0.8005, 0.724, 0.777, 0.683, 0.738),
            "four-path": (0.8254, 0.8282, 0.778, 0.824, 0.723, 0.768),
            "improved": (0.8470, 0.8537, nan, nan, nan, nan),
        },
    )


@REFERENCES.register(
    "s2-transfer", help="seed S2: MLP, CNN, CNN+BN+dropout and VGG16 transfer on CIFAR-10 (test accuracy)"
)
def s2_transfer() -> pd.DataFrame:
    """Seed S2's test accuracies."""
    return _frame(
        ["seed_test_acc"], {"mlp": (0.513,), "cnn": (0.818,), "cnn-bn-dropout": (0.812,), "transfer": (0.853,)}
    )


@REFERENCES.register("s4-generalization", help="seed S4: ResNet18 trained on SVHN, tested on SVHN and MNIST")
def s4_generalization() -> pd.DataFrame:
    """Seed S4's generalization table: accuracy on SVHN and on MNIST for each setting."""
    return _frame(
        ["seed_svhn_acc", "seed_mnist_acc"],
        {
            "baseline": (0.9257, 0.5538),
            "no-batchnorm": (0.9191, 0.4934),
            "label-smoothing": (0.9295, 0.6106),
            "augmentation": (0.9408, 0.5711),
            "pretrained": (0.9271, 0.613),
            "adam": (0.9245, 0.6496),
            "reverse": (0.2315, 0.9916),
            "reverse-fc-finetune": (0.282, 0.746),
        },
    )


@REFERENCES.register(
    "s4-robustness",
    help="seed S4: ResNet18 clean / adversarially trained / circle loss (clean and adversarial test accuracy)",
)
def s4_robustness() -> pd.DataFrame:
    """Seed S4's robustness figures."""
    return _frame(
        ["seed_clean_acc", "seed_adv_acc"],
        {"clean": (0.8931, 0.1189), "adversarial": (0.8733, 0.7965), "circle": (0.8952, 0.0728)},
    )


def load_reference(name_or_path: str | Path) -> pd.DataFrame:
    """A registered reference by name, or a table file (.parquet or .csv) whose first column names the rows."""
    text = str(name_or_path)
    if text in REFERENCES:
        return REFERENCES.get(text)()
    path = Path(text)
    if path.suffix not in (".parquet", ".csv"):
        raise NnlabError(
            f"unknown seed reference {text!r}; give one of {', '.join(REFERENCES.names())} or a .parquet/.csv table"
        )
    if not path.is_file():
        raise NnlabError(f"reference table {path}: no such file")
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):  # pyarrow's ArrowInvalid is a ValueError
        raise NnlabError(f"{path} is not a readable {path.suffix[1:]} table") from None
    if df.shape[1] < 2:
        raise NnlabError(f"reference table {path} needs a row-name column and at least one figure column")
    return df.rename(columns={df.columns[0]: ROW}).astype({ROW: str})
