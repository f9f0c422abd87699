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
compress-vgg: SELECT = --top 64
compress-vgg: HEAD_EPOCHS = 60
compress-vgg: HEAD_ARGS = --optimizer adam --lr 1e-2
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
	$(NNLAB) fit-head $(CV_OUT)/truncated.safetensors --ranking $(CV_OUT)/ranking.parquet $(SELECT) --hidden "" \
	  --dropout $(DROPOUT) --dataset $(DATASET) $(DATA_ARGS) --epochs $(HEAD_EPOCHS) $(HEAD_ARGS) --device $(DEVICE) \
	  -o $(CV_OUT)/compressed-linear.safetensors --quiet
	$(NNLAB) fit-head $(CV_OUT)/truncated.safetensors --ranking $(CV_OUT)/ranking.parquet $(SELECT) --hidden $(HIDDEN) \
	  --hidden-scale $(WIDTH) --dropout $(DROPOUT) --dataset $(DATASET) $(DATA_ARGS) --epochs $(HEAD_EPOCHS) \
	  $(HEAD_ARGS) --device $(DEVICE) -o $(CV_OUT)/compressed-mlp.safetensors --quiet
	$(NNLAB) compare $(CV_OUT)/vgg16.safetensors $(CV_OUT)/compressed-linear.safetensors \
	  $(CV_OUT)/compressed-mlp.safetensors --dataset $(DATASET) $(DATA_ARGS) --si-fraction $(SI_FRACTION) \
	  --device $(DEVICE) -o $(CV_OUT)/compare.parquet

# ---------------------------------------------------------------- robustness: seed S4, attacks and defences
# clean model → pixels+fgsm test set (attack) → adversarially trained model → circle-loss model with 3-NN
# → evaluate each on the clean and on the adversarial test set → embed each (UMAP) → summary.parquet.
# Defaults: built-in mnist5k at 28×28, ResNet18 at width 1/4, about 2–3 minutes on an idle 2-core CPU.
# Each process uses one OpenMP thread (THREADS) and independent steps run two at a time: small convolutions
# gain little from a second thread, and thread barriers cost a lot on a busy machine.
# The seed's setting (CIFAR-10, width 1, 224×224, eps 8/255) on a GPU: see the README, section "Robustness".
.PHONY: robustness
RB_OUT ?= artifacts/robustness
robustness: DATASET = mnist5k
robustness: MODEL = resnet18
robustness: IMAGE_SIZE = 28
robustness: WIDTH = 0.25
robustness: EPOCHS = 4
robustness: EPS = 0.1
robustness: PIXELS = 20
robustness: ADV_RATIO = 0.5
robustness: KNN = 3
robustness: EMBED_METHOD = umap
robustness: DEVICE = auto
robustness: THREADS = 1
robustness: TRAIN_ARGS = --optimizer adam --lr 2e-3
robustness: DATA_ARGS =
robustness: export OMP_NUM_THREADS = $(THREADS)
robustness: RB_TRAIN = $(NNLAB) train --model $(MODEL) --width $(WIDTH) --dataset $(DATASET) $(DATA_ARGS) \
  --image-size $(IMAGE_SIZE) --epochs $(EPOCHS) $(TRAIN_ARGS) --device $(DEVICE) --quiet
# evaluate model $$m on the clean and the adversarial test set, then embed both (one shell command)
robustness: RB_STUDY = $(NNLAB) evaluate $(RB_OUT)/$$m.safetensors --dataset $(DATASET) $(DATA_ARGS) --split test \
  --device $(DEVICE) -o $(RB_OUT)/$$m.clean-metrics.parquet --quiet \
  && $(NNLAB) evaluate $(RB_OUT)/$$m.safetensors --adversarial $(RB_OUT)/adversarial-test.safetensors \
  --device $(DEVICE) -o $(RB_OUT)/$$m.adv-metrics.parquet --quiet \
  && $(NNLAB) embed $(RB_OUT)/$$m.safetensors --adversarial $(RB_OUT)/adversarial-test.safetensors \
  --method $(EMBED_METHOD) --device $(DEVICE) -o $(RB_OUT)/$$m.embedding.parquet \
  --plot $(RB_OUT)/$$m.$(EMBED_METHOD).png --quiet
robustness: $(STAMP)
	@mkdir -p $(RB_OUT)
	$(RB_TRAIN) -o $(RB_OUT)/clean.safetensors
	$(RB_TRAIN) --adv pixels+fgsm --pixels $(PIXELS) --eps $(EPS) --adv-ratio $(ADV_RATIO) \
	  -o $(RB_OUT)/adversarial.safetensors & job=$$!; \
	$(NNLAB) attack $(RB_OUT)/clean.safetensors --dataset $(DATASET) $(DATA_ARGS) --split test --attack pixels+fgsm \
	  --pixels $(PIXELS) --eps $(EPS) --device $(DEVICE) -o $(RB_OUT)/adversarial-test.safetensors; \
	rc=$$?; wait $$job && exit $$rc
	$(RB_TRAIN) --loss circle --circle-m 0.4 --circle-gamma 80 --knn $(KNN) -o $(RB_OUT)/circle.safetensors \
	  & job=$$!; m=clean; $(RB_STUDY); rc=$$?; wait $$job && exit $$rc
	m=adversarial; $(RB_STUDY) & job=$$!; m=circle; $(RB_STUDY); rc=$$?; wait $$job && exit $$rc
	$(NNLAB) attack --summarize clean=$(RB_OUT)/clean.clean-metrics.parquet,$(RB_OUT)/clean.adv-metrics.parquet \
	  --summarize adversarial=$(RB_OUT)/adversarial.clean-metrics.parquet,$(RB_OUT)/adversarial.adv-metrics.parquet \
	  --summarize circle=$(RB_OUT)/circle.clean-metrics.parquet,$(RB_OUT)/circle.adv-metrics.parquet \
	  -o $(RB_OUT)/summary.parquet

