# nnlab — set-up, tests and the study pipelines. Every pipeline step is an `nnlab` command.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
NNLAB := $(VENV)/bin/nnlab
STAMP := $(VENV)/.nnlab-installed
PYTEST_ARGS ?=

.PHONY: setup test lint clean-artifacts help
.DELETE_ON_ERROR:

help:
	@echo "make test           set up .venv (first time) and run the test suite"
	@echo "make compress-vgg   VGG16 compression study (seed S0) on built-in data"
	@echo "make detect-demo    R-CNN-style detection demo on synthetic VOC scenes (seed S1)"
	@echo "make robustness     attack / adversarial training / circle loss study (seed S4)"
	@echo "make lint           ruff (lint and import order) over nnlab, tests and benchmarks"
	@echo "Pipelines are file targets: a rerun resumes after the last finished artifact; JOBS=2 steps run at a time."
	@echo "make finetune-block single-block fine-tuning of DeiT (distilled) and DenseNet stand-ins (seed S3)"

# .venv is created when missing and re-installed when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

# lint first: a style or import-order slip fails fast, before the suite's minutes
test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check nnlab tests benchmarks

clean-artifacts:
	find artifacts -mindepth 1 ! -name .gitkeep -exec rm -rf {} +

# Every pipeline below is a chain of file targets: each artifact is a target whose prerequisites are its inputs, so
# `make -jN` runs independent steps side by side and a rerun after a failure or Ctrl-C resumes from the first missing
# artifact (writes are atomic: an interrupted step leaves no file behind). The phony alias of a study (e.g.
# `make robustness`) builds its last artifact with JOBS parallel steps (default 2, the machine's two cores).
# Settings are pattern-specific variables of the study's output folder, so a single artifact can be rebuilt
# directly (`make artifacts/robustness/circle.safetensors`) and command-line overrides (`make robustness EPOCHS=8`)
# reach every step. Changing a setting does not invalidate finished artifacts: remove the folder to redo a study.
JOBS ?= 2
SUBMAKE = $(MAKE) --no-print-directory -j$(JOBS) --output-sync=target

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

# ---------------------------------------------------------------- robustness: seed S4, attacks and defences
# clean model, adversarially trained model, circle-loss model with 3-NN → pixels+fgsm test set (attack on the clean
# model) → each model evaluated on the clean and on the adversarial test set, and embedded (UMAP) → summary.parquet.
# Defaults: built-in mnist5k at 28×28, ResNet18 at width 1/4, about 2–3 minutes on an idle 2-core CPU.
# Each process uses one OpenMP thread (THREADS) and two steps run at a time (JOBS): small convolutions gain little
# from a second thread, and thread barriers cost a lot on a busy machine.
# The seed's setting (CIFAR-10, width 1, 224×224, eps 8/255) on a GPU: see the README, section "Robustness".
.PHONY: robustness
RB_OUT ?= artifacts/robustness
RB_MODELS := clean adversarial circle
$(RB_OUT)/%: DATASET = mnist5k
$(RB_OUT)/%: MODEL = resnet18
$(RB_OUT)/%: IMAGE_SIZE = 28
$(RB_OUT)/%: WIDTH = 0.25
$(RB_OUT)/%: EPOCHS = 4
$(RB_OUT)/%: EPS = 0.1
$(RB_OUT)/%: PIXELS = 20
$(RB_OUT)/%: ADV_RATIO = 0.5
$(RB_OUT)/%: KNN = 3
$(RB_OUT)/%: EMBED_METHOD = umap
$(RB_OUT)/%: DEVICE = auto
$(RB_OUT)/%: THREADS = 1
$(RB_OUT)/%: TRAIN_ARGS = --optimizer adam --lr 2e-3
$(RB_OUT)/%: DATA_ARGS =
$(RB_OUT)/%: export OMP_NUM_THREADS = $(THREADS)
$(RB_OUT)/%: RB_TRAIN = $(NNLAB) train --model $(MODEL) --width $(WIDTH) --dataset $(DATASET) $(DATA_ARGS) \
  --image-size $(IMAGE_SIZE) --epochs $(EPOCHS) $(TRAIN_ARGS) --device $(DEVICE) --quiet

robustness: | $(STAMP)
	+@$(SUBMAKE) $(RB_OUT)/summary.parquet

$(RB_OUT)/clean.safetensors: | $(STAMP)
	$(RB_TRAIN) -o $@

$(RB_OUT)/adversarial.safetensors: | $(STAMP)
	$(RB_TRAIN) --adv pixels+fgsm --pixels $(PIXELS) --eps $(EPS) --adv-ratio $(ADV_RATIO) -o $@

$(RB_OUT)/circle.safetensors: | $(STAMP)
	$(RB_TRAIN) --loss circle --circle-m 0.4 --circle-gamma 80 --knn $(KNN) -o $@

$(RB_OUT)/adversarial-test.safetensors: $(RB_OUT)/clean.safetensors
	$(NNLAB) attack $< --dataset $(DATASET) $(DATA_ARGS) --split test --attack pixels+fgsm --pixels $(PIXELS) \
	  --eps $(EPS) --device $(DEVICE) -o $@

$(RB_OUT)/%.clean-metrics.parquet: $(RB_OUT)/%.safetensors
	$(NNLAB) evaluate $< --dataset $(DATASET) $(DATA_ARGS) --split test --device $(DEVICE) -o $@ --quiet

$(RB_OUT)/%.adv-metrics.parquet: $(RB_OUT)/%.safetensors $(RB_OUT)/adversarial-test.safetensors
	$(NNLAB) evaluate $< --adversarial $(RB_OUT)/adversarial-test.safetensors --device $(DEVICE) -o $@ --quiet

$(RB_OUT)/%.embedding.parquet: $(RB_OUT)/%.safetensors $(RB_OUT)/adversarial-test.safetensors
	$(NNLAB) embed $< --adversarial $(RB_OUT)/adversarial-test.safetensors --method $(EMBED_METHOD) \
	  --device $(DEVICE) -o $@ --plot $(RB_OUT)/$*.$(EMBED_METHOD).png --quiet

$(RB_OUT)/summary.parquet: $(foreach m,$(RB_MODELS),$(RB_OUT)/$(m).clean-metrics.parquet \
  $(RB_OUT)/$(m).adv-metrics.parquet $(RB_OUT)/$(m).embedding.parquet)
	$(NNLAB) attack $(foreach m,$(RB_MODELS),--summarize \
	  $(m)=$(RB_OUT)/$(m).clean-metrics.parquet,$(RB_OUT)/$(m).adv-metrics.parquet) -o $@

# ---------------------------------------------------------------- detect-demo: seed S1 part 2, R-CNN-style detection
# mnist5k backbone (the offline stand-in for ImageNet weights), make-scenes and propose-regions (train split,
# labelled) → the crop detector trained on proposals (mobilenet_v2 + seed head, --init backbone); propose-regions on
# the test split (no ground truth added) → detect on the test split in crop mode; the align model (the detector's
# trunk frozen, its later blocks and head trained on roi_align features of an image pyramid) → detect in align mode.
# Each step is one `nnlab` command; two run at a time (JOBS), each on one thread (THREADS).
# metrics.parquet holds ROI_MODE's AP table (one row per class + `all`), metrics-crop/-align.parquet both.
# FREEZE=features is the seed's recipe (frozen backbone, new head). A real VOC folder: see the README.
.PHONY: detect-demo
DD_OUT ?= artifacts/detect-demo
VOC ?= $(DD_OUT)/voc
SPLIT_TRAIN ?= trainval
SPLIT_TEST ?= test
$(DD_OUT)/%: SCENES = 300
$(DD_OUT)/%: CLASSES =
$(DD_OUT)/%: IMAGE_SIZE = 32
$(DD_OUT)/%: WIDTH = 0.35
$(DD_OUT)/%: ROI_MODE = crop
$(DD_OUT)/%: DEVICE = auto
$(DD_OUT)/%: THREADS = 1
$(DD_OUT)/%: BACKBONE_EPOCHS = 8
$(DD_OUT)/%: EPOCHS = 8
$(DD_OUT)/%: ALIGN_EPOCHS = 6
$(DD_OUT)/%: LOADER_WORKERS = 1
$(DD_OUT)/%: FREEZE =
$(DD_OUT)/%: BALANCE = undersample
$(DD_OUT)/%: SEARCH = --max-side 192 --max-per-image 500 --search-threads 2
$(DD_OUT)/%: SCORE = 0.01
$(DD_OUT)/%: NMS_IOU = 0.3
$(DD_OUT)/%: export OMP_NUM_THREADS = $(THREADS)
$(DD_OUT)/%: DD_DETECT = $(NNLAB) detect $< $(VOC) --split $(SPLIT_TEST) --proposals $(DD_OUT)/test-proposals.parquet \
  --score $(SCORE) --nms-iou $(NMS_IOU) --device $(DEVICE)
