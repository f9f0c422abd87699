"""What a dataset is: class names, native channels and size, normalization statistics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Per-channel statistics of ImageNet (RGB, [0, 1] units): what ImageNet-pretrained weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# ITU-R 601 luma weights, the ones torchvision's rgb_to_grayscale uses.
LUMA = (0.299, 0.587, 0.114)

DIGIT_CLASSES = [str(i) for i in range(10)]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
CIFAR100_CLASSES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster "
    "man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck "
    "pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
    "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger "
    "tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()


@dataclass
class DatasetInfo:
    """Describes the images a dataset yields; ``mean``/``std`` are per channel in [0, 1] pixel units.

    The model wrapper normalizes with these, so they travel into the model artifact.
    """

    name: str
    classes: list[str]
    channels: int
    image_size: int
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        """Number of classes, for sizing a model's head."""
        return len(self.classes)

    def adapted(self, channels: int | None = None, image_size: int | None = None) -> DatasetInfo:
        """The info after a channel conversion and/or resize, so stats stay valid for what is yielded.

        grey→RGB repeats the grey statistics; RGB→grey uses the luma-weighted mean (exact) and the
        luma-weighted sum of stds (exact for fully correlated channels, a close upper bound for photos).
        Resizing is assumed not to change the statistics.
        """
        mean, std = list(self.mean), list(self.std)
        c = channels or self.channels
        if c != self.channels:
            if self.channels == 1 and c == 3:
                mean, std = mean * 3, std * 3
            elif self.channels == 3 and c == 1:
                mean = [sum(w * m for w, m in zip(LUMA, mean))]
                std = [sum(w * s for w, s in zip(LUMA, std))]
        return DatasetInfo(self.name, list(self.classes), c, image_size or self.image_size, mean, std)

    def to_dict(self) -> dict:
        """JSON-able form, for artifacts and ``inspect``."""
        return asdict(self)


# Well-known per-channel statistics of the official training sets (population std over all pixels).
TORCHVISION_STATS: dict[str, tuple[list[float], list[float]]] = {
    "cifar10": ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]),
    "cifar100": ([0.5071, 0.4865, 0.4409], [0.2673, 0.2564, 0.2762]),
    "svhn": ([0.4377, 0.4438, 0.4728], [0.1980, 0.2010, 0.1970]),
    "mnist": ([0.1307], [0.3081]),
    "fashion-mnist": ([0.2860], [0.3530]),
}
