# nnlab — set-up, tests and the study pipelines. Every pipeline step is an `nnlab` command.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
NNLAB := $(VENV)/bin/nnlab
STAMP := $(VENV)/.nnlab-installed
PYTEST_ARGS ?= -n 2

.PHONY: setup test lint clean-artifacts help
.DELETE_ON_ERROR:

help:
	@echo "make test           set up .venv (first time) and run the test suite"
	@echo "make compress-vgg   VGG16 compression study (seed S0) on built-in data"
	@echo "make detect-demo    R-CNN-style detection demo on synthetic VOC scenes (seed S1)"
	@echo "make robustness     attack / adversarial training / circle loss study (seed S4)"
	@echo "make lint           ruff (lint and import order) over nnlab, tests and benchmarks"
	@echo "make finetune-block single-block fine-tuning of DeiT (distilled) and DenseNet stand-ins (seed S3)"
	@echo "make norm-study     custom-ResNet normalization variants and layer-wise SI (seed S1)"
	@echo "make transfer-study MLP vs CNN vs transfer learning (seed S2)"
	@echo "make generalization domain shift colour digits → mnist5k, ResNet18 settings (seed S4)"
	@echo "Pipelines are file targets: a rerun resumes after the last finished artifact; JOBS=2 steps run at a time."

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
	$(PY) -m ruff format --check nnlab tests benchmarks

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
# the selector mark of `nnlab summarize` cells (FILE#SELECTOR)
H := \#

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
# (`nnlab summarize`: model, clean_acc, adv_acc, and the seed's seed_clean_acc, seed_adv_acc).
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
	$(NNLAB) summarize $(foreach m,$(RB_MODELS),$(m).clean_acc=$(RB_OUT)/$(m).clean-metrics.parquet \
	  $(m).adv_acc=$(RB_OUT)/$(m).adv-metrics.parquet) --reference s4-robustness --title "robustness (seed S4)" -o $@

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

FB_CELLS = $(foreach r,$(foreach m,deit densenet,$(m)-block $(m)-head),$(foreach c,trainable_parameters train_accuracy \
  val_accuracy train_seconds_per_epoch val_seconds_per_epoch,$(r).$(c)=$(FB_OUT)/$(r).safetensors$(H)$(c)))

$(FB_OUT)/summary.parquet: $(FB_RUNS)
	$(NNLAB) summarize $(FB_CELLS) --key run --title "single-block fine-tuning (seed S3)" -o $@

.PRECIOUS: $(FB_OUT)/%-pretrained.safetensors
finetune-block: | $(STAMP)
	+@$(SUBMAKE) $(FB_OUT)/summary.parquet

# ================================================================ seed studies S1, S2, S4 as file pipelines
# Per-study variables (NS_*, TS_*, GS_*) scale each study; the README gives the seed's full setting on a GPU.
# Each process runs with THREADS OpenMP threads. Default data: the offline built-in `colordigits` / `mnist5k`.
THREADS ?= 1
DEVICE ?= auto
DATA_ARGS ?=
STUDY_ENV = OMP_NUM_THREADS=$(THREADS)
SUMMARIZE = $(STUDY_ENV) $(NNLAB) summarize

