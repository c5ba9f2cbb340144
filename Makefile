# Short targets, one meaning each. Every target builds the environment it needs first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
NOTEBOOK := explainability-and-bias.ipynb

.PHONY: install run test lint lab clean

install: $(VENV)/.installed  ## build .venv from requirements.txt

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==24.3.1
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

run: install  ## execute the notebook in place, top to bottom, with a progress bar
	$(BIN)/papermill $(NOTEBOOK) $(NOTEBOOK) --cwd . --progress-bar --request-save-on-cell-execute

test: install  ## unit tests, the fast-mode notebook run and the other checks
	$(BIN)/python -m pytest

lint: install  ## ruff over the code and the notebook
	$(BIN)/ruff check .

lab: install  ## JupyterLab on the notebook
	$(BIN)/jupyter lab $(NOTEBOOK)

clean:  ## remove generated artefacts (not the environments)
	rm -rf pipeline/pipeline_steps/*/artefacts .pytest_cache
