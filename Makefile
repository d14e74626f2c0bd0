# Two commands for a newcomer: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint mutants bench bench-cluster profile pins clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python scripts/devserver.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app escaped_access_log.py parking_worker.py

test: lint
	$(BIN)/python -m pytest

# Mutation testing of the security-critical modules on the fast tier (mutmut,
# [tool.mutmut] in pyproject.toml, docs/MUTATION.md). Starts afresh each time:
# mutmut keeps old verdicts for unchanged code even when the tests changed.
mutants: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/python scripts/mutants_summary.py

# The performance table (bench/RESULTS.md): several minutes, needs wrk.
bench: $(STAMP)
	command -v wrk >/dev/null || apt-get install -y wrk
	$(BIN)/python bench/run.py

# /me on a Redis Cluster beside one Redis, what WAIT adds to a logout, and
# bytes per session on the cluster (bench/cluster.py, its own section of RESULTS.md).
bench-cluster: $(STAMP)
	command -v wrk >/dev/null || apt-get install -y wrk
	$(BIN)/python bench/cluster.py

# Where a worker's CPU goes under load on GET /me (py-spy): see bench/PROFILE.md.
profile: $(STAMP)
	command -v wrk >/dev/null || apt-get install -y wrk
	$(BIN)/python bench/profile.py

# Regenerate the pins from requirements*.in (pip-tools), keeping current
# versions unless an .in file asks for another; `make pins UPGRADE=1` upgrades.
PIP_COMPILE := $(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url \
	--no-emit-find-links --annotation-style=line $(if $(UPGRADE),--upgrade)
pins: $(STAMP)
	$(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(PIP_COMPILE) --output-file requirements-dev.txt requirements-dev.in

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache .coverage mutants