# the folder's last file: make-scenes writes trainval.txt after everything else; a real VOC folder has it already
DD_SCENES := $(VOC)/ImageSets/Main/trainval.txt

detect-demo: | $(STAMP)
	+@$(SUBMAKE) $(DD_OUT)/metrics.parquet

$(DD_OUT)/backbone.safetensors: | $(STAMP)
	$(NNLAB) train --model mobilenet_v2 --width $(WIDTH) --dataset mnist5k --image-size $(IMAGE_SIZE) \
	  --epochs $(BACKBONE_EPOCHS) --schedule cosine --optimizer adam --lr 5e-3 --weight-decay 0 --batch-size 64 \
	  --device $(DEVICE) -o $@ --quiet

$(DD_SCENES): | $(STAMP)
	$(NNLAB) make-scenes $(VOC) --count $(SCENES) --seed 0 --quiet

$(DD_OUT)/proposals.parquet: $(DD_SCENES)
	$(NNLAB) propose-regions $(VOC) --split $(SPLIT_TRAIN) $(SEARCH) $(if $(CLASSES),--classes $(CLASSES)) \
	  -o $@ --quiet

$(DD_OUT)/test-proposals.parquet: $(DD_SCENES)
	$(NNLAB) propose-regions $(VOC) --split $(SPLIT_TEST) $(SEARCH) $(if $(CLASSES),--classes $(CLASSES)) \
	  --no-add-gt -o $@ --quiet

$(DD_OUT)/detector.safetensors: $(DD_OUT)/backbone.safetensors $(DD_OUT)/proposals.parquet
	$(NNLAB) train --model mobilenet_v2 --width $(WIDTH) --init $< $(foreach f,$(FREEZE),--freeze $(f)) \
	  --dataset proposals:$(DD_OUT)/proposals.parquet --image-size $(IMAGE_SIZE) --balance $(BALANCE) \
	  --epochs $(EPOCHS) --schedule cosine --optimizer adam --lr 3e-3 --weight-decay 0 --batch-size 64 \
	  --num-workers $(LOADER_WORKERS) --device $(DEVICE) -o $@ --quiet

$(DD_OUT)/detector-align.safetensors: $(DD_OUT)/detector.safetensors $(DD_OUT)/proposals.parquet
	$(NNLAB) train --roi-mode align --init $< --dataset proposals:$(DD_OUT)/proposals.parquet --balance $(BALANCE) \
	  --epochs $(ALIGN_EPOCHS) --schedule cosine --optimizer adam --lr 2e-3 --weight-decay 0 --device $(DEVICE) \
	  -o $@ --quiet

$(DD_OUT)/metrics-crop.parquet: $(DD_OUT)/detector.safetensors $(DD_OUT)/test-proposals.parquet
	$(DD_DETECT) --roi-mode crop -o $(DD_OUT)/detections-crop.parquet --metrics $@ --draw $(DD_OUT)/drawn-crop

