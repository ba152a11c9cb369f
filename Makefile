# reLove Communication Bot — the two commands: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py

.PHONY: run test install lint check chat bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

## Set up everything (venv, dependencies, database, demo data, admin account) and start the product.
run: install
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MANAGE) seed_demo
	$(MANAGE) ensure_admin
	$(BIN)/honcho --procfile Procfile.dev start

## Run the whole test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set, else SQLite),
## in two processes (each with its own test database, Redis database and archive folder).
TEST_WORKERS ?= 2
test: install
	$(BIN)/pytest --create-db -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

check: install
	$(MANAGE) check
	$(MANAGE) makemigrations --check --dry-run

## Talk to Natasha in the terminal (no Telegram needed).
chat: install
	$(MANAGE) migrate --noinput --verbosity 0
	$(MANAGE) chat

clean:
	rm -rf $(VENV) var/static var/celery
