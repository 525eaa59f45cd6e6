# Member-support assistant. Start with `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv/bin
RASA := .venv-rasa/bin/rasa
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: run test setup index train validate eval bench lint stories ask clean

## run: set up on first use, then start the action server, Rasa and the web app
run: setup index train
	@bash scripts/run.sh

## test: the whole test suite (what CI runs)
test: setup index train
	$(VENV)/ruff check bot actions tests
	@mkdir -p var
	$(RASA) data validate --fail-on-warnings > var/validate.log 2>&1 || (tail -30 var/validate.log; exit 1)
	@echo "rasa data validate: no warnings"
	$(RASA) test core --stories tests/test_stories.yml --model models/assistant.tar.gz \
		--fail-on-prediction-errors --out var/rasa-core-test > var/rasa-core-test.log 2>&1 \
		|| (tail -40 var/rasa-core-test.log; exit 1)
	@echo "rasa test core: all test stories predicted correctly"
	$(VENV)/pytest -q -p no:cacheprovider --durations=15

## train: train the Rasa model (Rasa skips it when data and config are unchanged)
train: setup
	@mkdir -p var
	$(RASA) train --out models --fixed-model-name assistant > var/train.log 2>&1 || (tail -40 var/train.log; exit 1)
	@tail -1 var/train.log

## stories: replay tests/stories against a freshly started live stack -> reports/stories.md
stories: setup index train
	$(VENV)/python -m bot.evaluation.stories

## ask: interactive question prompt on the retriever alone
ask: setup index
	$(VENV)/bot ask

## setup: both environments with exact pins (idempotent)
setup:
	@bash scripts/setup.sh

## index: build the passage index (skipped when nothing changed)
index: setup
	$(VENV)/bot index

## eval: retrieval evaluation -> reports/eval.md
eval: setup index train
	$(VENV)/bot eval
	@bash scripts/nlu_eval.sh

## bench: latency benchmarks -> reports/bench.md; live hand-off under load -> reports/bench-live.md
bench: setup index train
	$(VENV)/bot bench --e2e
	$(VENV)/bot bench --live

lint: setup
	$(VENV)/ruff check bot actions tests

clean:
	rm -rf index/*.faiss index/*.jsonl index/*.json index/*.npy models/ var/
