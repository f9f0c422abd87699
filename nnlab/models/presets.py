"""Single-block fine-tuning presets (seed S3): which block of a timm model to train, and its head(s).

The paper by Malpure, Litake and Ingle fine-tunes ImageNet models on CIFAR-10 with every weight
frozen except one block and a new head. A preset names, for one timm architecture, that block as a
parameter-name prefix and the head modules timm replaces for a new class count. ``{last}`` in a
block stands for the highest index present in the built model, so the same preset also fits a
model built at reduced depth (``depth=4``, ``block_config=[2,2,2,2]``).

    from nnlab.models.presets import apply_block_preset
    result = apply_block_preset(classifier, "last")   # freeze all, unfreeze block + heads, new heads
    result.trainable                                   # parameters left to train
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from nnlab.errors import NnlabError, UnknownNameError
from nnlab.models.freezing import match_parameters
from nnlab.models.listing import count_parameters
from nnlab.models.registry import create_model, model_defaults
from nnlab.models.spec import Classifier, ModelSpec
from nnlab.registry import Registry

PRESETS = Registry("fine-tuning preset")

LAST = "last"  # the preset's block
HEAD = "head"  # no block: the head(s) alone (the head-only baseline)
_LAST_INDEX = "{last}"
_ORDER: list[str] = []  # registration order = the paper's table, then the stand-ins


@dataclass(frozen=True)
class BlockPreset:
    """The block a timm architecture fine-tunes and the head modules it replaces.

    ``block``: parameter-name prefix (``{last}`` = the highest index in the built model);
    ``heads``: the classifier modules (timm's ``pretrained_cfg["classifier"]``), replaced for the
    dataset's classes; ``paper``/``paper_block``: the paper's name for model and block;
    ``paper_accuracy``/``paper_trainable``: the paper's Table 1 (CIFAR-10 validation accuracy in %, trainable
    parameters); ``report_trainable``: the seed report's printed count, where it has one.
    """

    timm_name: str
    block: str
    heads: tuple[str, ...]
    paper: str
    paper_block: str
    paper_accuracy: float | None = None
    paper_trainable: int | None = None
    report_trainable: int | None = None
    note: str = ""


def register_preset(preset: BlockPreset) -> BlockPreset:
    """Add ``preset`` to :data:`PRESETS` under its timm model name."""
    PRESETS.register(preset.timm_name, help=f"{preset.paper}: {preset.block}")(lambda: preset)
    _ORDER.append(preset.timm_name)
    return preset


# The paper's Table 1, mapped to timm. Counts are the paper's (Keras/PyTorch, 10-class head) and the report's.
for _preset in (
    BlockPreset("vgg19", "features.28", ("head.fc",), "VGG-19", "block5 conv1", 92.784, 9_573_130),
    BlockPreset(
        "resnetv2_152",
        "stages.3.blocks.0",
        ("head.fc",),
        "ResNet152V2",
        "conv5 block1",
        83.583,
        15_497_994,
        note="pre-activation ResNet-152 like Keras' ResNet152V2; timm has no weights for it (load a local file)",
    ),
    BlockPreset(
        "resnetv2_152x2_bit",
        "stages.3.blocks.0",
        ("head.fc",),
        "ResNet152V2 (BiT 152x2)",
        "conv5 block1",
        note="the nearest pre-activation ResNet-152 with timm weights (twice as wide, GroupNorm)",
    ),
    BlockPreset(
        "densenet201",
        "features.denseblock4.denselayer16",
        ("classifier",),
        "DenseNet201",
        "conv5 block1 (report: denseblock4.denselayer16)",
        94.757,
        6_982_400,
        235_210,
    ),
    BlockPreset(
        "tf_efficientnetv2_l",
        "blocks.{last}.{last}",
        ("classifier",),
        "EfficientNetV2-L",
        "last InvertedResidual of the last stage",
        90.130,
        7_020_960,
    ),
    BlockPreset(
        "dm_nfnet_f6",
        "stages.{last}.{last}",
        ("head.fc",),
        "NFNet-F6",
        "last NormFreeBlock of the last stage",
        94.350,
        12_012_043,
    ),
    BlockPreset(
        "vit_large_patch32_224",
        "blocks.{last}",
        ("head",),
        "ViT-L/32",
        "last transformer block",
        95.467,
        12_863_242,
        note="timm's weights are ImageNet-21k, as in the paper",
    ),
    BlockPreset(
        "swin_base_patch4_window7_224",
        "layers.{last}.blocks.{last}",
        ("head.fc",),
        "Swin-B",
        "last block of the last stage",
        93.580,
        12_868_650,
    ),
    BlockPreset(
        "coat_lite_small",
        "serial_blocks4.{last}",
        ("head",),
        "CoaT-Lite Small",
        "last SerialBlock of serial_blocks4",
        94.100,
        3_308_298,
    ),
    BlockPreset(
        "cait_s24_224",
        "blocks_token_only.{last}",
        ("head",),
        "CaiT-S24",
        "last class-attention block (blocks_token_only)",
        96.000,
        1_877_130,
        1_775_376,
        note="the report's 1,775,376 is blocks.23 (last talking-heads block) without a head",
    ),
    BlockPreset(
        "deit_base_distilled_patch16_224",
        "blocks.{last}",
        ("head", "head_dist"),
        "DeiT-Base distilled",
        "12th transformer block (blocks.11)",
        96.450,
        7_488_276,
        7_103_252,
    ),
    # Small members of the same families: the offline stand-ins of `make finetune-block`.
    BlockPreset(
        "deit_tiny_distilled_patch16_224",
        "blocks.{last}",
        ("head", "head_dist"),
        "DeiT-Tiny distilled",
        "last transformer block",
        note="stand-in (make finetune-block)",
    ),
    BlockPreset(
        "densenet121",
        "features.denseblock4.denselayer{last}",
        ("classifier",),
        "DenseNet-121",
        "last dense layer of denseblock4",
        note="stand-in (make finetune-block)",
    ),
):
    register_preset(_preset)


def timm_name(arch: str) -> str:
    """The timm model name of an nnlab architecture ``timm:NAME[.TAG]``; anything else is an error."""
    if not arch.startswith("timm:"):
        raise NnlabError(f"block presets apply to timm models (timm:NAME), not {arch!r}")
    return arch[len("timm:") :].split(".", 1)[0]


def find_preset(arch: str) -> BlockPreset:
    """The preset of ``arch`` (``timm:NAME`` or a timm name); an unknown model is an error naming the known ones."""
    name = timm_name(arch) if arch.startswith("timm:") else arch.split(".", 1)[0]
    try:
        return PRESETS.get(name)()
    except UnknownNameError:
        raise NnlabError(
            f"no fine-tuning preset for timm:{name}; presets exist for {', '.join(PRESETS.names())} "
            "(or give the block's parameter prefix instead of 'last')"
        ) from None


def resolve_block(net: nn.Module, block: str) -> str:
    """``block`` with each ``{last}`` replaced by the highest index present among ``net``'s parameter names."""
    names = [n for n, _ in net.named_parameters()]
    resolved = block
    while _LAST_INDEX in resolved:
        head, _, tail = resolved.partition(_LAST_INDEX)
        pattern = re.compile(re.escape(head) + r"(\d+)(?:\.|$)")
        indices = [int(m.group(1)) for n in names if (m := pattern.match(n))]
        if not indices:
            raise NnlabError(f"block {block!r} matches no parameter of this model (nothing named {head}<index>)")
        resolved = f"{head}{max(indices)}{tail}"
    return resolved