$(DD_OUT)/metrics-align.parquet: $(DD_OUT)/detector-align.safetensors $(DD_OUT)/test-proposals.parquet
	$(DD_DETECT) --roi-mode align -o $(DD_OUT)/detections-align.parquet --metrics $@

$(DD_OUT)/metrics.parquet: $(DD_OUT)/metrics-crop.parquet $(DD_OUT)/metrics-align.parquet
	cp $(DD_OUT)/metrics-$(ROI_MODE).parquet $@

# ---------------------------------------------------------------- finetune-block: seed S3, single-block fine-tuning
# Small members of the paper's families (a distilled DeiT-Tiny at 32 px with 8 px patches, 4 blocks of width 96, a DenseNet-121
# with 2 layers per dense block) are first trained on SOURCE (the offline stand-in for ImageNet weights), then
# fine-tuned on TARGET with only their last block and new head(s) trainable (--block-preset last), and, for
# comparison, with the head(s) alone (--block-preset head). File targets: `make -j2 finetune-block` runs the two
# pre-trainings, then the four fine-tunings, two at a time. CIFAR-10 at 224 px on a GPU: see the README, "Fine-tuning
# a single block".
.PHONY: finetune-block
FB_OUT ?= artifacts/finetune-block
FB_SOURCE ?= mnist5k
FB_TARGET ?= digits
FB_DEVICE ?= auto
FB_THREADS ?= 1
FB_PRE_EPOCHS ?= 6
FB_EPOCHS ?= 10
FB_COMMON = --optimizer adam --weight-decay 0 --batch-size 64 --device $(FB_DEVICE) --quiet
FB_MODEL_deit = timm:deit_tiny_distilled_patch16_224 --image-size 32 --model-arg patch_size=8 --model-arg depth=4 \
  --model-arg embed_dim=96 --model-arg num_heads=3
FB_MODEL_densenet = timm:densenet121 --image-size 32 --model-arg growth_rate=16 --model-arg 'block_config=[2,2,2,2]'
FB_PRE_LR_deit = 2e-3
FB_PRE_LR_densenet = 3e-3
FB_LR ?= 1e-3
FB_RUNS = $(foreach m,deit densenet,$(FB_OUT)/$(m)-block.safetensors $(FB_OUT)/$(m)-head.safetensors)

$(FB_OUT)/%-pretrained.safetensors: | $(STAMP)
	@mkdir -p $(@D)
	OMP_NUM_THREADS=$(FB_THREADS) $(NNLAB) train --model $(FB_MODEL_$*) --dataset $(FB_SOURCE) \
	  --epochs $(FB_PRE_EPOCHS) --lr $(FB_PRE_LR_$*) $(FB_COMMON) -o $@

$(FB_OUT)/%-block.safetensors: $(FB_OUT)/%-pretrained.safetensors
	OMP_NUM_THREADS=$(FB_THREADS) $(NNLAB) train --model $(FB_MODEL_$*) --init $< --block-preset last \
	  --dataset $(FB_TARGET) --epochs $(FB_EPOCHS) --lr $(FB_LR) $(FB_COMMON) -o $@

$(FB_OUT)/%-head.safetensors: $(FB_OUT)/%-pretrained.safetensors
	OMP_NUM_THREADS=$(FB_THREADS) $(NNLAB) train --model $(FB_MODEL_$*) --init $< --block-preset head \
	  --dataset $(FB_TARGET) --epochs $(FB_EPOCHS) --lr $(FB_LR) $(FB_COMMON) -o $@

$(FB_OUT)/summary.parquet: $(FB_RUNS)
	$(NNLAB) run-table $^ -o $@ --markdown $(FB_OUT)/summary.md

.PRECIOUS: $(FB_OUT)/%-pretrained.safetensors
finetune-block: | $(STAMP)
	+@$(SUBMAKE) $(FB_OUT)/summary.parquet
