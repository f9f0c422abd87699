"""Single-block fine-tuning presets (seed S3): the report's trainable counts on the meta device, and bad input."""

from __future__ import annotations

import pytest
import timm
import torch

from nnlab.errors import NnlabError
from nnlab.models import create_classifier
from nnlab.models.presets import (
    PRESETS,
    apply_block_preset,
    find_preset,
    preset_rows,
    preset_trainable_count,
    resolve_block,
)

CLASSES = [str(i) for i in range(10)]


def test_densenet201_and_deit_base_distilled_counts_are_the_reports():
    block, trainable, _ = preset_trainable_count(find_preset("timm:densenet201"), 10)
    assert (block, trainable) == ("features.denseblock4.denselayer16", 235_210)
    block, trainable, total = preset_trainable_count(find_preset("timm:deit_base_distilled_patch16_224"), 10)
    assert (block, trainable, total) == ("blocks.11", 7_103_252, 85_815_572)


def test_cait_s24_last_class_attention_block_and_the_reports_count():
    with torch.device("meta"):
        model = create_classifier("timm:cait_s24_224", CLASSES, size=224)
    result = apply_block_preset(model, "last")
    assert (result.block, result.trainable) == ("blocks_token_only.1", 1_779_082)  # 1,775,232 block + 3,850 head
    # The report's 1,775,376 is the last talking-heads self-attention block (blocks.23), no head counted.
    assert sum(p.numel() for n, p in model.net.named_parameters() if n.startswith("blocks.23.")) == 1_775_376


def test_every_preset_names_timms_classifier_and_a_block_that_exists():
    for name in PRESETS.names():
        preset = find_preset(name)
        cfg = timm.models.get_pretrained_cfg(preset.timm_name)
        expected = (cfg.classifier,) if isinstance(cfg.classifier, str) else tuple(cfg.classifier)
        assert preset.heads == expected, name


def test_last_follows_a_reduced_depth_and_head_trains_the_heads_alone():
    model = create_classifier(
        "timm:deit_tiny_distilled_patch16_224", CLASSES, size=32, patch_size=8, depth=3, embed_dim=32, num_heads=2
    )
    result = apply_block_preset(model, "last")
    trainable = {n for n, p in model.net.named_parameters() if p.requires_grad}
    assert result.block == "blocks.2" and result.heads == ("head", "head_dist")
    assert {n.split(".")[0] for n in trainable} == {"blocks", "head", "head_dist"}
    assert all(n.startswith("blocks.2.") for n in trainable if n.startswith("blocks"))
    head_only = apply_block_preset(model, "head")
    assert head_only.block is None and head_only.trainable == 2 * (32 * 10 + 10)
    explicit = apply_block_preset(model, "blocks.0")
    assert explicit.trainable == result.trainable  # blocks are alike


def test_heads_are_replaced_by_new_ones():
    model = create_classifier("timm:densenet121", CLASSES, size=32, growth_rate=8, block_config=[1, 1, 1, 1])
    before = model.net.classifier.weight.detach().clone()
    torch.manual_seed(123)
    apply_block_preset(model, "last")
    assert not torch.equal(before, model.net.classifier.weight)
    assert resolve_block(model.net, "features.denseblock4.denselayer{last}") == "features.denseblock4.denselayer1"


def test_explicit_block_works_for_a_timm_model_without_preset():
    model = create_classifier("timm:resnet10t", CLASSES, size=32)
    result = apply_block_preset(model, "layer4.0")
    assert result.heads == ("fc",) and result.block == "layer4.0"


def test_bad_input_is_one_clear_error():
    model = create_classifier("timm:resnet10t", CLASSES, size=32)
    with pytest.raises(NnlabError, match="no fine-tuning preset for timm:resnet10t"):
        apply_block_preset(model, "last")
    with pytest.raises(NnlabError, match="block 'layer9' matches no parameter"):
        apply_block_preset(model, "layer9")
    with pytest.raises(NnlabError, match="matches no parameter"):
        resolve_block(model.net, "stages.{last}")
    with pytest.raises(NnlabError, match="timm models"):
        apply_block_preset(create_classifier("mlp", CLASSES, size=8, channels=1), "last")


def test_preset_rows_carry_the_papers_figures():
    (row,) = preset_rows(10, ["densenet201"])
    assert row["trainable"] == 235_210 and row["report_trainable"] == 235_210 and row["paper_val_accuracy"] == 94.757


def test_a_local_timm_checkpoint_loads_under_a_preset_with_new_heads(tmp_path):
    from safetensors.torch import save_file

    kwargs = {"size": 32, "patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2}
    source = timm.create_model(
        "deit_tiny_distilled_patch16_224", img_size=32, patch_size=8, depth=2, embed_dim=32, num_heads=2
    )  # 1000 classes, like a hub checkpoint
    path = tmp_path / "deit.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    model = create_classifier("timm:deit_tiny_distilled_patch16_224", CLASSES, weights=str(path), **kwargs)
    result = apply_block_preset(model, "last")
    assert result.block == "blocks.1" and model.net.head.out_features == 10
    assert torch.equal(model.net.blocks[1].mlp.fc1.weight, source.blocks[1].mlp.fc1.weight)
    assert torch.equal(model.net.patch_embed.proj.weight, source.patch_embed.proj.weight)