# ---------------------------------------------------------------- detect-demo: seed S1 part 2, R-CNN-style detection
# mnist5k backbone (the offline stand-in for ImageNet weights), alongside make-scenes and propose-regions (train
# split, labelled) → train the crop detector on proposals (mobilenet_v2 + seed head, --init backbone), alongside
# propose-regions on the test split (no ground truth added) → detect on the test split in crop mode, alongside
# fitting the align model (the detector's trunk frozen, its later blocks and head trained on roi_align features of
# an image pyramid) and detecting in align mode. Each step is one `nnlab` command; two run at a time.
# metrics.parquet holds ROI_MODE's AP table (one row per class + `all`), metrics-crop/-align.parquet both.
# FREEZE=features is the seed's recipe (frozen backbone, new head). A real VOC folder: see the README.
.PHONY: detect-demo
DD_OUT ?= artifacts/detect-demo
detect-demo: VOC = $(DD_OUT)/voc
detect-demo: SCENES = 300
detect-demo: SPLIT_TRAIN = trainval
detect-demo: SPLIT_TEST = test
detect-demo: CLASSES =
detect-demo: IMAGE_SIZE = 32
detect-demo: WIDTH = 0.35
detect-demo: ROI_MODE = crop
detect-demo: DEVICE = auto
detect-demo: THREADS = 1
detect-demo: BACKBONE_EPOCHS = 8
detect-demo: EPOCHS = 8
detect-demo: ALIGN_EPOCHS = 6
detect-demo: LOADER_WORKERS = 1
detect-demo: FREEZE =
detect-demo: BALANCE = undersample
detect-demo: SEARCH = --max-side 192 --max-per-image 500 --search-threads 2
detect-demo: SCORE = 0.01
detect-demo: NMS_IOU = 0.3
detect-demo: export OMP_NUM_THREADS = $(THREADS)
detect-demo: $(STAMP)
	@mkdir -p $(DD_OUT)
	$(NNLAB) train --model mobilenet_v2 --width $(WIDTH) --dataset mnist5k --image-size $(IMAGE_SIZE) \
	  --epochs $(BACKBONE_EPOCHS) --schedule cosine --optimizer adam --lr 5e-3 --weight-decay 0 --batch-size 64 \
	  --device $(DEVICE) -o $(DD_OUT)/backbone.safetensors --quiet & backbone=$$!; \
	{ if [ "$(VOC)" = "$(DD_OUT)/voc" ]; then $(NNLAB) make-scenes $(VOC) --count $(SCENES) --seed 0 --quiet; fi && \
	$(NNLAB) propose-regions $(VOC) --split $(SPLIT_TRAIN) $(SEARCH) $(if $(CLASSES),--classes $(CLASSES)) \
	  -o $(DD_OUT)/proposals.parquet --quiet; }; status=$$?; wait $$backbone && exit $$status
	$(NNLAB) propose-regions $(VOC) --split $(SPLIT_TEST) $(SEARCH) $(if $(CLASSES),--classes $(CLASSES)) --no-add-gt \
	  -o $(DD_OUT)/test-proposals.parquet --quiet & proposals=$$!; \
	$(NNLAB) train --model mobilenet_v2 --width $(WIDTH) --init $(DD_OUT)/backbone.safetensors \
	  $(foreach f,$(FREEZE),--freeze $(f)) --dataset proposals:$(DD_OUT)/proposals.parquet --image-size $(IMAGE_SIZE) \
	  --balance $(BALANCE) --epochs $(EPOCHS) --schedule cosine --optimizer adam --lr 3e-3 --weight-decay 0 \
	  --batch-size 64 --num-workers $(LOADER_WORKERS) --device $(DEVICE) -o $(DD_OUT)/detector.safetensors --quiet; \
	status=$$?; wait $$proposals && exit $$status
	$(NNLAB) detect $(DD_OUT)/detector.safetensors $(VOC) --split $(SPLIT_TEST) --roi-mode crop \
	  --proposals $(DD_OUT)/test-proposals.parquet --score $(SCORE) --nms-iou $(NMS_IOU) --device $(DEVICE) \
	  -o $(DD_OUT)/detections-crop.parquet --metrics $(DD_OUT)/metrics-crop.parquet --draw $(DD_OUT)/drawn-crop \
	  > $(DD_OUT)/detect-crop.log & crop=$$!; \
	$(NNLAB) train --roi-mode align --init $(DD_OUT)/detector.safetensors \
	  --dataset proposals:$(DD_OUT)/proposals.parquet --balance $(BALANCE) --epochs $(ALIGN_EPOCHS) --schedule cosine \
	  --optimizer adam --lr 2e-3 --weight-decay 0 --device $(DEVICE) -o $(DD_OUT)/detector-align.safetensors --quiet && \
	$(NNLAB) detect $(DD_OUT)/detector-align.safetensors $(VOC) --split $(SPLIT_TEST) --roi-mode align \
	  --proposals $(DD_OUT)/test-proposals.parquet --score $(SCORE) --nms-iou $(NMS_IOU) --device $(DEVICE) \
	  -o $(DD_OUT)/detections-align.parquet --metrics $(DD_OUT)/metrics-align.parquet > $(DD_OUT)/detect-align.log; \
	status=$$?; wait $$crop; crop_status=$$?; cat $(DD_OUT)/detect-crop.log $(DD_OUT)/detect-align.log; \
	[ $$crop_status = 0 ] && exit $$status
	cp $(DD_OUT)/metrics-$(ROI_MODE).parquet $(DD_OUT)/metrics.parquet