def _heads_for(arch: str, preset: BlockPreset | None) -> tuple[str, ...]:
    if preset is not None:
        return preset.heads
    import timm

    cfg = timm.models.get_pretrained_cfg(timm_name(arch))
    heads = getattr(cfg, "classifier", None) if cfg is not None else None
    if not heads:
        raise NnlabError(f"timm does not name the classifier of {arch}; no fine-tuning preset knows it either")
    return (heads,) if isinstance(heads, str) else tuple(heads)


@dataclass
class PresetResult:
    """What :func:`apply_block_preset` did: the block and heads left trainable, and the parameter counts."""

    block: str | None
    heads: tuple[str, ...]
    trainable: int
    total: int


def _reset_head(net: nn.Module, name: str, num_classes: int) -> None:
    try:
        module = net.get_submodule(name)
    except AttributeError:
        raise NnlabError(f"this model has no head module {name!r}") from None
    outputs = module.out_features if isinstance(module, nn.Linear) else getattr(module, "out_channels", None)
    if not isinstance(module, (nn.Linear, nn.Conv2d)) or outputs != num_classes:
        raise NnlabError(
            f"head {name!r} is not a {num_classes}-class linear or 1x1 convolution layer ({type(module).__name__})"
        )
    module.reset_parameters()


def apply_block_preset(model: Classifier, block: str = LAST) -> PresetResult:
    """Freeze everything, then train one block and new head(s) — seed S3's single-block fine-tuning.

    ``block``: ``"last"`` = the architecture's preset block, ``"head"`` = no block (head-only baseline),
    anything else = a parameter-name prefix or glob (``{last}`` allowed), for any timm model whose
    head timm names. The heads are re-initialized for the model's classes, so weights that came from
    another task (an init artifact, a weights file) never leave their old head behind.
    """
    arch = model.spec.arch
    net = model.net
    known = timm_name(arch) in PRESETS
    preset = find_preset(arch) if (block == LAST or known) else None
    if block == LAST:
        pattern: str | None = preset.block
    elif block == HEAD:
        pattern = None
    else:
        pattern = block
    heads = _heads_for(arch, preset)
    block_names: list[str] = []
    if pattern is not None:
        pattern = resolve_block(net, pattern)
        try:
            block_names = match_parameters(net, pattern)
        except NnlabError:
            raise NnlabError(f"block {pattern!r} matches no parameter of {arch}") from None
    head_names = match_parameters(net, list(heads))
    for param in net.parameters():
        param.requires_grad_(False)
    params = dict(net.named_parameters())
    for name in block_names + head_names:
        params[name].requires_grad_(True)
    for head in heads:
        _reset_head(net, head, model.spec.num_classes)
    total, trainable = count_parameters(net)
    return PresetResult(block=pattern, heads=heads, trainable=trainable, total=total)


