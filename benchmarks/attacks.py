"""Attack throughput: nnlab's FGSM and PGD-10 against torchattacks on the same model and batch.

Both libraries attack the same model (random weights, normalisation inside, eval mode) on the same
batch in one process. After a warm-up, each repeat times ours and theirs back to back, alternating
which goes first. The report gives the median images/s of each, their ratio ours/torchattacks, the
median of the per-repeat ratios (each repeat's pair runs back to back, so this one is less exposed to
load changing on a shared machine), and checks that both produced the same images (PGD without
random start). Rows marked ``cl`` run ours with ``channels_last=True`` (torchattacks has no such
option and gets the model as it is); ``differ`` is the fraction of pixel values not equal to theirs.

    .venv/bin/python benchmarks/attacks.py --batch 128 --repeats 7 --model small
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchattacks
import torchvision
from torch import nn

from nnlab.device import resolve_device
from nnlab.robustness import create_attack


class Normalized(nn.Module):
    """Pixel-space images in [0, 1] → logits, normalising inside like nnlab's Classifier."""

    def __init__(self, net: nn.Module, channels: int = 3):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.full((1, channels, 1, 1), 0.5), persistent=False)
        self.register_buffer("std", torch.full((1, channels, 1, 1), 0.25), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def small_cnn(num_classes: int = 10) -> nn.Module:
    """A small VGG-like CNN for 32×32 RGB images (three conv-BN-ReLU-pool blocks)."""

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(
        *block(3, 32),
        *block(32, 64),
        *block(64, 128),
        nn.Flatten(),
        nn.Linear(128 * 4 * 4, 256),
        nn.ReLU(),
        nn.Linear(256, num_classes),
    )


def build_model(name: str) -> nn.Module:
    """The benchmark model, random weights (seeded), eval mode."""
    torch.manual_seed(0)
    net = small_cnn() if name == "small" else torchvision.models.resnet18(num_classes=10)
    return Normalized(net).eval()


def time_call(fn, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> tuple[float, torch.Tensor]:
    """Seconds for one attack call (synchronising the device), and its output."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn(images, labels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", choices=["small", "resnet18"], default="small")
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args()

    device = resolve_device(args.device)
    model = build_model(args.model).to(device)
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(args.batch, 3, args.image_size, args.image_size, generator=generator).to(device)
    labels = torch.randint(0, 10, (args.batch,), generator=generator).to(device)
    eps, alpha = 8 / 255, 2 / 255
    pgd = dict(eps=eps, alpha=alpha, steps=10, random_start=False)
    pairs = {
        "FGSM": (create_attack("fgsm", model, eps=eps), torchattacks.FGSM(model, eps=eps)),
        "PGD-10": (create_attack("pgd", model, **pgd), torchattacks.PGD(model, **pgd)),
        "FGSM cl": (create_attack("fgsm", model, eps=eps, channels_last=True), torchattacks.FGSM(model, eps=eps)),
        "PGD-10 cl": (create_attack("pgd", model, channels_last=True, **pgd), torchattacks.PGD(model, **pgd)),
    }
    print(
        f"device={device} model={args.model} batch={args.batch} image={args.image_size} "
        f"repeats={args.repeats} threads={torch.get_num_threads()} torch={torch.__version__} "
        f"torchattacks={torchattacks.__version__}"
    )
    print(
        f"{'attack':<10}{'nnlab img/s':>14}{'torchattacks img/s':>20}{'ratio':>8}{'paired':>8}"
        f"{'max|diff|':>12}{'differ':>10}"
    )
    for name, (ours, theirs) in pairs.items():
        for fn in (ours, theirs):  # warm-up
            time_call(fn, images, labels, device)
        times: dict[str, list[float]] = {"ours": [], "theirs": []}
        diff, differ = 0.0, 0.0
        for repeat in range(args.repeats):
            order = [("ours", ours), ("theirs", theirs)]
            outputs = {}
            for key, fn in order if repeat % 2 == 0 else order[::-1]:
                seconds, outputs[key] = time_call(fn, images, labels, device)
                times[key].append(seconds)
            diff = max(diff, (outputs["ours"] - outputs["theirs"]).abs().max().item())
            differ = max(differ, (outputs["ours"] != outputs["theirs"]).float().mean().item())
        rate_ours = args.batch / statistics.median(times["ours"])
        rate_theirs = args.batch / statistics.median(times["theirs"])
        paired = statistics.median(t / o for o, t in zip(times["ours"], times["theirs"], strict=False))
        print(
            f"{name:<10}{rate_ours:>14.1f}{rate_theirs:>20.1f}{rate_ours / rate_theirs:>8.3f}{paired:>8.3f}"
            f"{diff:>12.2e}{differ:>10.2e}"
        )


if __name__ == "__main__":
    main()
