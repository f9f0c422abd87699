# compress-vgg: included by the top-level Makefile (shared settings and `make help` there).
# ---------------------------------------------------------------- compress-vgg: seed S0, VGG16 compression by SI
# train → si-profile → truncate (auto) → extract-features → rank-features → fit-head (linear, two hidden layers)
# → compare. Defaults: built-in digits at 32×32, VGG16 at width 1/8, 2-core CPU, a few minutes.
# CIFAR-10 on a GPU (seed S0): see the README, section "Compression".
.PHONY: compress-vgg
CV_OUT ?= artifacts/compress-vgg
$(CV_OUT)/%: DATASET = digits
$(CV_OUT)/%: WIDTH = 0.125
$(CV_OUT)/%: EPOCHS = 20
$(CV_OUT)/%: BATCH = 32
$(CV_OUT)/%: LR = 1e-3
$(CV_OUT)/%: TRAIN_ARGS = --optimizer adam --weight-decay 0
$(CV_OUT)/%: SI_FRACTION = 0.4
$(CV_OUT)/%: CUT_THRESHOLD = 0.02
$(CV_OUT)/%: RANK_STEPS =
$(CV_OUT)/%: HIDDEN = 4096,4096
$(CV_OUT)/%: DROPOUT = 0.2
$(CV_OUT)/%: SELECT = --top 64
$(CV_OUT)/%: HEAD_EPOCHS = 60
$(CV_OUT)/%: HEAD_ARGS = --optimizer adam --lr 1e-2
$(CV_OUT)/%: DEVICE = auto
$(CV_OUT)/%: DATA_ARGS =
$(CV_OUT)/%: CV_HEAD = $(NNLAB) fit-head $(CV_OUT)/truncated.safetensors --ranking $(CV_OUT)/ranking.parquet $(SELECT) \
  --dropout $(DROPOUT) --dataset $(DATASET) $(DATA_ARGS) --epochs $(HEAD_EPOCHS) $(HEAD_ARGS) --device $(DEVICE) --quiet

compress-vgg: | $(STAMP)
	+@$(SUBMAKE) $(CV_OUT)/compare.parquet

$(CV_OUT)/vgg16.safetensors: | $(STAMP)
	$(NNLAB) train --model vgg16 --width $(WIDTH) --dataset $(DATASET) $(DATA_ARGS) --epochs $(EPOCHS) \
	  --batch-size $(BATCH) --lr $(LR) $(TRAIN_ARGS) --device $(DEVICE) -o $@ --quiet

$(CV_OUT)/profile.parquet: $(CV_OUT)/vgg16.safetensors
	$(NNLAB) si-profile $< --dataset $(DATASET) $(DATA_ARGS) --splits train,test \
	  --fraction $(SI_FRACTION) --device $(DEVICE) -o $@ --plot $(CV_OUT)/profile.png

$(CV_OUT)/truncated.safetensors: $(CV_OUT)/vgg16.safetensors $(CV_OUT)/profile.parquet
	$(NNLAB) truncate $< --at auto --profile $(CV_OUT)/profile.parquet --threshold $(CUT_THRESHOLD) -o $@

$(CV_OUT)/cut-features.safetensors: $(CV_OUT)/truncated.safetensors
	$(NNLAB) extract-features $< --dataset $(DATASET) $(DATA_ARGS) --split train \
	  --fraction $(SI_FRACTION) --device $(DEVICE) -o $@

$(CV_OUT)/ranking.parquet: $(CV_OUT)/cut-features.safetensors
	$(NNLAB) rank-features $< $(if $(RANK_STEPS),--max-steps $(RANK_STEPS)) -o $@ --plot $(CV_OUT)/ranking.png

$(CV_OUT)/compressed-linear.safetensors: $(CV_OUT)/truncated.safetensors $(CV_OUT)/ranking.parquet
	$(CV_HEAD) --hidden "" -o $@

$(CV_OUT)/compressed-mlp.safetensors: $(CV_OUT)/truncated.safetensors $(CV_OUT)/ranking.parquet
	$(CV_HEAD) --hidden $(HIDDEN) --hidden-scale $(WIDTH) -o $@

$(CV_OUT)/compare.parquet: $(CV_OUT)/vgg16.safetensors $(CV_OUT)/compressed-linear.safetensors \
  $(CV_OUT)/compressed-mlp.safetensors
	$(NNLAB) compare $^ --dataset $(DATASET) $(DATA_ARGS) --si-fraction $(SI_FRACTION) --device $(DEVICE) -o $@
