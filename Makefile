# Two entry points for a fresh machine: `make run` (the service) and `make test` (everything CI checks).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test test-fast lint typecheck audit-deps data-check baselines train bench loadtest clean

$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	# The CPU wheel of torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -r requirements.lock
	# requirements.lock pins every extra (train, serve, dev), so the project itself needs no resolving.
	$(BIN)/python -m pip install --quiet --no-deps -e ".[train,serve,ray,dev]"
	touch $@

# The ONNX graph of the shipped model (derived from its safetensors, never committed): `make run`
# and `surveilrisk classify` use it; without it they fall back to torch and say so in the log.
models/shipped/model.onnx: $(BIN)/.installed models/shipped/artifact.json models/shipped/weights.safetensors
	$(BIN)/surveilrisk export-onnx

install: $(BIN)/.installed models/shipped/model.onnx

run: install
	$(BIN)/surveilrisk serve

lint: install
	$(BIN)/ruff check classifier training serving surveilrisk tests
	$(BIN)/ruff format --check classifier training serving surveilrisk tests
	$(BIN)/lint-imports --no-cache

typecheck: install
	$(BIN)/mypy

# Known-vulnerable pins (pip-audit against the PyPI advisory database); offline it reports that
# nothing was checked and does not fail.
audit-deps: install
	$(BIN)/python .ci/audit_deps.py

# Everything, slow and browser tests included: this is what CI runs.
test: lint typecheck audit-deps
	$(BIN)/python -m pytest

# Quick loop while developing: skips tests marked slow.
test-fast: install
	$(BIN)/python -m pytest -m "not slow"

data-check: install
	$(BIN)/surveilrisk data check

baselines: install
	$(BIN)/surveilrisk evaluate --model keyword --split test --out runs/baselines/keyword
	$(BIN)/surveilrisk evaluate --model tfidf --split test --out runs/baselines/tfidf

# The shipped model: two seeds of shipped.yaml, weight-averaged, calibrated and published
# (about 75 minutes on 2 cores). Without data/real/texts the runs are corpus-only and say so.
train: install
	$(BIN)/surveilrisk train --config training/configs/shipped.yaml --seed 13 --output-dir runs/shipped-s13
	$(BIN)/surveilrisk train --config training/configs/shipped.yaml --seed 17 --output-dir runs/shipped-s17
	$(BIN)/python -m training.soup runs/shipped-s13/artifact runs/shipped-s17/artifact \
		--config training/configs/shipped.yaml --out runs/shipped --publish

bench: install
	$(BIN)/surveilrisk bench --profile

loadtest: install
	$(BIN)/surveilrisk loadtest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
