# Member-support assistant. Start with `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv/bin
RASA := .venv-rasa/bin/rasa
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: run test setup index train eval bench lint stories clean

## run: set up on first use, then start everything on embedded defaults
run: setup index
	$(VENV)/bot ask

## test: the whole test suite (what CI runs)
test: setup index
	$(VENV)/ruff check bot actions tests
	$(VENV)/pytest -q -p no:cacheprovider

## setup: both environments with exact pins (idempotent)
setup:
	@bash scripts/setup.sh

## index: build the passage index (skipped when nothing changed)
index: setup
	$(VENV)/bot index

## eval: retrieval evaluation -> reports/eval.md
eval: setup index
	$(VENV)/bot eval

## bench: latency benchmarks -> reports/bench.md
bench: setup index
	$(VENV)/bot bench

lint: setup
	$(VENV)/ruff check bot actions tests

clean:
	rm -rf index/*.faiss index/*.jsonl index/*.json index/*.npy models/ var/
