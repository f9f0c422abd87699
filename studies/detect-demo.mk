# ---------------------------------------------------------------- detect-demo: seed S1 part 2, R-CNN-style detection
# mnist5k backbone (the offline stand-in for ImageNet weights), make-scenes and propose-regions (train split,
# labelled) → the crop detector trained on proposals (mobilenet_v2 + seed head, --init backbone); propose-regions on
# the test split (no ground truth added) → detect on the test split in crop mode; the align model (the detector's
# trunk frozen, its later blocks and head trained on roi_align features of an image pyramid) → detect in align mode.
# Each step is one `nnlab` command; two run at a time (JOBS), each on one thread (THREADS).
# metrics.parquet holds DD_ROI_MODE's AP table (one row per class + `all`), metrics-crop/-align.parquet both.
# DD_FREEZE=features is the seed's recipe (frozen backbone, new head). A real VOC folder: see the README.
.PHONY: detect-demo
ifeq ($(PROFILE),seed)
# seed S1 part 2: your Pascal VOC folder DD_VOC (the seed's Asirra cats and dogs; nnlab cannot download it), class
# cat; ImageNet MobileNetV2 (no backbone step) with `features` frozen and the seed's head at 224 px; Adam 5e-3,
# StepLR(3, 0.3), 10 epochs, batch 32, a 70/30 train/val split
DD_OUT ?= artifacts/seed/detect-demo
DD_CLASSES ?= cat
DD_IMAGE_SIZE ?= 224
DD_WIDTH ?= 1
DD_START ?= pretrained
DD_FREEZE ?= features
DD_EPOCHS ?= 10
DD_RECIPE ?= --schedule step --step-size 3 --gamma 0.3 --optimizer adam --lr 5e-3 --weight-decay 0 --batch-size 32 \
  --val-fraction 0.3
endif
DD_OUT ?= artifacts/detect-demo
DD_VOC ?= $(DD_OUT)/voc
DD_SPLIT_TRAIN ?= trainval
DD_SPLIT_TEST ?= test
DD_SCENES ?= 300
DD_CLASSES ?=
DD_IMAGE_SIZE ?= 32
DD_WIDTH ?= 0.35
DD_ROI_MODE ?= crop
DD_BACKBONE_EPOCHS ?= 8
DD_EPOCHS ?= 8
DD_ALIGN_EPOCHS ?= 6
DD_LOADER_WORKERS ?= 1
DD_FREEZE ?=
# where the detector starts: `source` (a backbone first trained on mnist5k here) or `pretrained` (ImageNet weights)
DD_START ?= source
DD_RECIPE ?= --schedule cosine --optimizer adam --lr 3e-3 --weight-decay 0 --batch-size 64
DD_BALANCE ?= undersample
DD_SEARCH ?= --max-side 192 --max-per-image 500 --search-threads 2
DD_SCORE ?= 0.01
DD_NMS_IOU ?= 0.3
STUDY_OUTS += $(DD_OUT) $(DD_VOC)
# the folder's last file: make-scenes writes trainval.txt after everything else; a real VOC folder has it already
DD_SCENES_DONE := $(DD_VOC)/ImageSets/Main/trainval.txt
DD_PROPOSE = $(NNLAB) propose-regions $(DD_VOC) $(DD_SEARCH) $(if $(DD_CLASSES),--classes $(DD_CLASSES))
DD_DETECT = $(NNLAB) detect $< $(DD_VOC) --split $(DD_SPLIT_TEST) --proposals $(DD_OUT)/test-proposals.parquet \
  --score $(DD_SCORE) --nms-iou $(DD_NMS_IOU) --device $(DEVICE)

detect-demo: | $(STAMP)
	+@$(SUBMAKE) $(DD_OUT)/metrics.parquet

$(DD_OUT)/backbone.safetensors: | $(STAMP)
	$(call TRAIN,--model mobilenet_v2 --width $(DD_WIDTH) --dataset mnist5k --image-size $(DD_IMAGE_SIZE) \
	  --epochs $(DD_BACKBONE_EPOCHS) --schedule cosine --optimizer adam --lr 5e-3 --weight-decay 0 --batch-size 64)

$(DD_SCENES_DONE): | $(STAMP)
ifeq ($(PROFILE),seed)
	@echo "detect-demo PROFILE=seed reads a Pascal VOC folder: give DD_VOC=FOLDER (no $@ there)" >&2; exit 1
else
	$(NNLAB) make-scenes $(DD_VOC) --count $(DD_SCENES) --seed 0 --quiet
endif

$(DD_OUT)/proposals.parquet: $(DD_SCENES_DONE)
	$(DD_PROPOSE) --split $(DD_SPLIT_TRAIN) -o $@ --quiet

$(DD_OUT)/test-proposals.parquet: $(DD_SCENES_DONE)
	$(DD_PROPOSE) --split $(DD_SPLIT_TEST) --no-add-gt -o $@ --quiet

DD_FROM_SOURCE = $(filter source,$(DD_START))
$(DD_OUT)/detector.safetensors: $(if $(DD_FROM_SOURCE),$(DD_OUT)/backbone.safetensors) $(DD_OUT)/proposals.parquet
	$(call TRAIN,--model mobilenet_v2 --width $(DD_WIDTH) \
	  $(if $(DD_FROM_SOURCE),--init $(DD_OUT)/backbone.safetensors,--pretrained) $(foreach f,$(DD_FREEZE),--freeze $(f)) \
	  --dataset proposals:$(DD_OUT)/proposals.parquet --image-size $(DD_IMAGE_SIZE) --balance $(DD_BALANCE) \
	  --epochs $(DD_EPOCHS) $(DD_RECIPE) --num-workers $(DD_LOADER_WORKERS))

$(DD_OUT)/detector-align.safetensors: $(DD_OUT)/detector.safetensors $(DD_OUT)/proposals.parquet
	$(call TRAIN,--roi-mode align --init $< --dataset proposals:$(DD_OUT)/proposals.parquet --balance $(DD_BALANCE) \
	  --epochs $(DD_ALIGN_EPOCHS) --schedule cosine --optimizer adam --lr 2e-3 --weight-decay 0)

$(DD_OUT)/metrics-crop.parquet: $(DD_OUT)/detector.safetensors $(DD_OUT)/test-proposals.parquet
	$(DD_DETECT) --roi-mode crop -o $(DD_OUT)/detections-crop.parquet --metrics $@ --draw $(DD_OUT)/drawn-crop

$(DD_OUT)/metrics-align.parquet: $(DD_OUT)/detector-align.safetensors $(DD_OUT)/test-proposals.parquet
	$(DD_DETECT) --roi-mode align -o $(DD_OUT)/detections-align.parquet --metrics $@

$(DD_OUT)/metrics.parquet: $(DD_OUT)/metrics-crop.parquet $(DD_OUT)/metrics-align.parquet
	cp $(DD_OUT)/metrics-$(DD_ROI_MODE).parquet $@