def preset_trainable_count(preset: BlockPreset, num_classes: int = 10, block: str = LAST) -> tuple[str, int, int]:
    """``(block, trainable, total)`` of ``preset``'s model with a ``num_classes`` head, built on the meta device
    (no weights, no memory), at the model's default input size."""
    arch = f"timm:{preset.timm_name}"
    size = int(model_defaults(arch)["image_size"])
    spec = ModelSpec(arch=arch, classes=[str(i) for i in range(num_classes)], input={"channels": 3, "size": size})
    with torch.device("meta"):
        model = Classifier(create_model(arch, num_classes=num_classes, image_size=size), spec)
    result = apply_block_preset(model, block)
    return result.block or "", result.trainable, result.total


def preset_rows(num_classes: int = 10, names: Iterable[str] | None = None) -> list[dict[str, object]]:
    """One row per preset (paper model, timm name, block, heads, trainable with a ``num_classes`` head, paper
    figures)."""
    rows = []
    for name in names or list(_ORDER):
        preset = find_preset(name)
        block, trainable, total = preset_trainable_count(preset, num_classes)
        rows.append(
            {
                "paper_model": preset.paper,
                "timm_name": preset.timm_name,
                "block": block,
                "heads": ", ".join(preset.heads),
                "trainable": trainable,
                "total": total,
                "paper_trainable": preset.paper_trainable,
                "report_trainable": preset.report_trainable,
                "paper_val_accuracy": preset.paper_accuracy,
                "note": preset.note,
            }
        )
    return rows
