# robustness: included by the top-level Makefile (shared settings and `make help` there).
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