# ---------------------------------------------------------------- norm-study: seed S1 part 1, normalization and SI
# nine custom-ResNet variants, one recipe → evaluate (test) and si-profile (val, test) of every named child each
# → summary.parquet (variant, params, val/test accuracy, avgpool SI/CSI on val and test, seed figures) and the
# SI-by-layer curves (si-curves.png).
.PHONY: norm-study
NS_OUT ?= artifacts/norm-study
NS_DATASET ?= colordigits
NS_WIDTH ?= 0.25
NS_EPOCHS ?= 5
NS_BATCH ?= 64
NS_RECIPE ?= --optimizer adam --lr 2e-3 --weight-decay 0 --schedule cosine
NS_TRAIN_ARGS ?=
NS_SI_ARGS ?=
NS_VARIANTS := plain batchnorm groupnorm layernorm no-skip conv4-1x1 two-path four-path improved
NS_MODEL_plain := --model custom-resnet
NS_MODEL_batchnorm := --model custom-resnet --model-arg norm=batch
NS_MODEL_groupnorm := --model custom-resnet --model-arg norm=group
NS_MODEL_layernorm := --model custom-resnet --model-arg norm=layer
NS_MODEL_no-skip := --model custom-resnet --model-arg skip=false
NS_MODEL_conv4-1x1 := --model custom-resnet --model-arg conv4_1x1=true
NS_MODEL_two-path := --model custom-resnet --model-arg paths=2
NS_MODEL_four-path := --model custom-resnet --model-arg paths=4
NS_MODEL_improved := --model custom-resnet-improved
NS_CELLS = $(foreach v,$(NS_VARIANTS),$(v).params=$(NS_OUT)/$(v).safetensors \
  $(v).val_acc=$(NS_OUT)/$(v).history.parquet$(H)best_val_accuracy $(v).test_acc=$(NS_OUT)/$(v).test-metrics.parquet \
  $(foreach s,val test,$(foreach m,si csi,$(v).$(m)_$(s)=$(NS_OUT)/$(v).profile.parquet$(H)avgpool:$(s):$(m))) \
  $(v).s_per_epoch=$(NS_OUT)/$(v).history.parquet$(H)seconds_per_epoch)

norm-study: | $(STAMP)
	+@$(SUBMAKE) $(NS_OUT)/summary.parquet

$(NS_OUT)/%.safetensors: | $(STAMP)
	$(STUDY_ENV) $(NNLAB) train $(NS_MODEL_$*) --width $(NS_WIDTH) --dataset $(NS_DATASET) $(DATA_ARGS) \
	  --epochs $(NS_EPOCHS) --batch-size $(NS_BATCH) $(NS_RECIPE) $(NS_TRAIN_ARGS) --device $(DEVICE) -o $@ --quiet

$(NS_OUT)/%.test-metrics.parquet: $(NS_OUT)/%.safetensors
	$(STUDY_ENV) $(NNLAB) evaluate $< --dataset $(NS_DATASET) $(DATA_ARGS) --split test --device $(DEVICE) -o $@ --quiet

$(NS_OUT)/%.profile.parquet: $(NS_OUT)/%.safetensors
	$(STUDY_ENV) $(NNLAB) si-profile $< --dataset $(NS_DATASET) $(DATA_ARGS) --splits val,test $(NS_SI_ARGS) \
	  --device $(DEVICE) -o $@ --quiet

$(NS_OUT)/summary.parquet: $(foreach v,$(NS_VARIANTS),$(NS_OUT)/$(v).safetensors $(NS_OUT)/$(v).test-metrics.parquet \
  $(NS_OUT)/$(v).profile.parquet)
	$(SUMMARIZE) $(NS_CELLS) --key variant --reference s1-norm --title "norm-study (seed S1)" \
	  --plot $(NS_OUT)/si-curves.png --plot-kind si-curves --plot-split test -o $@

# ---------------------------------------------------------------- transfer-study: seed S2, MLP vs CNN vs transfer
# MLP (SGD, lr 1e-1 → 1e-4, TS_MLP_EPOCHS per lr), the 6-conv CNN, the CNN with BatchNorm + Dropout, and VGG16
# transferred from a backbone trained on TS_BACKBONE_DATASET (features 0-18 frozen, lr 1e-3 for the rest of the
# features, 1e-2 for the new 512-256-128-classes head) → evaluate each → summary.parquet and confusions.png.
.PHONY: transfer-study
TS_OUT ?= artifacts/transfer-study
TS_DATASET ?= colordigits
TS_BACKBONE_DATASET ?= mnist5k
TS_MLP_EPOCHS ?= 2
TS_EPOCHS ?= 5
TS_BACKBONE_EPOCHS ?= 4
TS_CNN_WIDTH ?= 0.5
TS_VGG_WIDTH ?= 0.25
TS_BATCH ?= 128
TS_BACKBONE_ARGS ?= --optimizer adam --lr 1e-3 --weight-decay 0 --batch-size 32
TS_TRAIN_ARGS ?=
TS_INIT ?= --init $(TS_OUT)/backbone.safetensors
TS_MODELS := mlp cnn cnn-bn-dropout transfer
TS_ARGS_mlp = --model mlp --optimizer sgd --momentum 0 --lr 1e-1 --weight-decay 5e-4 --schedule step \
  --step-size $(TS_MLP_EPOCHS) --gamma 0.1 --epochs $(shell echo $$((4 * $(TS_MLP_EPOCHS))))
