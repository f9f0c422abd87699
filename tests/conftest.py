"""Shared test set-up: CPU only, quiet matplotlib, a CLI runner."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("NNLAB_DATA", "/nonexistent-nnlab-data")  # no test may depend on a real dataset folder
os.environ.setdefault("NNLAB_NUM_WORKERS", "0")  # load in the test process: fast and deterministic

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def runner():
    """Typer's CliRunner over the nnlab app (stderr kept apart from stdout)."""
    from typer.testing import CliRunner

    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # newer click keeps stderr apart by default
        return CliRunner()


@pytest.fixture
def app():
    from nnlab.cli.main import app as nnlab_app

    return nnlab_app
