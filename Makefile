# The two set-up commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-all venv install install-dev system-deps data browser bench clean

# A fresh Debian needs python3-venv for `python -m venv`; install it when missing (as root).
$(PY):
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  rm -rf $(VENV); \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq python3-venv python3.11-venv >/dev/null; \
	  fi; \
	  $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip setuptools

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Fashion-MNIST from Debian's dataset-fashion-mnist, when running as root on Debian and it is missing.
# Without it, layerlab looks in $$LAYERLAB_DATA and ~/.cache/layerlab, then downloads.
data:
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing dataset-fashion-mnist (Debian)"; \
	  (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null)) \
	   || echo "could not install dataset-fashion-mnist; tests that need it will say so and skip"; \
	fi

# Headless Chromium renders the HTML reports in the tests.
browser:
	@if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing chromium (Debian) for the report-rendering test"; \
	  (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	   (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) \
	   || echo "could not install chromium; the report-rendering test will say so and skip"; \
	fi

demo: install data
	$(VENV)/bin/layerlab demo

test: install-dev data browser
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n 2 -q

# everything, the slow reliability tests (soak, many kills) too
test-all: install-dev data browser
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n 2 -q -m "slow or not slow"

bench: install-dev
	$(VENV)/bin/layerlab bench --vs torch --vs numpy

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
