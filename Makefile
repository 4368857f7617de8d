# The two commands of the README. Each sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: demo test lint serve synth clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[training,demo]"
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(VENV)/.runtime

demo: $(VENV)/.runtime  ## the main job: walk boto3 through embedded Augury
	$(BIN)/python scripts/demo.py

test: $(VENV)/.dev  ## lint, then every test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q -n 2 --dist loadfile

serve: $(VENV)/.runtime
	$(BIN)/augury serve

synth: $(VENV)/.dev
	cd cdk && ../$(BIN)/python app.py

clean:
	rm -rf $(VENV) augury-data cdk/cdk.out
