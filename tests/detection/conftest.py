"""Shared tiny fixtures for the detection tests: a few synthetic VOC scenes (made once per session)."""

from __future__ import annotations

import pytest

from nnlab.detection import make_scenes


@pytest.fixture(scope="session")
def scenes_dir(tmp_path_factory):
    """Six 96-pixel scenes (4 train / 1 val / 1 test); read-only for tests, copy before modifying."""
    out = tmp_path_factory.mktemp("scenes") / "voc"
    summary = make_scenes(out, count=6, size=96, seed=3, splits=(0.6, 0.2, 0.2))
    assert summary["images"] == 6
    return out
