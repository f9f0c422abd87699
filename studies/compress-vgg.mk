# ---------------------------------------------------------------- compress-vgg: seed S0, VGG16 compression by SI
# train → retrain-classifier (the seed's row (b): the trained features frozen, a new classifier trained on them) and
# si-profile → truncate (auto) → extract-features → rank-features → fit-head (linear, two hidden layers) → compare
# → summarize (beside the seed's figures and findings, reference s0-compression). Defaults: built-in digits at 32×32,
# VGG16 at width 1/8, 2-core CPU, a few minutes.
# CIFAR-10 on a GPU (seed S0): see the README, section "Compression".
.PHONY: compress-vgg
ifeq ($(PROFILE),seed)
# seed S0: CIFAR-10, full-width VGG16, SGD 0.01 (momentum 0.9, wd 5e-4, StepLR 50/0.1), up to 200 epochs with
# patience 20, flip + crop, 0.5/0.5 normalization, batch 128; SI on 10 % of train; the best SI prefix of the
# ranking; heads trained 6 epochs with Adam 1e-3
CV_OUT ?= artifacts/seed/compress-vgg
CV_DATASET ?= cifar10
CV_WIDTH ?= 1
CV_EPOCHS ?= 200
CV_BATCH ?= 128
CV_LR ?= 0.01
CV_TRAIN_ARGS ?= --optimizer sgd --momentum 0.9 --weight-decay 5e-4 --schedule step --step-size 50 --gamma 0.1 \
  --patience 20 --augment flip-crop --normalize half
CV_SI_FRACTION ?= 0.1
CV_SELECT ?= --best
CV_HEAD_EPOCHS ?= 6
CV_HEAD_ARGS ?= --optimizer adam --lr 1e-3
endif
CV_OUT ?= artifacts/compress-vgg
CV_DATASET ?= digits
CV_WIDTH ?= 0.125
CV_EPOCHS ?= 20
CV_BATCH ?= 32
CV_LR ?= 1e-3
CV_TRAIN_ARGS ?= --optimizer adam --weight-decay 0
# row (b): a new classifier on the frozen features, trained with the same loop (the seed: same recipe as (a))
CV_RETRAIN_EPOCHS ?= $(CV_EPOCHS)
CV_SI_FRACTION ?= 0.4
CV_CUT_THRESHOLD ?= 0.02
CV_RANK_STEPS ?=
CV_HIDDEN ?= 4096,4096
CV_DROPOUT ?= 0.2
CV_SELECT ?= --top 64
CV_HEAD_EPOCHS ?= 60
CV_HEAD_ARGS ?= --optimizer adam --lr 1e-2
# the models compared (each $(CV_OUT)/ROW.safetensors) and the summary's columns (study column=compare column)
CV_ROWS := vgg16 retrain-classifier compressed-linear compressed-mlp
CV_COLUMNS := train_acc=train_accuracy val_acc=val_accuracy test_acc=test_accuracy params=parameters si_train=si_train \
  csi_train=csi_train si_test=si_test csi_test=csi_test
# $(call CV_CELL,ROW,COLUMN=COMPARE_COLUMN): one summary cell read from the comparison table
CV_CELL = $(1).$(firstword $(subst =, ,$(2)))=$(CV_OUT)/compare.parquet$(H)$(1):$(lastword $(subst =, ,$(2)))
STUDY_OUTS += $(CV_OUT)
# $(call CV_HEAD,ARGS): a head on the truncated model's ranked features
CV_HEAD = $(call STEP,fit-head $(CV_OUT)/truncated.safetensors --ranking $(CV_OUT)/ranking.parquet $(CV_SELECT) \
  --dropout $(CV_DROPOUT) --dataset $(CV_DATASET) $(DATA_ARGS) --epochs $(CV_HEAD_EPOCHS) $(CV_HEAD_ARGS) $(1))

compress-vgg: | $(STAMP)
	+@$(SUBMAKE) $(CV_OUT)/summary.parquet

$(CV_OUT)/vgg16.safetensors: | $(STAMP)
	$(call TRAIN,--model vgg16 --width $(CV_WIDTH) --dataset $(CV_DATASET) $(DATA_ARGS) --epochs $(CV_EPOCHS) \
	  --batch-size $(CV_BATCH) --lr $(CV_LR) $(CV_TRAIN_ARGS))

$(CV_OUT)/retrain-classifier.safetensors: $(CV_OUT)/vgg16.safetensors
	$(call TRAIN,--model vgg16 --width $(CV_WIDTH) --init $< --init-skip classifier --freeze features \
	  --dataset $(CV_DATASET) $(DATA_ARGS) --epochs $(CV_RETRAIN_EPOCHS) --batch-size $(CV_BATCH) --lr $(CV_LR) \
	  $(CV_TRAIN_ARGS))

$(CV_OUT)/profile.parquet: $(CV_OUT)/vgg16.safetensors
	$(NNLAB) si-profile $< --dataset $(CV_DATASET) $(DATA_ARGS) --splits train,test \
	  --fraction $(CV_SI_FRACTION) --device $(DEVICE) -o $@ --plot $(CV_OUT)/profile.png

$(CV_OUT)/truncated.safetensors: $(CV_OUT)/vgg16.safetensors $(CV_OUT)/profile.parquet
	$(NNLAB) truncate $< --at auto --profile $(CV_OUT)/profile.parquet --threshold $(CV_CUT_THRESHOLD) -o $@

$(CV_OUT)/cut-features.safetensors: $(CV_OUT)/truncated.safetensors
	$(NNLAB) extract-features $< --dataset $(CV_DATASET) $(DATA_ARGS) --split train \
	  --fraction $(CV_SI_FRACTION) --device $(DEVICE) -o $@

$(CV_OUT)/ranking.parquet: $(CV_OUT)/cut-features.safetensors
	$(NNLAB) rank-features $< $(if $(CV_RANK_STEPS),--max-steps $(CV_RANK_STEPS)) -o $@ --plot $(CV_OUT)/ranking.png

$(CV_OUT)/compressed-linear.safetensors: $(CV_OUT)/truncated.safetensors $(CV_OUT)/ranking.parquet
	$(call CV_HEAD,--hidden "")

$(CV_OUT)/compressed-mlp.safetensors: $(CV_OUT)/truncated.safetensors $(CV_OUT)/ranking.parquet
	$(call CV_HEAD,--hidden $(CV_HIDDEN) --hidden-scale $(CV_WIDTH))

$(CV_OUT)/compare.parquet: $(foreach r,$(CV_ROWS),$(CV_OUT)/$(r).safetensors)
	$(NNLAB) compare $^ --dataset $(CV_DATASET) $(DATA_ARGS) --si-fraction $(CV_SI_FRACTION) --device $(DEVICE) -o $@

$(CV_OUT)/summary.parquet: $(CV_OUT)/compare.parquet
	$(NNLAB) summarize $(foreach r,$(CV_ROWS),$(foreach c,$(CV_COLUMNS),$(call CV_CELL,$(r),$(c)))) \
	  --reference s0-compression --title "compress-vgg (seed S0)" -o $@
