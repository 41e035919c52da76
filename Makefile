# Promise-to-proof ledger: set-up, run and test. The two commands a newcomer needs:
#   make run    set everything up and start chain, contracts, indexer, API and site
#   make test   set everything up and run every test
# Everything installs from PyPI, npm and Debian only (see README "Set-up").

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# slither-analyzer needs newer eth-* libraries than eth-brownie pins: its own virtualenv.
SLITHER_VENV := .venv-slither
SLITHER_DIR := build/slither
# schemathesis 4 needs a newer hypothesis than eth-brownie pins: its own virtualenv too.
SCHEMATHESIS_VENV := .venv-schemathesis
BIN := $(CURDIR)/node_modules/.bin
export SOLCX_BINARY_PATH := $(CURDIR)/.solcx
export PATH := $(BIN):$(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONPATH := $(CURDIR)
# Local defaults (override in the environment).
export LEDGER_RPC_URL ?= http://127.0.0.1:8546
API_URL ?= http://127.0.0.1:$(or $(LEDGER_API_PORT),8000)
DATA_DIR ?= ../shared/data
TOKENS := data/local-staff-tokens.json

.PHONY: staff-code setup run test test-postgres compile slither schemathesis-setup import-baarn import-chile replay reindex reset bench bench-tools bench-site browser clean help

help:
	@echo "make run | make test | make import-baarn | make import-chile | make replay | make bench | make slither | make reset"

## ---------------------------------------------------------------- set-up

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# --ignore-scripts: nothing here needs an install script (anvil's binary comes in its platform
# package, solc-js is plain JS), and a script could try to download or phone home.
$(SLITHER_VENV)/.installed: requirements-slither.txt
	test -x $(SLITHER_VENV)/bin/python || $(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-slither.txt
	touch $@

# Used by tests/tools/test_schemathesis.py (the OpenAPI checked against the live API).
$(SCHEMATHESIS_VENV)/.installed: requirements-schemathesis.txt
	test -x $(SCHEMATHESIS_VENV)/bin/python || $(PYTHON) -m venv $(SCHEMATHESIS_VENV)
	$(SCHEMATHESIS_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-schemathesis.txt
	touch $@

schemathesis-setup: $(SCHEMATHESIS_VENV)/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

.solcx/.installed: node_modules/.installed tools/solc-adapter.js tools/install-solc-adapter.sh
	tools/install-solc-adapter.sh $(SOLCX_BINARY_PATH) >/dev/null
	touch $@

build/.compiled: $(VENV)/.installed .solcx/.installed brownie-config.yaml $(wildcard contracts/*.sol contracts/*/*.sol)
	$(VENV)/bin/brownie compile >/dev/null
	touch $@

# brownie network for `brownie run ... --network ledger-local` against make run's chain.
$(VENV)/.brownie-network: $(VENV)/.installed
	$(VENV)/bin/brownie networks list 2>/dev/null | grep -q ledger-local || \
	  $(VENV)/bin/brownie networks add Ethereum ledger-local host=$(LEDGER_RPC_URL) chainid=31337 >/dev/null
	touch $@

setup: $(VENV)/.installed node_modules/.installed .solcx/.installed build/.compiled $(VENV)/.brownie-network

compile: build/.compiled

# Static analysis (slither, --compile-force-framework brownie). crytic-compile runs `brownie
# compile` (from .venv, through the solc-js adapter: nothing is downloaded) in a fresh copy of
# the contracts under $(SLITHER_DIR), so it always sees every source's AST and never rewrites
# build/ while tests read it. --fail-none: the JSON is always written; the gate is
# tests/tools/test_slither.py (no High or Medium finding). Re-runs only when a contract changes.
reports/slither.json: $(SLITHER_VENV)/.installed .solcx/.installed $(VENV)/.installed brownie-config.yaml $(wildcard contracts/*.sol contracts/*/*.sol)
	rm -rf $(SLITHER_DIR) && mkdir -p $(SLITHER_DIR) reports
	cp -r contracts brownie-config.yaml $(SLITHER_DIR)/
	ln -s $(CURDIR)/node_modules $(SLITHER_DIR)/node_modules
	rm -f $@.tmp
	cd $(SLITHER_DIR) && $(CURDIR)/$(SLITHER_VENV)/bin/slither . --compile-force-framework brownie \
	  --filter-paths node_modules --fail-none --json $(CURDIR)/$@.tmp >$(CURDIR)/reports/slither.txt 2>&1 \
	  || { cat $(CURDIR)/reports/slither.txt; exit 1; }
	mv $@.tmp $@

slither: reports/slither.json

# Debian's chromium for the browser tests (Playwright's own browser download is not reachable).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

# wrk from Debian for the API bench (bench/api.py loads the API from a second process).
bench-tools:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; fi; }

## ---------------------------------------------------------------- run

run: setup
	$(PY) -m scripts.run_local

import-baarn: setup
	$(PY) -m scripts.importer scripts/mappings/baarn-coalitieakkoord.yaml --api $(API_URL) --token-file $(TOKENS) --data-dir $(DATA_DIR) --report data/import-baarn.json

import-chile: setup
	$(PY) -m scripts.importer scripts/mappings/ddah-chile.yaml --api $(API_URL) --token-file $(TOKENS) --data-dir $(DATA_DIR) --report data/import-chile.json

# The staff workspace's 6-digit code of now for a local account of `make run` (LOGIN=beheer.gm0308).
staff-code: setup
	@test -n "$(LOGIN)" || { echo "usage: make staff-code LOGIN=<login> (logins: make run prints them)"; exit 2; }
	@$(PY) -m scripts.admin accounts code "$(LOGIN)"

replay: setup
	$(PY) -m scripts.replay --deployment data/deployment.json --rpc-url $(LEDGER_RPC_URL) --api-url $(API_URL) --batch-files-from-api --report data/replay-report.json

# Rebuild the index from the deploy block (stop `make run` first).
reindex:
	rm -f data/ledger.sqlite3 data/ledger.sqlite3-wal data/ledger.sqlite3-shm

# Forget the local chain, index, evidence and keys (stop `make run` first).
reset:
	rm -rf data

## ---------------------------------------------------------------- test

# pytest-xdist workers (default 2, the cores of the team's machines), each with brownie's
# anvil of its own (tests/conftest.py: port 8545 + 10 x the worker number) for the contract
# tests, a second session anvil on a free port for everything else, and whole modules
# (tests/e2e: the whole folder) to one worker, slowest first. 0 runs everything in this
# process, in collection order (about twice as long).
# PYTEST_ARGS adds to -n: `make test PYTEST_ARGS="tests/api --durations=40"`.
TEST_WORKERS ?= 2
XDIST_ARGS := $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS),)
PYTEST_ARGS ?=

