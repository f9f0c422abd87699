# nnlab — set-up, tests and the study pipelines. Every pipeline step is an `nnlab` command.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
NNLAB := $(VENV)/bin/nnlab
STAMP := $(VENV)/.nnlab-installed
PYTEST_ARGS ?=

.PHONY: setup test lint clean-artifacts help

help:
	@echo "make test           set up .venv (first time) and run the test suite"
	@echo "make compress-vgg   VGG16 compression study (seed S0) on built-in data"
	@echo "make detect-demo    R-CNN-style detection demo on synthetic VOC scenes (seed S1)"
	@echo "make robustness     attack / adversarial training / circle loss study (seed S4)"

# .venv is created when missing and re-installed when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m compileall -q nnlab

clean-artifacts:
	find artifacts -mindepth 1 ! -name .gitkeep -exec rm -rf {} +

# ---------------------------------------------------------------- compress-vgg: seed S0, VGG16 compression by SI
# train → si-profile → truncate (auto) → extract-features → rank-features → fit-head (linear, two hidden layers)
# → compare. Defaults: built-in digits at 32×32, VGG16 at width 1/8, 2-core CPU, a few minutes.
# CIFAR-10 on a GPU (seed S0): see the README, section "Compression".
.PHONY: compress-vgg
CV_OUT ?= artifacts/compress-vgg
compress-vgg: DATASET = digits
compress-vgg: WIDTH = 0.125
compress-vgg: EPOCHS = 20
compress-vgg: BATCH = 32
compress-vgg: LR = 1e-3
compress-vgg: TRAIN_ARGS = --optimizer adam --weight-decay 0
compress-vgg: SI_FRACTION = 0.4
compress-vgg: CUT_THRESHOLD = 0.02
compress-vgg: RANK_STEPS =
compress-vgg: HIDDEN = 4096,4096
compress-vgg: DROPOUT = 0.2
compress-vgg: HEAD_EPOCHS = 15
compress-vgg: HEAD_ARGS = --optimizer adam --lr 1e-3
compress-vgg: DEVICE = auto
compress-vgg: DATA_ARGS =
compress-vgg: $(STAMP)
	@mkdir -p $(CV_OUT)
	$(NNLAB) train --model vgg16 --width $(WIDTH) --dataset $(DATASET) $(DATA_ARGS) --epochs $(EPOCHS) \
	  --batch-size $(BATCH) --lr $(LR) $(TRAIN_ARGS) --device $(DEVICE) -o $(CV_OUT)/vgg16.safetensors --quiet
	$(NNLAB) si-profile $(CV_OUT)/vgg16.safetensors --dataset $(DATASET) $(DATA_ARGS) --splits train,test \
	  --fraction $(SI_FRACTION) --device $(DEVICE) -o $(CV_OUT)/profile.parquet --plot $(CV_OUT)/profile.png
	$(NNLAB) truncate $(CV_OUT)/vgg16.safetensors --at auto --profile $(CV_OUT)/profile.parquet \
	  --threshold $(CUT_THRESHOLD) -o $(CV_OUT)/truncated.safetensors
	$(NNLAB) extract-features $(CV_OUT)/truncated.safetensors --dataset $(DATASET) $(DATA_ARGS) --split train \
	  --fraction $(SI_FRACTION) --device $(DEVICE) -o $(CV_OUT)/cut-features.safetensors
	$(NNLAB) rank-features $(CV_OUT)/cut-features.safetensors $(if $(RANK_STEPS),--max-steps $(RANK_STEPS)) \
	  -o $(CV_OUT)/ranking.parquet --plot $(CV_OUT)/ranking.png
	$(NNLAB) fit-head $(CV_OUT)/truncated.safetensors --ranking $(CV_OUT)/ranking.parquet --best --hidden "" \
	  --dropout $(DROPOUT) --dataset $(DATASET) $(DATA_ARGS) --epochs $(HEAD_EPOCHS) $(HEAD_ARGS) --device $(DEVICE) \
	  -o $(CV_OUT)/compressed-linear.safetensors --quiet
	$(NNLAB) fit-head $(CV_OUT)/truncated.safetensors --ranking $(CV_OUT)/ranking.parquet --best --hidden $(HIDDEN) \
	  --hidden-scale $(WIDTH) --dropout $(DROPOUT) --dataset $(DATASET) $(DATA_ARGS) --epochs $(HEAD_EPOCHS) \
	  $(HEAD_ARGS) --device $(DEVICE) -o $(CV_OUT)/compressed-mlp.safetensors --quiet
	$(NNLAB) compare $(CV_OUT)/vgg16.safetensors $(CV_OUT)/compressed-linear.safetensors \
	  $(CV_OUT)/compressed-mlp.safetensors --dataset $(DATASET) $(DATA_ARGS) --si-fraction $(SI_FRACTION) \
	  --device $(DEVICE) -o $(CV_OUT)/compare.parquet
