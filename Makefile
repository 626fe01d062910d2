# smsgw — two commands do everything: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test-asyncio-debug demo test lint fmt bench chaos unit integration interop redis clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# redis-server is a system package; install it when it is missing.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server with apt-get"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The whole suite: lint gates, then every test under uvloop (the loop smsgw runs on).
test: $(STAMP) redis lint
	$(PY) -m pytest -q -p no:cacheprovider tests

# The integration and interop tests again on the plain asyncio loop with PYTHONASYNCIODEBUG=1
# (asyncpg's and redis-py's habit: never-awaited coroutines, slow callbacks, wrong-thread
# calls). About 1.5 minutes more; CI runs it after `make test` (.ci/run).
test-asyncio-debug: $(STAMP) redis
	PYTHONASYNCIODEBUG=1 SMSGW_TEST_LOOP=asyncio $(PY) -m pytest -q -p no:cacheprovider -m "not slow" tests/integration tests/interop

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

integration: $(STAMP) redis
	$(PY) -m pytest -q tests/integration tests/interop

demo: $(STAMP) redis
	$(PY) -m gateway.cli.demo

# Run as modules from the project root, so benchmarks/compliance.py cannot shadow the package.
bench: $(STAMP) redis
	$(PY) -m benchmarks.codec
	$(PY) -m benchmarks.encoding
	$(PY) -m benchmarks.session
	$(PY) -m benchmarks.compliance
	$(PY) -m benchmarks.e2e
	$(PY) -m benchmarks.metrics_cost
	$(PY) -m benchmarks.redis_scripts
	$(PY) -m benchmarks.ops_scrape

# Delivery under SIGKILLs of the gateway, the simulator and Redis (a few minutes; exit 1 when
# a bar is missed). Options: make chaos CHAOS_ARGS="--messages 3000 --keep-logs /tmp/chaos"
chaos: $(STAMP) redis
	$(PY) -m benchmarks.chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .demo
