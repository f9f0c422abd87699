"""Where to cut a feature extractor, chosen from its layer-wise SI profile (seed S0, compression step 1).

Rule: among the pooling layers, in order, take the first one after which the train SI gains less than
``threshold``; the gain after layer p is ``max(SI of every later layer) - SI(p)``. Pooling boundaries are the
natural cut points (they shrink the representation, and the seed cut after the 4th max-pool). When no pooling
layer qualifies, the last pooling layer is taken; a net without pooling layers is cut at the layer with the
highest SI instead.

Default threshold 0.02: on the seed's CIFAR-10 VGG16 profile the gains after the five max-pools (indices 4, 9, 16,
23, 30) are 0.81, 0.69, 0.40, 0.015 and 0 — the rule picks 23, the seed's cut. A smaller threshold cuts later
(bigger model, a little more SI); a larger one cuts earlier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import pandas as pd
from torch import nn

from nnlab.errors import NnlabError
from nnlab.models import profile_layers

DEFAULT_THRESHOLD = 0.02
POOLING_TYPES = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveAvgPool3d,
)


@dataclass
class CutChoice:
    """The chosen cut: layer index and name in the profile, its train SI and the gain still possible after it."""

    index: int
    name: str
    si: float
    gain_after: float
    threshold: float
    reason: str
    candidates: list[dict[str, Any]]


def is_pooling(module: nn.Module) -> bool:
    """True for pooling modules (max/avg/adaptive); also for modules whose type name says 'Pool'."""
    return isinstance(module, POOLING_TYPES) or "pool" in type(module).__name__.lower()


def pooling_layers(net: nn.Module) -> list[str]:
    """Names of the pooling modules among a net's profile layers (VGG16: features.4, .9, .16, .23, .30)."""

    return [name for name, module in profile_layers(net) if is_pooling(module)]


def train_si(profile: pd.DataFrame, split: str = "train") -> pd.DataFrame:
    """The rows of one split of an SI profile table, one per layer in layer order (columns layer_index,
    layer_name, si)."""
    needed = {"layer_index", "layer_name", "split", "si"}
    missing = needed - set(profile.columns)
    if missing:
        raise NnlabError(
            f"the SI profile lacks the columns {', '.join(sorted(missing))}; make it with `nnlab si-profile`"
        )
    rows = profile[profile["split"] == split]
    if rows.empty:
        found = ", ".join(sorted(map(str, profile["split"].unique())))
        raise NnlabError(
            f"the SI profile has no {split!r} rows (it has: {found}); profile the train split "
            "(profile both splits, train and test)"
        )
    return rows.sort_values("layer_index")[["layer_index", "layer_name", "si"]].reset_index(drop=True)


def choose_cut(
    profile: pd.DataFrame, pooling: Iterable[str], *, threshold: float = DEFAULT_THRESHOLD, split: str = "train"
) -> CutChoice:
    """The first pooling layer after which the ``split`` SI gains less than ``threshold`` (see the module doc).

    ``pooling`` names the pooling layers of the model (see :func:`pooling_layers`); layers of the profile not in
    the model are ignored, a profile sharing no pooling layer with it is an error.
    """
    if not 0 <= threshold <= 1:
        raise NnlabError(f"the SI gain threshold must be in [0, 1], got {threshold}")
    rows = train_si(profile, split)
    names = list(rows["layer_name"])
    sis = [float(s) for s in rows["si"]]
    pools = set(pooling)
    candidates = []
    for pos, name in enumerate(names):
        if name not in pools:
            continue
        later = sis[pos + 1 :]
        gain = max(later) - sis[pos] if later else 0.0
        candidates.append({"index": int(rows["layer_index"][pos]), "name": name, "si": sis[pos], "gain_after": gain})
    if not candidates:
        if pools:
            raise NnlabError(
                "the SI profile names none of the model's pooling layers "
                f"({', '.join(sorted(pools)[:6])}); was it made for another model?"
            )
        best = max(range(len(sis)), key=lambda p: (sis[p], -p))
        later = sis[best + 1 :]
        return CutChoice(
            int(rows["layer_index"][best]),
            names[best],
            sis[best],
            max(later) - sis[best] if later else 0.0,
            threshold,
            "no pooling layer: cut at the layer with the highest SI",
            [],
        )
    for cand in candidates:
        if cand["gain_after"] < threshold:
            return CutChoice(
                cand["index"],
                cand["name"],
                cand["si"],
                cand["gain_after"],
                threshold,
                f"first pooling layer after which {split} SI gains less than {threshold:g}",
                candidates,
            )
    last = candidates[-1]
    return CutChoice(
        last["index"],
        last["name"],
        last["si"],
        last["gain_after"],
        threshold,
        f"no pooling layer gains less than {threshold:g}: the last pooling layer",
        candidates,
    )
