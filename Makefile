# make run: the reference host app on SQLite with a demo district, at http://127.0.0.1:5000
# make test: the whole suite (PostgreSQL and Redis on 127.0.0.1 are used for real)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STUDENTS ?= 8000
export AL_ROSTER_INSTANCE_PATH := $(CURDIR)/instance

.PHONY: run test install demo bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/al-roster db upgrade
	$(BIN)/al-roster demo --students $(DEMO_STUDENTS)

run: demo
	AL_ROSTER_DEV_LOGIN=1 $(BIN)/flask --app plugin:create_app run --debug --host 127.0.0.1 --port 5000

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/sync.py --sizes 2000,10000 --databases sqlite,postgresql

lint: install
	$(BIN)/ruff check al_roster plugin.py tests benchmarks migrations

clean:
	rm -rf $(VENV) instance .pytest_cache
