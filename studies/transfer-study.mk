# ---------------------------------------------------------------- transfer-study: seed S2, MLP vs CNN vs transfer
# MLP (SGD, lr 1e-1 → 1e-4, TS_MLP_EPOCHS per lr), the 6-conv CNN, the CNN with BatchNorm + Dropout, and VGG16
# transferred from a backbone trained on TS_BACKBONE_DATASET (the ImageNet stand-in: a larger related colour domain,
# warm-started on TS_BACKBONE_START_DATASET; features 0-18 frozen, lr 1e-3 for the rest of the features, 1e-2 for a
# new 512-256-128-classes head) → evaluate each → summary.parquet and confusions.png.
.PHONY: transfer-study
ifeq ($(PROFILE),seed)
# seed S2: CIFAR-10 at 32 px, batch 128, flip + crop, ImageNet normalization, 10 epochs per model (the MLP 10 per
# learning rate), full widths, VGG16 transferred from ImageNet weights (no backbone step)
TS_OUT ?= artifacts/seed/transfer-study
TS_DATASET ?= cifar10
TS_MLP_EPOCHS ?= 10
TS_EPOCHS ?= 10
TS_CNN_WIDTH ?= 1
TS_VGG_WIDTH ?= 1
TS_BATCH ?= 128
TS_INIT ?= --pretrained
TS_TRAIN_ARGS ?= --augment flip-crop --normalize imagenet
endif
TS_OUT ?= artifacts/transfer-study
TS_DATASET ?= colordigits
# the backbone: VGG16 without BatchNorm does not leave chance from scratch on the cluttered colour digits, so it first
# learns grey centred digits (TS_BACKBONE_START_*), then the colour domain (colordigits-large: 14,400 drawings of the
# 4,000 non-test digits, no colordigits test digit); empty TS_BACKBONE_START_DATASET trains from scratch
TS_BACKBONE_DATASET ?= colordigits-large
TS_BACKBONE_START_DATASET ?= mnist5k
TS_BACKBONE_START_EPOCHS ?= 4
TS_MLP_EPOCHS ?= 10
TS_EPOCHS ?= 5
TS_BACKBONE_EPOCHS ?= 3
TS_CNN_WIDTH ?= 0.5
TS_VGG_WIDTH ?= 0.25
TS_BATCH ?= 128
TS_BACKBONE_ARGS ?= --optimizer adam --lr 1e-3 --weight-decay 0 --batch-size 32
TS_TRAIN_ARGS ?=
TS_INIT ?= --init $(TS_OUT)/backbone.safetensors --init-skip classifier
TS_MODELS := mlp cnn cnn-bn-dropout transfer
TS_ARGS_mlp = --model mlp --optimizer sgd --momentum 0 --lr 1e-1 --weight-decay 5e-4 --schedule step \
  --step-size $(TS_MLP_EPOCHS) --gamma 0.1 --epochs $(shell echo $$((4 * $(TS_MLP_EPOCHS))))
TS_ARGS_cnn = --model cnn --width $(TS_CNN_WIDTH) --optimizer adam --lr 1e-3 --weight-decay 0 --epochs $(TS_EPOCHS)
TS_ARGS_cnn-bn-dropout = --model cnn-bn-dropout --width $(TS_CNN_WIDTH) --optimizer adam --lr 1e-3 --weight-decay 0 \
  --epochs $(TS_EPOCHS)
TS_ARGS_transfer = --model vgg16 --width $(TS_VGG_WIDTH) --model-arg 'head=[256,128]' $(TS_INIT) \
  --freeze 're:^features\.([0-9]|1[0-8])\.' --optimizer sgd --momentum 0.9 --lr 1e-3 --lr-head 1e-2 \
  --weight-decay 1e-3 --epochs $(TS_EPOCHS)
STUDY_OUTS += $(TS_OUT)
TS_CELLS = $(foreach m,$(TS_MODELS),$(m).params=$(TS_OUT)/$(m).safetensors \
  $(m).val_acc=$(TS_OUT)/$(m).history.parquet$(H)best_val_accuracy $(m).test_acc=$(TS_OUT)/$(m).test-metrics.parquet \
  $(m).macro_f1=$(TS_OUT)/$(m).test-metrics.parquet$(H)f1 $(m).s_per_epoch=$(TS_OUT)/$(m).history.parquet$(H)seconds_per_epoch)

transfer-study: | $(STAMP)
	+@$(SUBMAKE) $(TS_OUT)/summary.parquet

TS_BACKBONE = --model vgg16 --width $(TS_VGG_WIDTH) --model-arg 'head=[256,128]' --image-size 32 $(DATA_ARGS) \
  $(TS_BACKBONE_ARGS)
$(TS_OUT)/backbone-start.safetensors: | $(STAMP)
	$(call TRAIN,$(TS_BACKBONE) --dataset $(TS_BACKBONE_START_DATASET) --epochs $(TS_BACKBONE_START_EPOCHS))

$(TS_OUT)/backbone.safetensors: $(if $(TS_BACKBONE_START_DATASET),$(TS_OUT)/backbone-start.safetensors) | $(STAMP)
	$(call TRAIN,$(TS_BACKBONE) --dataset $(TS_BACKBONE_DATASET) --epochs $(TS_BACKBONE_EPOCHS) \
	  $(if $(TS_BACKBONE_START_DATASET),--init $(TS_OUT)/backbone-start.safetensors))

$(TS_OUT)/transfer.safetensors: $(if $(findstring backbone.safetensors,$(TS_INIT)),$(TS_OUT)/backbone.safetensors)
$(TS_OUT)/%.safetensors: | $(STAMP)
	$(call TRAIN,$(TS_ARGS_$*) --dataset $(TS_DATASET) $(DATA_ARGS) --batch-size $(TS_BATCH) $(TS_TRAIN_ARGS))

$(TS_OUT)/%.test-metrics.parquet: $(TS_OUT)/%.safetensors
	$(call EVALUATE_TEST,$(TS_DATASET))

$(TS_OUT)/summary.parquet: $(foreach m,$(TS_MODELS),$(TS_OUT)/$(m).safetensors $(TS_OUT)/$(m).test-metrics.parquet)
	$(NNLAB) summarize $(TS_CELLS) --reference s2-transfer --title "transfer-study (seed S2)" \
	  --plot $(TS_OUT)/confusions.png --plot-kind confusion -o $@
