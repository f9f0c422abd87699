# ---------------------------------------------------------------- finetune-block: seed S3, single-block fine-tuning
# Small members of the paper's families (a distilled DeiT-Tiny at 32 px with 8 px patches, 4 blocks of width 96, a
# DenseNet-121 with 2 layers per dense block) are first trained on FB_SOURCE (the offline stand-in for ImageNet
# weights), then fine-tuned on FB_TARGET with only their last block and new head(s) trainable (--block-preset last),
# and, for comparison, with the head(s) alone (--block-preset head). File targets: `make -j2 finetune-block` runs the
# two pre-trainings, then the four fine-tunings, two at a time. CIFAR-10 at 224 px on a GPU: see the README,
# "Fine-tuning a single block".
.PHONY: finetune-block
ifeq ($(PROFILE),seed)
# seed S3: ImageNet DeiT-Base-Distilled and DenseNet201 (no pre-training step), CIFAR-10 resized to 224 px,
# batch 32, Adam 1e-4, 10 epochs, the last block and the new head(s) trainable
FB_OUT ?= artifacts/seed/finetune-block
FB_TARGET ?= cifar10
FB_START ?= pretrained
FB_EPOCHS ?= 10
FB_LR ?= 1e-4
FB_COMMON ?= --optimizer adam --weight-decay 0 --batch-size 32
FB_MODEL_deit ?= timm:deit_base_distilled_patch16_224 --image-size 224
FB_MODEL_densenet ?= timm:densenet201 --image-size 224
endif
FB_OUT ?= artifacts/finetune-block
FB_SOURCE ?= mnist5k
FB_TARGET ?= digits
FB_PRE_EPOCHS ?= 6
FB_EPOCHS ?= 10
FB_LR ?= 1e-3
# where the fine-tunings start: `source` (a model first trained on FB_SOURCE here) or `pretrained` (hub weights)
FB_START ?= source
FB_COMMON ?= --optimizer adam --weight-decay 0 --batch-size 64
FB_MODEL_deit ?= timm:deit_tiny_distilled_patch16_224 --image-size 32 --model-arg patch_size=8 \
  --model-arg depth=4 --model-arg embed_dim=96 --model-arg num_heads=3
FB_MODEL_densenet ?= timm:densenet121 --image-size 32 --model-arg growth_rate=16 --model-arg 'block_config=[2,2,2,2]'
FB_PRE_LR_deit ?= 2e-3
FB_PRE_LR_densenet ?= 3e-3
FB_MODELS := deit densenet
FB_ROWS := $(foreach m,$(FB_MODELS),$(m)-block $(m)-head)
STUDY_OUTS += $(FB_OUT)
FB_FROM_SOURCE = $(filter source,$(FB_START))
# $(call FB_FINETUNE,PRESET): the pretrained model fine-tuned on FB_TARGET with the blocks PRESET trainable
FB_FINETUNE = $(call TRAIN,--model $(FB_MODEL_$*) $(if $(FB_FROM_SOURCE),--init $<,--pretrained) \
  --block-preset $(1) --dataset $(FB_TARGET) $(DATA_ARGS) --epochs $(FB_EPOCHS) --lr $(FB_LR) $(FB_COMMON))

$(FB_OUT)/%-pretrained.safetensors: | $(STAMP)
	@mkdir -p $(@D)
	$(call TRAIN,--model $(FB_MODEL_$*) --dataset $(FB_SOURCE) $(DATA_ARGS) --epochs $(FB_PRE_EPOCHS) \
	  --lr $(FB_PRE_LR_$*) $(FB_COMMON))

$(FB_OUT)/%-block.safetensors: $(if $(FB_FROM_SOURCE),$(FB_OUT)/%-pretrained.safetensors) | $(STAMP)
	@mkdir -p $(@D)
	$(call FB_FINETUNE,last)

$(FB_OUT)/%-head.safetensors: $(if $(FB_FROM_SOURCE),$(FB_OUT)/%-pretrained.safetensors) | $(STAMP)
	@mkdir -p $(@D)
	$(call FB_FINETUNE,head)

FB_CELLS = $(foreach r,$(FB_ROWS),$(foreach c,trainable_parameters train_accuracy val_accuracy \
  train_seconds_per_epoch val_seconds_per_epoch,$(r).$(c)=$(FB_OUT)/$(r).safetensors$(H)$(c)))

$(FB_OUT)/summary.parquet: $(foreach r,$(FB_ROWS),$(FB_OUT)/$(r).safetensors)
	$(NNLAB) summarize $(FB_CELLS) --key run --reference s3-finetune --title "single-block fine-tuning (seed S3)" -o $@

.PRECIOUS: $(FB_OUT)/%-pretrained.safetensors
finetune-block: | $(STAMP)
	+@$(SUBMAKE) $(FB_OUT)/summary.parquet
