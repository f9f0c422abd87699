"""Data-pipeline throughput: images per second a training loader delivers at 224 px from a 32-px dataset.

Old way (nnlab before issue 14, reproduced here): the images stay at their native size and each one is
converted and resized on its own in ``__getitem__``, the DataLoader is rebuilt every epoch, 0 workers.
New way (``nnlab.data`` now): ``load_dataset(..., image_size=224)`` resizes every image once into a cache of the
wanted size (uint8, as for every uint8 source), and one :class:`nnlab.data.loader.EpochLoader` per run, with the
default number of workers (persistent when there are any), delivers every epoch as uint8 batches (the training
engine makes them float on its device). ``--augment PRESET`` applies a preset in both ways (per item, after the
resize).

Both run in one process on the same images and the same batch size; each repeat times one epoch of each, back to
back, alternating which goes first. The report gives the median images/s of each, their ratio new/old, the
median of the per-repeat ratios, and the one-time cost of the new way (building the resize cache). Before timing,
the new way's first batch is checked against the old way's images for the same rows (a uint8 cache is within
0.5/255 of them). The ``new+float`` column also converts each batch to float32 here, as a CPU training run does.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/data_pipeline.py --dataset colordigits --size 224 --limit 2000
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch.utils.data import DataLoader, Dataset

from nnlab.data import build_augment, load_dataset
from nnlab.data.loader import EpochLoader, default_num_workers
from nnlab.data.transforms import prepare, to_float


class PerItemResize(Dataset):
    """The old ImageDataset path for data too large to precompute: native images, one resize per item."""

    def __init__(self, images: torch.Tensor, targets, channels: int, size: int, augment: str = "none"):
        self.images, self.targets, self.channels, self.size = images, targets, channels, size
        self.augment = build_augment(augment, size, channels)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        x = prepare(to_float(self.images[i]), self.channels, self.size, "bilinear")
        if self.augment is not None:
            x = self.augment(x).clamp(0.0, 1.0)
        return x, int(self.targets[i])


def old_epoch(ds: Dataset, batch_size: int, seed: int) -> int:
    """One epoch the old way: a new DataLoader (0 workers) for the epoch; returns the images delivered."""
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    return sum(len(labels) for _, labels in loader)


def new_epoch(loader: EpochLoader, seed: int, reference: PerItemResize, check: bool, to_float: bool) -> int:
    """One epoch from the run's loader; with ``check``, the first batch is compared with the old way's images;
    with ``to_float``, uint8 batches are converted to float32 here on the CPU (what the engine does on its device)."""
    seen = 0
    for step, (images, labels) in enumerate(loader.epoch(seed)):
        if (check or to_float) and images.dtype == torch.uint8:
            images = images.float().div_(255.0)
        if check and step == 0:
            order = torch.randperm(len(reference), generator=torch.Generator().manual_seed(seed))[: len(labels)]
            old = torch.stack([reference[int(i)][0] for i in order])
            error = (images - old).abs().max().item()
            assert error <= 0.5 / 255 + 1e-6, f"new images differ from the old way's by {error}"
        seen += len(labels)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="colordigits", help="a 32-px in-memory dataset (colordigits, mnist5k)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--limit", type=int, default=2000, help="training images used")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="new way's workers (default: the machine's)")
    parser.add_argument("--augment", default="none", help="an augmentation preset applied by both ways")
    args = parser.parse_args()

    native = load_dataset(args.dataset, "train", limit=args.limit)  # first: colordigits is generated on first use
    t0 = time.perf_counter()
    new_ds = load_dataset(
        args.dataset, "train", image_size=args.size, channels=args.channels, limit=args.limit, augment=args.augment
    )
    cache_seconds = time.perf_counter() - t0
    reference = PerItemResize(native.as_tensors()[0], native.targets, args.channels, args.size)
    old_ds = PerItemResize(native.as_tensors()[0], native.targets, args.channels, args.size, args.augment)
    loader = EpochLoader(new_ds, args.batch, num_workers=args.workers, uint8=True)
    print(
        f"{args.dataset} train, {len(new_ds)} images {native.info.image_size} px -> {args.size} px, "
        f"{args.channels} channels, batch {args.batch}, augment {args.augment}; new: {new_ds.cache} cache, "
        f"{'uint8' if loader.uint8 else 'float32'} batches, {loader.num_workers} workers "
        f"(default here {default_num_workers()}, {os.cpu_count()} CPUs); load {os.getloadavg()[0]:.2f}"
    )
    # warm-up: starts the workers; checks the images against the old way (without augmentation, whose draws differ)
    new_epoch(loader, 0, reference, check=args.augment == "none", to_float=False)

    ways = ("old", "new", "new+float")
    rates: dict[str, list[float]] = {way: [] for way in ways}
    ratios: list[float] = []
    for repeat in range(args.repeats):
        seed = repeat + 1
        timings = {}
        for way in ways if repeat % 2 == 0 else ways[::-1]:
            start = time.perf_counter()
            if way == "old":
                n = old_epoch(old_ds, args.batch, seed)
            else:
                n = new_epoch(loader, seed, old_ds, check=False, to_float=way == "new+float")
            timings[way] = n / (time.perf_counter() - start)
            rates[way].append(timings[way])
        ratios.append(timings["new"] / timings["old"])
        print(f"repeat {repeat + 1}: " + ", ".join(f"{way} {timings[way]:.0f} img/s" for way in ways))

    median = {way: statistics.median(rates[way]) for way in ways}
    print(f"old way (per-item resize, loader per epoch, 0 workers): {median['old']:.0f} images/s")
    workers = f"{loader.num_workers} persistent workers" if loader.num_workers else "0 workers"
    print(f"new way (resize cache, one loader, {workers}): {median['new']:.0f} images/s")
    print(
        f"ratio new/old: {median['new'] / median['old']:.2f}x (median of per-repeat ratios "
        f"{statistics.median(ratios):.2f}x)"
    )
    if loader.uint8:
        print(
            f"new way with its uint8 batches made float32 on this CPU (the engine does it on the device): "
            f"{median['new+float']:.0f} images/s, {median['new+float'] / median['old']:.2f}x old"
        )
    print(
        f"one-time resize cache: {cache_seconds:.2f} s ({len(new_ds) / cache_seconds:.0f} images/s); load "
        f"{os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
