# Short targets, one meaning each. Every target builds the environment it needs first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
NOTEBOOK := explainability-and-bias.ipynb
# Jupyter refuses to start as root (containers, CI) unless told it may.
JUPYTER_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: system system-test install run test test-fast lint lab clean rise slides summary diagrams alert-rules present serve-env kserve-env review-env serve stop deploy undeploy bench-serving images s2i-context

install: $(VENV)/.installed  ## build .venv from requirements.txt

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==24.3.1
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

system:  ## the system packages the notebook needs (Prometheus), installed when missing (root on Debian)
	bash scripts/system_packages.sh

system-test:  ## the same for the tests, which also need Chromium and npm
	bash scripts/system_packages.sh --test

run: system install serve-env kserve-env  ## execute the notebook in place, top to bottom, with a progress bar
	$(BIN)/papermill $(NOTEBOOK) $(NOTEBOOK) --cwd . --progress-bar --request-save-on-cell-execute

# tests/fast/ runs in the serving environments (tests/conftest.py leaves it out of .venv's run).
FAST_TIMEOUT := 60

test-fast: serve-env kserve-env  ## about a minute: the serving core and both adapters in-process (tests/fast/), after each change
	$(SERVE_VENV)/bin/python -m pytest tests/fast --timeout=$(FAST_TIMEOUT)
	$(KSERVE_VENV)/bin/python -m pytest tests/fast/kserve --timeout=$(FAST_TIMEOUT)

test: system-test install serve-env kserve-env review-env node_modules/.installed test-fast  ## everything (test-fast first), before a push and in CI
	$(BIN)/python -m pytest

