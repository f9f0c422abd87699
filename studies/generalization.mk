# ---------------------------------------------------------------- generalization: seed S4 part 1, domain shift
# ResNet18 trained on GS_A (as SVHN), tested on GS_A and GS_B (as MNIST): the baseline and one change at a time
# (no BatchNorm, label smoothing, the svhn-aug preset, pretrained stand-in weights from GS_PRETRAIN_DATASET, Adam);
# then the reverse direction with GS_BEST_ARGS (the seed's five changes combined), and only `fc` of it fine-tuned on
# GS_FINETUNE images of GS_A. → summary.parquet (setting, accuracy on each domain, seed's) and accuracy.png.
.PHONY: generalization
ifeq ($(PROFILE),seed)
# seed S4: full-width ResNet18 trained on SVHN, tested on SVHN and MNIST at 32 px; batch 16, SGD 1e-3 momentum 0.9,
# ExponentialLR 0.99, 15 epochs; ImageNet weights for `pretrained`; the reverse run with the five changes together
GS_OUT ?= artifacts/seed/generalization
GS_A ?= svhn
GS_B ?= mnist
GS_WIDTH ?= 1
GS_IMAGE_SIZE ?= 32
GS_EPOCHS ?= 15
GS_REVERSE_EPOCHS ?= 15
GS_BATCH ?= 16
GS_RECIPE ?= --optimizer sgd --lr 1e-3 --momentum 0.9 --weight-decay 0 --schedule exponential --gamma 0.99
GS_INIT ?= --pretrained
GS_BEST_ARGS ?= --optimizer adam --lr 1e-3 --label-smoothing 0.1 --augment svhn-aug --pretrained
GS_FINETUNE ?= 800
GS_FINETUNE_EPOCHS ?= 10
endif
GS_OUT ?= artifacts/generalization
GS_A ?= colordigits-large
# the target: scikit-learn's 8x8 grey digits, blocky and centred, a look the colour domain never shows (mnist5k's
# white strokes on black are one of colordigits' own drawings: the source model scored higher there than at home)
GS_B ?= digits
# the ImageNet stand-in: a third digit domain, grey 28x28 handwriting
GS_PRETRAIN_DATASET ?= mnist5k
GS_WIDTH ?= 0.25
GS_IMAGE_SIZE ?= 32
GS_EPOCHS ?= 6
GS_REVERSE_EPOCHS ?= 10
GS_PRETRAIN_EPOCHS ?= 5
GS_FINETUNE ?= 800
GS_FINETUNE_EPOCHS ?= 10
GS_BATCH ?= 32
GS_RECIPE ?= --optimizer sgd --lr 5e-2 --momentum 0.9 --weight-decay 0 --schedule onecycle
# the seed's reverse run: its five changes together (BatchNorm kept, label smoothing, augmentation, pretrained, Adam)
GS_BEST_ARGS ?= --label-smoothing 0.1 --augment svhn-aug $(GS_INIT) --optimizer adam --lr 1e-3
GS_TRAIN_ARGS ?=
GS_INIT ?= --init $(GS_OUT)/pretrain.safetensors
GS_SETTINGS := baseline no-batchnorm label-smoothing augmentation pretrained adam reverse reverse-fc-finetune
GS_ARGS_baseline = --dataset $(GS_A)
GS_ARGS_no-batchnorm = --dataset $(GS_A) --model-arg norm=none
GS_ARGS_label-smoothing = --dataset $(GS_A) --label-smoothing 0.1
GS_ARGS_augmentation = --dataset $(GS_A) --augment svhn-aug
GS_ARGS_pretrained = --dataset $(GS_A) $(GS_INIT)
GS_ARGS_adam = --dataset $(GS_A) --optimizer adam --lr 1e-3
GS_ARGS_reverse = --dataset $(GS_B) $(GS_BEST_ARGS) --epochs $(GS_REVERSE_EPOCHS)
GS_ARGS_reverse-fc-finetune = --dataset $(GS_A) --init $(GS_OUT)/reverse.safetensors --trainable fc \
  --limit $(GS_FINETUNE) --epochs $(GS_FINETUNE_EPOCHS)
GS_COL_A = $(subst -,_,$(GS_A))_acc
GS_COL_B = $(subst -,_,$(GS_B))_acc
STUDY_OUTS += $(GS_OUT)
GS_CELLS = $(foreach s,$(GS_SETTINGS),$(s).$(GS_COL_A)=$(GS_OUT)/$(s).a-metrics.parquet \
  $(s).$(GS_COL_B)=$(GS_OUT)/$(s).b-metrics.parquet)

generalization: | $(STAMP)
	+@$(SUBMAKE) $(GS_OUT)/summary.parquet

$(GS_OUT)/pretrain.safetensors: | $(STAMP)
	$(call TRAIN,--model resnet18 --width $(GS_WIDTH) --dataset $(GS_PRETRAIN_DATASET) $(DATA_ARGS) \
	  --image-size $(GS_IMAGE_SIZE) --epochs $(GS_PRETRAIN_EPOCHS) --optimizer adam --lr 1e-3 --batch-size $(GS_BATCH))

$(GS_OUT)/pretrained.safetensors $(GS_OUT)/reverse.safetensors: \
  $(if $(findstring pretrain.safetensors,$(GS_INIT)),$(GS_OUT)/pretrain.safetensors)
$(GS_OUT)/reverse-fc-finetune.safetensors: $(GS_OUT)/reverse.safetensors
$(GS_OUT)/%.safetensors: | $(STAMP)
	$(call TRAIN,--model resnet18 --width $(GS_WIDTH) --image-size $(GS_IMAGE_SIZE) $(DATA_ARGS) \
	  --epochs $(GS_EPOCHS) --batch-size $(GS_BATCH) $(GS_RECIPE) $(GS_TRAIN_ARGS) $(GS_ARGS_$*))

$(GS_OUT)/%.a-metrics.parquet: $(GS_OUT)/%.safetensors
	$(call EVALUATE_TEST,$(GS_A))

$(GS_OUT)/%.b-metrics.parquet: $(GS_OUT)/%.safetensors
	$(call EVALUATE_TEST,$(GS_B))

# models first (pretrain, whose two dependants chain, at the head), evaluations after: with -j$(JOBS) the slots
# train side by side instead of evaluating early models while later trainings wait (make starts prerequisites in
# the order listed), and the first two steps do not both generate colordigits-large
$(GS_OUT)/summary.parquet: $(if $(findstring pretrain.safetensors,$(GS_INIT)),$(GS_OUT)/pretrain.safetensors) \
  $(foreach s,$(GS_SETTINGS),$(GS_OUT)/$(s).safetensors) \
  $(foreach s,$(GS_SETTINGS),$(GS_OUT)/$(s).a-metrics.parquet $(GS_OUT)/$(s).b-metrics.parquet)
	$(NNLAB) summarize $(GS_CELLS) --key setting --reference s4-generalization --title "generalization (seed S4)" \
	  --column-as $(GS_COL_A)=svhn_acc,$(GS_COL_B)=mnist_acc --plot $(GS_OUT)/accuracy.png \
	  --plot-columns $(GS_COL_A),$(GS_COL_B) -o $@
