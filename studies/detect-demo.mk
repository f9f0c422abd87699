# detect-demo: included by the top-level Makefile (shared settings and `make help` there).
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
