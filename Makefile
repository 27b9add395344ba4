# livewatch: two commands on a fresh Debian/Ubuntu machine.
#   make demo   set everything up, then run `livewatch demo`
#   make test   set everything up (plus what the tests need), then lint, type check and the whole suite
# Both are idempotent: stamps in .venv/ skip work already done; they redo it when pyproject.toml changes.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.livewatch-stamp
# The CPU build of torch, installed before anything that depends on torch (openai-whisper), so pip never
# resolves a CUDA build. Elsewhere: make TORCH_SPEC=torch==2.13.0 TORCH_PIP_ARGS="--index-url <cpu index>".
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

# System packages: ffmpeg records, espeak-ng speaks test audio, fonts-noto-cjk draws the demo's Chinese picture;
# the tests also drive Debian's chromium and use the human speech recordings that alsa-utils ships, and nginx with
# the RTMP module as a real live origin, and PostgreSQL and RabbitMQ for the distributed mode.
DEMO_APT := ffmpeg espeak-ng fonts-noto-cjk
TEST_APT := $(DEMO_APT) chromium alsa-utils nginx-light libnginx-mod-rtmp postgresql rabbitmq-server

.PHONY: help demo test lint typecheck pytest system-demo system-test clean

help:
	@echo "make demo   install everything needed and run the livewatch demo"
	@echo "make test   install everything needed, then ruff, mypy and the test suite"

demo: system-demo $(STAMP)-demo
	$(BIN)/livewatch demo

test: system-test $(STAMP)-test
	$(MAKE) --no-print-directory lint typecheck pytest

lint:
	$(BIN)/ruff check .

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest

# Installs what is missing when root; otherwise prints the exact command and stops.
define ensure_apt
	@missing=""; \
	for pkg in $(1); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if ! $(PYTHON) -c "import ensurepip, venv" 2>/dev/null; then missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing"; \
	    echo "run:  sudo apt-get update && sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi
endef

system-demo:
	$(call ensure_apt,$(DEMO_APT))

system-test:
	$(call ensure_apt,$(TEST_APT))

$(STAMP)-base: pyproject.toml
	@test -n "$(PYTHON)" || { echo "python3 not found: sudo apt-get install -y python3 python3-venv"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "livewatch needs Python 3.11 or newer"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -c 'import torch; print("torch", torch.__version__)' > $(VENV)/torch-version.txt
	@cat $(VENV)/torch-version.txt
	@# Pin the torch just installed, so nothing below can swap it for another build.
	$(BIN)/python -c 'import torch; print("torch==" + torch.__version__)' > $(VENV)/torch-constraint.txt
	touch $@

$(STAMP)-demo: $(STAMP)-base
	$(PIP) install -c $(VENV)/torch-constraint.txt -e '.[model,speech]'
	touch $@

$(STAMP)-test: $(STAMP)-base
	$(PIP) install -c $(VENV)/torch-constraint.txt -e '.[model,test]'
	touch $@

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache
