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
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m compileall -q nnlab

clean-artifacts:
	find artifacts -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
