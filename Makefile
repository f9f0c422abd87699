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
	@echo "make generalization domain shift colour digits → 8x8 digits, ResNet18 settings (seed S4)"
	@echo "Pipelines are file targets: a rerun resumes after the last finished artifact; JOBS=2 steps run at a time."
	@echo "PROFILE=seed plans a study in its seed's own setting (downloads, ImageNet weights: a GPU and a network)."
	@echo "Settings: THREADS, DEVICE, DATA_ARGS, and each study's prefixed variables in studies/NAME.mk."

# .venv is created when missing and re-installed when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile -e '.[dev]'
	@# byte-compile once, here: where PYTHONDONTWRITEBYTECODE is set (containers, CI, this machine) every one of a
	@# pipeline's processes would otherwise compile torch's sources again (import torch 4.7 s -> 1.9 s); a file that
	@# does not compile under this Python (torch ships 3.12-only test helpers) is skipped
	-@$(PY) -m compileall -q -q -j 0 $(VENV)/lib nnlab > /dev/null
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

# Shared settings of every study: THREADS OpenMP threads per step process (small convolutions gain little from a
# second thread, and thread barriers cost a lot on a busy machine; JOBS steps run side by side), the DEVICE, and
# DATA_ARGS passed to every step that reads a dataset (e.g. `--download --data-root DIR`). Everything else is a study
# variable named with its study's prefix (CV_, RB_, DD_, FB_, NS_, TS_, GS_), defined in studies/NAME.mk.
# PROFILE=offline (default) runs each study on built-in data on a CPU; PROFILE=seed plans the seed's own setting
# (CIFAR-10 / SVHN / MNIST fetched with --download, ImageNet weights with --pretrained, the seed's image size, epochs,
# batch size, optimizer and schedule) for a machine with a GPU and a network, under artifacts/seed/.
PROFILE ?= offline
ifeq ($(filter $(PROFILE),offline seed),)
$(error PROFILE is offline or seed, not '$(PROFILE)')
endif
THREADS ?= 1
DEVICE ?= auto
ifeq ($(PROFILE),seed)
DATA_ARGS ?= --download
endif
DATA_ARGS ?=

# Canned steps ($< is the model, $@ the output): $(call STEP,COMMAND ARGS) runs `nnlab COMMAND ARGS` on DEVICE into
# $@; $(call TRAIN,ARGS) trains a model with ARGS; $(call EVALUATE,ARGS) evaluates $< on ARGS' data;
# $(call EVALUATE_TEST,DATASET) evaluates $< on DATASET's test split.
define STEP
$(NNLAB) $(1) --device $(DEVICE) -o $@ --quiet
endef
TRAIN = $(call STEP,train $(1))
EVALUATE = $(call STEP,evaluate $< $(1))
EVALUATE_TEST = $(call EVALUATE,--dataset $(1) $(DATA_ARGS) --split test)

# One file per study (studies/NAME.mk): its variables, file targets and phony alias. Each adds its output folders to
# STUDY_OUTS, whose every step runs with THREADS OpenMP threads (the one place threads are set).
STUDIES := compress-vgg robustness detect-demo finetune-block norm-study transfer-study generalization
STUDY_OUTS :=
include $(foreach s,$(STUDIES),studies/$(s).mk)
$(addsuffix /%,$(STUDY_OUTS)): export OMP_NUM_THREADS = $(THREADS)