# Serving (pipeline/README.md): seldon-core needs its own environment, built from the steps' pins.
SERVE_VENV := .venv-serve
SERVE_REQUIREMENTS := $(wildcard pipeline/pipeline_steps/*/requirements.txt)
TEST_REQUIREMENTS := tests/requirements.txt
KUBECTL ?= kubectl

serve-env: $(SERVE_VENV)/.installed  ## build .venv-serve (seldon-core 1.17.1) from the steps' requirements

$(SERVE_VENV)/.installed: $(SERVE_REQUIREMENTS) $(TEST_REQUIREMENTS)
	test -x $(SERVE_VENV)/bin/python || $(PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/pip install --quiet --upgrade pip==24.3.1
	$(SERVE_VENV)/bin/pip install --quiet $(addprefix -r ,$(SERVE_REQUIREMENTS) $(TEST_REQUIREMENTS))
	touch $@

# KServe 0.15.2 (pipeline/loan_kserve/): its own environment, the web stack pinned exactly, plus the tests' pins.
KSERVE_VENV := .venv-kserve
KSERVE_REQUIREMENTS := pipeline/loan_kserve/requirements.txt pipeline/loan_kserve/requirements-test.txt

kserve-env: $(KSERVE_VENV)/.installed  ## build .venv-kserve (kserve 0.15.2) from pipeline/loan_kserve/requirements*.txt

$(KSERVE_VENV)/.installed: $(KSERVE_REQUIREMENTS)
	test -x $(KSERVE_VENV)/bin/python || $(PYTHON) -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/pip install --quiet --upgrade pip==24.3.1
	$(KSERVE_VENV)/bin/pip install --quiet $(addprefix -r ,$(KSERVE_REQUIREMENTS))
	touch $@

serve: system install serve-env $(if $(filter kserve,$(LOAN_STACK)),kserve-env)  ## start the model, explainer and review services on 127.0.0.1 (pids in .run/), and Prometheus
	$(BIN)/python -m tutorial.artefacts --if-missing
	LOAN_REVIEW_DB=sqlite:///$(CURDIR)/.run/review.db $(BIN)/python -m pipeline.local.serving start
	$(BIN)/python -m pipeline.local.review start
	$(BIN)/python -m pipeline.local.prometheus start

stop:  ## stop Prometheus and the services `make serve` started, by their pids (builds nothing)
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m pipeline.local.prometheus stop; \
	  $(BIN)/python -m pipeline.local.review stop; \
	  $(BIN)/python -m pipeline.local.serving stop; else echo "no $(VENV): nothing to stop"; fi

# The review service on PostgreSQL needs psycopg, which the Seldon environment does not hold: its own env.
REVIEW_VENV := .venv-review
REVIEW_REQUIREMENTS := pipeline/loan_review/requirements.txt pipeline/loan_review/requirements-postgres.txt

review-env: $(REVIEW_VENV)/.installed  ## build .venv-review (the review service with psycopg, for PostgreSQL)

$(REVIEW_VENV)/.installed: $(REVIEW_REQUIREMENTS)
	test -x $(REVIEW_VENV)/bin/python || $(PYTHON) -m venv $(REVIEW_VENV)
	$(REVIEW_VENV)/bin/pip install --quiet $(addprefix -r ,$(REVIEW_REQUIREMENTS))
	touch $@

deploy:  ## apply the SeldonDeployments to the current kubectl context (images built and pushed first)
	$(KUBECTL) apply -f pipeline/deploy/

undeploy:  ## delete them
	$(KUBECTL) delete --ignore-not-found -f pipeline/deploy/

# Images (pipeline/README.md): each wrapper with the loan_service and loan_reasons packages and its artefacts. docker builds
# from the pipeline/ context; s2i takes one folder, so s2i-context stages each step with the package.
IMAGE_TAG ?= 0.1.0
STEP_NAMES := loanclassifier loanclassifier-explainer
S2I_STAGE ?= .run/s2i

images:  ## build both images with docker from the pipeline/ context (artefacts exported by make run first)
	@for step in $(STEP_NAMES); do test -f pipeline/pipeline_steps/$$step/artefacts/manifest.json || \
	  { echo "pipeline/pipeline_steps/$$step/artefacts/ is missing: make run (or make serve) exports it"; exit 1; }; done
	for step in $(STEP_NAMES); do \
	  docker build -f pipeline/pipeline_steps/$$step/Dockerfile -t $$step:$(IMAGE_TAG) pipeline/ || exit 1; done

s2i-context:  ## stage each step with the loan_service and loan_reasons packages under $(S2I_STAGE)/<step>, the folder s2i builds
	for step in $(STEP_NAMES); do rm -rf $(S2I_STAGE)/$$step && mkdir -p $(S2I_STAGE)/$$step && \
	  tar -C pipeline --exclude=__pycache__ -cf - loan_service loan_reasons | tar -C $(S2I_STAGE)/$$step -xf - && \
	  tar -C pipeline/pipeline_steps/$$step --exclude=__pycache__ --exclude='Dockerfile*' -cf - . | \
	  tar -C $(S2I_STAGE)/$$step -xf - || exit 1; done

bench-serving: install serve-env kserve-env  ## REST against in-process, audit-log cost, counts under load, probe latency
	$(BIN)/python scripts/bench_serving.py

lint: install  ## ruff over the code and the notebook
	$(BIN)/ruff check .

lab: install  ## JupyterLab on the notebook
	$(BIN)/jupyter lab $(JUPYTER_ROOT) $(NOTEBOOK)

# --- The talk: slides, README summary, diagrams (talk/slides.py, summary.py, diagrams.py) ---
node_modules/.installed: package.json package-lock.json  ## reveal.js from the npm registry, as the lock pins it
	npm ci --no-audit --no-fund
	touch $@

rise: install  ## set the notebook's RISE metadata (theme, transition, scroll, start at the first slide)
	$(BIN)/python -m talk.slides rise

slides: install node_modules/.installed  ## index.html: the executed notebook as a deck that presents offline
	$(BIN)/python -m talk.slides build

summary: install  ## the README's summary section and images/summary/ from the executed notebook
	$(BIN)/python -m talk.summary

diagrams: install  ## our diagrams (images/workflow.png, images/explainer-deployment.png)
	$(BIN)/python -m tutorial.diagrams

alert-rules: install  ## size the groups' alert bands into the rules file, then regenerate prometheusrule.yaml
	$(BIN)/python -m tutorial.alert_sizing
	$(BIN)/python -m pipeline.local.prometheus render-manifest

present: install  ## JupyterLab with RISE: in the notebook press Alt+R to start the slideshow
	@echo "Slideshow: Alt+R in the notebook, or open /rise/$(NOTEBOOK) on the server below."
	$(BIN)/jupyter lab $(JUPYTER_ROOT) $(NOTEBOOK)

clean:  ## remove generated artefacts (not the environments)
	rm -rf pipeline/pipeline_steps/*/artefacts .pytest_cache
