# augsweep: every target sets itself up (a .venv with the project installed) on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
UI_PORT ?= 5000
SERVER_PORT ?= 5000
SERVER_STORE ?= $(CURDIR)/mlruns
SERVER_BACKEND ?= sqlite:///$(SERVER_STORE)/mlflow.db
SERVER_WORKERS ?= 2
SERVER_ARGS ?=

.PHONY: sweep run test test-fast mutation lint format ui server bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "augsweep needs Python >= 3.10, found " + sys.version'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

## The default study: three augmentation policies on digits, 5 seeds each, then the report
## (means with 95% intervals, each policy against `none` seed by seed: report.html).
sweep: $(STAMP)
	$(PY) train.py -m augment=none,flip,flip_rot_zoom 'seed=range(5)'

## One run with the defaults (add Hydra overrides with ARGS="augment=flip trainer.epochs=5").
run: $(STAMP)
	$(PY) train.py $(ARGS)

## The whole test suite (CI runs this). Four workers on two cores: many tests wait on
## subprocesses and servers (TensorFlow starting, a server stopped for 60 s), not on the CPU;
## idle workers take queued tests from busy ones (worksteal), which evens out the load.
test: $(STAMP)
	$(PY) -m pytest -n 4 --dist worksteal

## The quick tests only.
test-fast: $(STAMP)
	$(PY) -m pytest -n 4 --dist worksteal -m "not slow"

## Mutation testing of the pure core (mutmut; [tool.mutmut] in pyproject.toml): each mutant
## of run_key, checks, stats, relaunch and resources against the unit tests that call the
## mutated function; then the score per module. Slow: not part of `make test` (docs/mutation.md).
mutation: $(STAMP)
	$(PY) -m mutmut run --max-children $(or $(MUTATION_JOBS),2)
	$(PY) scripts/mutation_score.py mutants

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## The MLflow UI on this project's store, on 127.0.0.1 only.
ui: $(STAMP)
	@mkdir -p mlruns
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db \
		--host 127.0.0.1 --port $(UI_PORT)

## An MLflow tracking server (and its UI) on 127.0.0.1:$(SERVER_PORT) over this project's
## store, artifacts served: `tracking=server` logs through it. SERVER_BACKEND=postgresql://...
## for a team's database (README: A tracking server); SERVER_ARGS adds options
## (`--app-name basic-auth`, `--allowed-hosts ...`: README, A tracking server). Its job
## runner (GenAI evaluation jobs) is off: augsweep has none, and it starts ~10 processes.
server: $(STAMP)
	@mkdir -p $(SERVER_STORE)/artifacts
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(VENV)/bin/mlflow server \
		--backend-store-uri $(SERVER_BACKEND) \
		--serve-artifacts --artifacts-destination $(SERVER_STORE)/artifacts \
		--host 127.0.0.1 --port $(SERVER_PORT) --workers $(SERVER_WORKERS) $(SERVER_ARGS)

## Framework overhead vs a bare Keras script, and augmentation throughput (scripts/bench.py).
bench: $(STAMP)
	$(PY) scripts/bench.py

clean:
	rm -rf outputs multirun reports mutants .pytest_cache .ruff_cache
