# ---------------------------------------------------------------- robustness: seed S4, attacks and defences
# one shared pretraining (ResNet18 on RB_PRETRAIN_DATASET, the offline stand-in for the seed's ImageNet weights) →
# the clean model, the adversarially trained model and the circle-loss model with 3-NN, each fine-tuned on RB_DATASET
# from it (--init, as the seed fine-tuned all three from one ImageNet ResNet18) → pixels+fgsm test set (attack on the
# clean model) → each model evaluated on the clean and on the adversarial test set, and embedded (UMAP) →
# summary.parquet (`nnlab summarize`: model, clean_acc, adv_acc, success_rate — among the test images a model
# classifies correctly, the share the attack makes wrong: the clean model's white-box rate, the other two models'
# transfer rate — and the seed's seed_clean_acc, seed_adv_acc).
# Defaults: built-in digits → mnist5k at 28×28, ResNet18 at width 1/4, a few minutes on an idle 2-core CPU.
# The seed's setting (CIFAR-10, ImageNet weights, width 1, 224×224, eps 8/255) on a GPU: see the README, "Robustness".
.PHONY: robustness
ifeq ($(PROFILE),seed)
# seed S4: ImageNet ResNet18 fine-tuned on CIFAR-10 at 224 px, 40k/10k split, batch 128, 25 epochs, 20 white pixels
# then FGSM with eps 8/255 (the seed states no optimizer here: SGD 1e-3 momentum 0.9, its generalization recipe)
RB_OUT ?= artifacts/seed/robustness
RB_DATASET ?= cifar10
RB_IMAGE_SIZE ?= 224
RB_WIDTH ?= 1
RB_EPOCHS ?= 25
RB_EPS ?= 8/255
RB_TRAIN_ARGS ?= --pretrained --optimizer sgd --lr 1e-3 --momentum 0.9 --batch-size 128 --val-fraction 0.2
endif
RB_OUT ?= artifacts/robustness
RB_MODELS := clean adversarial circle
RB_DATASET ?= mnist5k
RB_MODEL ?= resnet18
RB_IMAGE_SIZE ?= 28
RB_WIDTH ?= 0.25
RB_PRETRAIN_DATASET ?= digits
RB_PRETRAIN_EPOCHS ?= 8
RB_PRETRAIN_ARGS ?= --optimizer adam --lr 2e-3
# the three models' start: the shared pretraining (RB_INIT= trains each from scratch instead)
RB_INIT ?= --init $(RB_OUT)/pretrain.safetensors
RB_EPOCHS ?= 4
RB_EPS ?= 0.1
RB_PIXELS ?= 20
RB_ADV_RATIO ?= 0.5
RB_KNN ?= 3
RB_EMBED_METHOD ?= umap
RB_TRAIN_ARGS ?= --optimizer sgd --lr 1e-2 --momentum 0.9
STUDY_OUTS += $(RB_OUT)
# $(call RB_TRAIN,ARGS): one of the three models, ARGS its own options
RB_TRAIN = $(call TRAIN,--model $(RB_MODEL) --width $(RB_WIDTH) --dataset $(RB_DATASET) $(DATA_ARGS) \
  --image-size $(RB_IMAGE_SIZE) --epochs $(RB_EPOCHS) $(RB_INIT) $(RB_TRAIN_ARGS) $(1))
RB_ADVERSARIAL := $(RB_OUT)/adversarial-test.safetensors

robustness: | $(STAMP)
	+@$(SUBMAKE) $(RB_OUT)/summary.parquet

$(RB_OUT)/pretrain.safetensors: | $(STAMP)
	$(call TRAIN,--model $(RB_MODEL) --width $(RB_WIDTH) --dataset $(RB_PRETRAIN_DATASET) $(DATA_ARGS) \
	  --image-size $(RB_IMAGE_SIZE) --epochs $(RB_PRETRAIN_EPOCHS) $(RB_PRETRAIN_ARGS))

$(foreach m,$(RB_MODELS),$(RB_OUT)/$(m).safetensors): \
  $(if $(findstring pretrain.safetensors,$(RB_INIT)),$(RB_OUT)/pretrain.safetensors)

$(RB_OUT)/clean.safetensors: | $(STAMP)
	$(call RB_TRAIN)

$(RB_OUT)/adversarial.safetensors: | $(STAMP)
	$(call RB_TRAIN,--adv pixels+fgsm --pixels $(RB_PIXELS) --eps $(RB_EPS) --adv-ratio $(RB_ADV_RATIO))

$(RB_OUT)/circle.safetensors: | $(STAMP)
	$(call RB_TRAIN,--loss circle --circle-m 0.4 --circle-gamma 80 --knn $(RB_KNN))

$(RB_ADVERSARIAL): $(RB_OUT)/clean.safetensors
	$(NNLAB) attack $< --dataset $(RB_DATASET) $(DATA_ARGS) --split test --attack pixels+fgsm --pixels $(RB_PIXELS) \
	  --eps $(RB_EPS) --device $(DEVICE) -o $@

$(RB_OUT)/%.clean-metrics.parquet: $(RB_OUT)/%.safetensors
	$(call EVALUATE_TEST,$(RB_DATASET))

$(RB_OUT)/%.adv-metrics.parquet: $(RB_OUT)/%.safetensors $(RB_ADVERSARIAL)
	$(call EVALUATE,--adversarial $(RB_ADVERSARIAL) $(DATA_ARGS))

$(RB_OUT)/%.embedding.parquet: $(RB_OUT)/%.safetensors $(RB_ADVERSARIAL)
	$(NNLAB) embed $< --adversarial $(RB_ADVERSARIAL) $(DATA_ARGS) --method $(RB_EMBED_METHOD) \
	  --device $(DEVICE) -o $@ --plot $(RB_OUT)/$*.$(RB_EMBED_METHOD).png --quiet

$(RB_OUT)/summary.parquet: $(foreach m,$(RB_MODELS),$(RB_OUT)/$(m).clean-metrics.parquet \
  $(RB_OUT)/$(m).adv-metrics.parquet $(RB_OUT)/$(m).embedding.parquet)
	$(NNLAB) summarize $(foreach m,$(RB_MODELS),$(m).clean_acc=$(RB_OUT)/$(m).clean-metrics.parquet \
	  $(m).adv_acc=$(RB_OUT)/$(m).adv-metrics.parquet $(m).success_rate=$(RB_OUT)/$(m).adv-metrics.parquet$(H)success_rate) \
	  --reference s4-robustness --title "robustness (seed S4)" -o $@
