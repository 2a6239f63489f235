# Rundbrief — the two commands a newcomer needs are `make run` and `make test`.
# Everything else here is what those two call.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export PORT
# `make run` is the try-it-out server: debug on, so the devmail outbox is shown.
run: export RUNDBRIEF_DEBUG ?= 1

.PHONY: install install-test system-test-deps bench-deps run test test-sqlite test-postgres clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The stamp is rebuilt whenever the pins or the project metadata change.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	touch $@

install: $(VENV)/.installed

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

# axe-core for the accessibility checks in the browser tests, pinned by tests/axe/package-lock.json
# (docs/decisions.md, "axe-core from npm, pinned"); needs npm, which system-test-deps installs.
AXE := tests/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/axe/package-lock.json | system-test-deps
	cd tests/axe && npm ci --no-audit --no-fund --silent
	touch $@

install-test: $(VENV)/.installed-test system-test-deps $(AXE)

# Debian packages the test suite drives for real: chromium (browser tests),
# PostgreSQL 15 server binaries (the second database run).
system-test-deps:
	bash scripts/system-deps.sh

# Postfix's smtp-sink and wrk, for the benchmarks in bench/ (docs/benchmarks.md); not needed by run or test.
# The extra `bench` (matplotlib, for bench/soak.py's charts) goes into the same .venv, pinned like the rest.
bench-deps: install-test
	bash scripts/system-deps.sh bench
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[bench]'

run: install
	$(BIN)/rundbrief migrate --no-input -v 0
	$(BIN)/rundbrief load-demo
	$(BIN)/rundbrief ensure-admin
	$(BIN)/rundbrief serve --port $(PORT)

test: install-test
	bash scripts/test.sh

test-sqlite: install-test
	$(BIN)/pytest

test-postgres: install-test
	bash scripts/test.sh postgres

# Rebuild the checked-in .mo files after editing a .po file (needs GNU gettext).
messages: install
	cd rundbrief && ../$(BIN)/rundbrief compilemessages

clean:
	rm -rf $(VENV) var/test-* tests/axe/node_modules