TS_ARGS_cnn = --model cnn --width $(TS_CNN_WIDTH) --optimizer adam --lr 1e-3 --weight-decay 0 --epochs $(TS_EPOCHS)
TS_ARGS_cnn-bn-dropout = --model cnn-bn-dropout --width $(TS_CNN_WIDTH) --optimizer adam --lr 1e-3 --weight-decay 0 \
  --epochs $(TS_EPOCHS)
TS_ARGS_transfer = --model vgg16 --width $(TS_VGG_WIDTH) --model-arg 'head=[256,128]' $(TS_INIT) \
  --freeze 're:^features\.([0-9]|1[0-8])\.' --optimizer sgd --momentum 0.9 --lr 1e-3 --lr-head 1e-2 \
  --weight-decay 1e-3 --epochs $(TS_EPOCHS)
TS_CELLS = $(foreach m,$(TS_MODELS),$(m).params=$(TS_OUT)/$(m).safetensors \
  $(m).val_acc=$(TS_OUT)/$(m).history.parquet$(H)best_val_accuracy $(m).test_acc=$(TS_OUT)/$(m).test-metrics.parquet \
  $(m).macro_f1=$(TS_OUT)/$(m).test-metrics.parquet$(H)f1 $(m).s_per_epoch=$(TS_OUT)/$(m).history.parquet$(H)seconds_per_epoch)

transfer-study: | $(STAMP)
	+@$(SUBMAKE) $(TS_OUT)/summary.parquet

$(TS_OUT)/backbone.safetensors: | $(STAMP)
	$(STUDY_ENV) $(NNLAB) train --model vgg16 --width $(TS_VGG_WIDTH) --dataset $(TS_BACKBONE_DATASET) $(DATA_ARGS) \
	  --image-size 32 --epochs $(TS_BACKBONE_EPOCHS) $(TS_BACKBONE_ARGS) --device $(DEVICE) -o $@ --quiet

$(TS_OUT)/transfer.safetensors: $(if $(findstring backbone.safetensors,$(TS_INIT)),$(TS_OUT)/backbone.safetensors)
$(TS_OUT)/%.safetensors: | $(STAMP)
	$(STUDY_ENV) $(NNLAB) train $(TS_ARGS_$*) --dataset $(TS_DATASET) $(DATA_ARGS) --batch-size $(TS_BATCH) \
	  $(TS_TRAIN_ARGS) --device $(DEVICE) -o $@ --quiet

$(TS_OUT)/%.test-metrics.parquet: $(TS_OUT)/%.safetensors
	$(STUDY_ENV) $(NNLAB) evaluate $< --dataset $(TS_DATASET) $(DATA_ARGS) --split test --device $(DEVICE) -o $@ --quiet

$(TS_OUT)/summary.parquet: $(foreach m,$(TS_MODELS),$(TS_OUT)/$(m).safetensors $(TS_OUT)/$(m).test-metrics.parquet)
	$(SUMMARIZE) $(TS_CELLS) --reference s2-transfer --title "transfer-study (seed S2)" \
	  --plot $(TS_OUT)/confusions.png --plot-kind confusion -o $@