test: setup browser slither schemathesis-setup
	LEDGER_SHARED_DATA_DIR=$(abspath $(DATA_DIR)) $(PY) -m pytest $(XDIST_ARGS) $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$status

# The same suite with every index on a fresh PostgreSQL schema (tests/db/databases.py:
# LEDGER_TEST_DATABASE, LEDGER_TEST_POSTGRES_URL; default postgres@127.0.0.1:5432/test).
test-postgres: setup browser slither schemathesis-setup
	LEDGER_TEST_DATABASE=postgresql LEDGER_SHARED_DATA_DIR=$(abspath $(DATA_DIR)) $(PY) -m pytest $(XDIST_ARGS) $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$status

# bench/api.py loads the API and the site with wrk (make bench-tools) on a small and a big index
# (bench/fill_index.py, cached under data/bench/): about 5 minutes per size at 5 s per endpoint,
# plus each index's fill through the projection on first use (small 10 s; big, 1,163,915 events:
# 45 minutes on this machine at load 6-13, 472 events/s, about 1,600 events per CPU second, so
# about 12 minutes on an idle core; peak RSS of the fill 477 MB: it holds the whole plan).
# python -m bench.lists --fill small,big times the data layer's list reads on the same two
# indexes in-process (about 5 minutes at --calls 40).
# bench/chain_fill.py builds the indexer and replay benches' chains once (wide 30,003 events,
# deep 20,004, big 100,003; about 20 minutes on this shared machine, then cached under
# data/bench/ and loaded in 0.5 to 3 minutes each). bench/indexer.py then backfills each chain
# on SQLite and on PostgreSQL and runs python -m indexer once on big: 400,000 events indexed,
# about 35 minutes at 200 events/s (at the 42 events/s of this issue's busiest hour, 2.5 hours);
# smaller runs: --wide-commitments, --deep-deliveries, --big-events, --backends, --no-rss.
# bench/replay.py replays big three ways (bare, replay_ledger, the whole command): about 10 minutes.
# bench/import_speed.py imports a generated 1,500-row file, 1,500 items x 2 snapshots, Baarn and
# Chile through the API and prints rows/s: about 2 minutes (add --baseline-repo DIR to time a
# checkout's importer beside this one's, on a second stack: about twice as long).
bench: setup bench-tools
	$(PY) -m bench.gas
	$(PY) -m bench.import_replay --data-dir $(DATA_DIR)
	$(PY) -m bench.import_speed --data-dir $(DATA_DIR) --json reports/bench-import-speed.json
	$(PY) -m bench.api --size small,big --duration 5 --json reports/bench-api.json
	$(PY) -m bench.chain_fill
	$(PY) -m bench.indexer --json reports/bench-indexer.json
	$(PY) -m bench.replay --json reports/bench-replay.json

# Weight and speed of the site on make run's ledger (import the datasets first; data/ is only read).
bench-site: setup
	$(PY) -m bench.site --data-dir data --rpc-url $(LEDGER_RPC_URL)

clean:
	rm -rf build reports .solcx $(VENV) $(SLITHER_VENV) $(SCHEMATHESIS_VENV) node_modules
