# The project's commands. Their names are a contract used by CI, the README and our checks.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Settings for `make run` / `make chat` may live in .env (see .env.example).
ifneq (,$(wildcard .env))
include .env
export $(shell sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' .env)
endif

VENV := .venv/bin
# Rasa and its pinned libraries warn about their own deprecations at every start: not ours to fix.
RASA := PYTHONPATH=$(CURDIR) RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 \
	SQLALCHEMY_SILENCE_UBER_WARNING=1 PYTHONWARNINGS=ignore .venv-rasa/bin
NLU_INPUTS := config.yml $(shell find nlu_data -name '*.yml' 2>/dev/null) nlu/components.py nlu/train.py \
	bot/nlu/normalize.py bot/nlu/intents.py

.PHONY: help setup train test check lint types content-check pytest chat run eval \
	bench-nlu bench-bot extract update clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: .venv/.setup-done  ## build .venv (assistant) and .venv-rasa (NLU) from the lock files

.venv/.setup-done: scripts/setup.sh uv.lock pyproject.toml nlu/constraints.txt
	bash scripts/setup.sh
	touch $@

train: models/.trained  ## train the NLU model into models/ (skipped when nothing changed)

models/.trained: $(NLU_INPUTS) | .venv/.setup-done
	$(RASA)/python -m nlu.train --out models
	ls -t models/*.tar.gz | tail -n +4 | xargs -r rm --
	touch $@

test: check pytest  ## lint, types, content check and the whole test suite

check: lint types content-check  ## ruff, mypy and the content check

lint: | .venv/.setup-done
	$(VENV)/ruff check bot tests benchmarks nlu
	$(VENV)/ruff format --check bot tests benchmarks nlu

types: | .venv/.setup-done
	$(VENV)/mypy

content-check: | .venv/.setup-done  ## check the answer catalogs (what CI runs)
	$(VENV)/bot content check

pytest: models/.trained
	$(VENV)/pytest -q

# The terminal twin serves draft answers (a developer reads them, not a user) and keeps its
# own database, apart from `make run`'s var/assistant.db.
# `make chat` keeps its own database (example slots, test bookings), apart from `make run`'s
# DATABASE_PATH, even when .env sets that one.
CHAT_DATABASE_PATH ?= var/dev.db
chat: models/.trained  ## talk to the assistant in this terminal (drafts shown; database var/dev.db)
	SERVE_DRAFT_ANSWERS=1 DATABASE_PATH=$(CHAT_DATABASE_PATH) $(VENV)/bot chat

run: models/.trained  ## serve the assistant on Telegram (TELEGRAM_BOT_TOKEN; reviewed answers only)
	$(VENV)/bot run

# EVAL_ARGS="--with-default" also trains Rasa's default pipeline (about 2 hours on 2 cores).
eval: models/.trained  ## our accuracy per language on both splits, beside Rasa's default as recorded
	$(RASA)/python -m nlu.evaluate --split heldout $(EVAL_ARGS)
	$(RASA)/python -m nlu.evaluate --split test $(EVAL_ARGS)

bench-nlu: models/.trained  ## NLU latency, concurrency, memory, start-up and training time
	$(VENV)/python -m benchmarks.nlu

bench-bot: models/.trained  ## simulated Telegram users through the fake Bot API; 200 people booking 100 places; live conversations through one staff group
	$(VENV)/python -m benchmarks.bot
	$(VENV)/python -m benchmarks.booking
	$(VENV)/python -m benchmarks.handoff

extract: | .venv/.setup-done  ## extract interface strings into locales/messages.pot
	$(VENV)/bot content extract

update: extract  ## merge new interface strings into every language's messages.po
	$(VENV)/bot content update

clean:  ## remove environments, models and reports
	rm -rf .venv .venv-rasa .tools models reports var
