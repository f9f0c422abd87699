"""Tiny models and batches shared by the robustness tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn


class TinyCNN(nn.Module):
    """Pixel-space 3×8×8 images → 5 logits, with normalisation, BatchNorm and dropout inside."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1), persistent=False)
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(8 * 4 * 4, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features((x - self.mean) / self.std))


def make_model(seed: int = 0) -> TinyCNN:
    torch.manual_seed(seed)
    model = TinyCNN()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        model.features[1].running_mean.uniform_(-0.5, 0.5)
        model.features[1].running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture
def model() -> TinyCNN:
    return make_model()


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(123)
    images = torch.rand(16, 3, 8, 8, generator=generator)
    labels = torch.randint(0, 5, (16,), generator=generator)
    return images, labels


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny tensors gain nothing from intra-op threads, and on a busy 2-core machine the thread
    barriers dominate; run each test single-threaded and restore the setting afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
