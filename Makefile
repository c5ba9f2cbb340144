# Short targets, one meaning each. Every target builds the environment it needs first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
NOTEBOOK := explainability-and-bias.ipynb

.PHONY: install run test lint lab clean rise slides summary diagrams present

install: $(VENV)/.installed  ## build .venv from requirements.txt

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==24.3.1
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

run: install  ## execute the notebook in place, top to bottom, with a progress bar
	$(BIN)/papermill $(NOTEBOOK) $(NOTEBOOK) --cwd . --progress-bar --request-save-on-cell-execute

test: install node_modules/.installed  ## unit tests, the fast-mode notebook run and the other checks
	$(BIN)/python -m pytest

lint: install  ## ruff over the code and the notebook
	$(BIN)/ruff check .

lab: install  ## JupyterLab on the notebook
	$(BIN)/jupyter lab $(NOTEBOOK)

# --- The talk: slides, README summary, diagrams (tutorial/slides.py, summary.py, diagrams.py) ---
node_modules/.installed: package.json package-lock.json  ## reveal.js from the npm registry, as the lock pins it
	npm ci --no-audit --no-fund
	touch $@

rise: install  ## set the notebook's RISE metadata (theme, transition, scroll, start at the first slide)
	$(BIN)/python -m tutorial.slides rise

slides: install node_modules/.installed  ## index.html: the executed notebook as a deck that presents offline
	$(BIN)/python -m tutorial.slides build

summary: install  ## the README's summary section and images/summary/ from the executed notebook
	$(BIN)/python -m tutorial.summary

diagrams: install  ## our diagrams (images/workflow.png, images/explainer-deployment.png)
	$(BIN)/python -m tutorial.diagrams

present: install  ## JupyterLab with RISE: in the notebook press Alt+R to start the slideshow
	@echo "Slideshow: Alt+R in the notebook, or open /rise/$(NOTEBOOK) on the server below."
	$(BIN)/jupyter lab --allow-root $(NOTEBOOK)

clean:  ## remove generated artefacts (not the environments)
	rm -rf pipeline/pipeline_steps/*/artefacts .pytest_cache