# ---------------------------------------------------------------- generalization: seed S4 part 1, domain shift
# ResNet18 trained on GS_A (as SVHN), tested on GS_A and GS_B (as MNIST): the baseline and one change at a time
# (no BatchNorm, label smoothing, the svhn-aug preset, pretrained stand-in weights from GS_PRETRAIN_DATASET, Adam);
# then the reverse direction with GS_BEST_ARGS (the seed's best: Adam), and only `fc` of that model fine-tuned on
# GS_FINETUNE images of GS_A. → summary.parquet (setting, accuracy on each domain, seed's) and accuracy.png.
.PHONY: generalization
GS_OUT ?= artifacts/generalization
GS_A ?= colordigits
GS_B ?= mnist5k
GS_PRETRAIN_DATASET ?= digits
GS_WIDTH ?= 0.25
GS_IMAGE_SIZE ?= 32
GS_EPOCHS ?= 10
GS_PRETRAIN_EPOCHS ?= 5
GS_FINETUNE ?= 800
GS_FINETUNE_EPOCHS ?= 10
GS_BATCH ?= 32
GS_RECIPE ?= --optimizer sgd --lr 1e-2 --momentum 0.9 --weight-decay 0 --schedule exponential --gamma 0.99
GS_BEST_ARGS ?= --optimizer adam --lr 1e-3
GS_TRAIN_ARGS ?=
GS_INIT ?= --init $(GS_OUT)/pretrain.safetensors
GS_SETTINGS := baseline no-batchnorm label-smoothing augmentation pretrained adam reverse reverse-fc-finetune
GS_ARGS_baseline = --dataset $(GS_A)
GS_ARGS_no-batchnorm = --dataset $(GS_A) --model-arg norm=none
GS_ARGS_label-smoothing = --dataset $(GS_A) --label-smoothing 0.1
GS_ARGS_augmentation = --dataset $(GS_A) --augment svhn-aug
GS_ARGS_pretrained = --dataset $(GS_A) $(GS_INIT)
GS_ARGS_adam = --dataset $(GS_A) --optimizer adam --lr 1e-3
GS_ARGS_reverse = --dataset $(GS_B) $(GS_BEST_ARGS)
GS_ARGS_reverse-fc-finetune = --dataset $(GS_A) --init $(GS_OUT)/reverse.safetensors --trainable fc \
  --limit $(GS_FINETUNE) --epochs $(GS_FINETUNE_EPOCHS)
GS_COL_A = $(subst -,_,$(GS_A))_acc
GS_COL_B = $(subst -,_,$(GS_B))_acc
GS_CELLS = $(foreach s,$(GS_SETTINGS),$(s).$(GS_COL_A)=$(GS_OUT)/$(s).a-metrics.parquet \
  $(s).$(GS_COL_B)=$(GS_OUT)/$(s).b-metrics.parquet)

generalization: | $(STAMP)
	+@$(SUBMAKE) $(GS_OUT)/summary.parquet

$(GS_OUT)/pretrain.safetensors: | $(STAMP)
	$(STUDY_ENV) $(NNLAB) train --model resnet18 --width $(GS_WIDTH) --dataset $(GS_PRETRAIN_DATASET) $(DATA_ARGS) \
	  --image-size $(GS_IMAGE_SIZE) --epochs $(GS_PRETRAIN_EPOCHS) --optimizer adam --lr 1e-3 --batch-size $(GS_BATCH) \
	  --device $(DEVICE) -o $@ --quiet

$(GS_OUT)/pretrained.safetensors: $(if $(findstring pretrain.safetensors,$(GS_INIT)),$(GS_OUT)/pretrain.safetensors)
$(GS_OUT)/reverse-fc-finetune.safetensors: $(GS_OUT)/reverse.safetensors
$(GS_OUT)/%.safetensors: | $(STAMP)
	$(STUDY_ENV) $(NNLAB) train --model resnet18 --width $(GS_WIDTH) --image-size $(GS_IMAGE_SIZE) $(DATA_ARGS) \
	  --epochs $(GS_EPOCHS) --batch-size $(GS_BATCH) $(GS_RECIPE) $(GS_TRAIN_ARGS) $(GS_ARGS_$*) --device $(DEVICE) \
	  -o $@ --quiet

$(GS_OUT)/%.a-metrics.parquet: $(GS_OUT)/%.safetensors
	$(STUDY_ENV) $(NNLAB) evaluate $< --dataset $(GS_A) $(DATA_ARGS) --split test --device $(DEVICE) -o $@ --quiet

$(GS_OUT)/%.b-metrics.parquet: $(GS_OUT)/%.safetensors
	$(STUDY_ENV) $(NNLAB) evaluate $< --dataset $(GS_B) $(DATA_ARGS) --split test --device $(DEVICE) -o $@ --quiet

$(GS_OUT)/summary.parquet: $(foreach s,$(GS_SETTINGS),$(GS_OUT)/$(s).safetensors $(GS_OUT)/$(s).a-metrics.parquet \
  $(GS_OUT)/$(s).b-metrics.parquet)
	$(SUMMARIZE) $(GS_CELLS) --key setting --reference s4-generalization --title "generalization (seed S4)" \
	  --plot $(GS_OUT)/accuracy.png --plot-columns $(GS_COL_A),$(GS_COL_B) -o $@
