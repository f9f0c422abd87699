# ---------------------------------------------------------------- compress-vgg: seed S0, VGG16 compression by SI
# train → retrain-classifier (the seed's row (b): the trained features frozen, a new classifier trained on them) and
# si-profile → truncate (auto) → extract-features → rank-features → fit-head (linear, two hidden layers) → compare. Defaults: built-in digits at 32×32, VGG16 at width 1/8, 2-core CPU, a few minutes.
# CIFAR-10 on a GPU (seed S0): see the README, section "Compression".
.PHONY: compress-vgg
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
STUDY_OUTS += $(CV_OUT)
# $(call CV_HEAD,ARGS): a head on the truncated model's ranked features
CV_HEAD = $(call STEP,fit-head $(CV_OUT)/truncated.safetensors --ranking $(CV_OUT)/ranking.parquet $(CV_SELECT) \
  --dropout $(CV_DROPOUT) --dataset $(CV_DATASET) $(DATA_ARGS) --epochs $(CV_HEAD_EPOCHS) $(CV_HEAD_ARGS) $(1))

compress-vgg: | $(STAMP)
	+@$(SUBMAKE) $(CV_OUT)/compare.parquet

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

$(CV_OUT)/compare.parquet: $(CV_OUT)/vgg16.safetensors $(CV_OUT)/retrain-classifier.safetensors \
  $(CV_OUT)/compressed-linear.safetensors $(CV_OUT)/compressed-mlp.safetensors
	$(NNLAB) compare $^ --dataset $(CV_DATASET) $(DATA_ARGS) --si-fraction $(CV_SI_FRACTION) --device $(DEVICE) -o $@
