# The README's two commands: `make run` and `make test`. Both set up .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

.PHONY: run test lint typecheck unit chromium demo bench mutation docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m consultbot dev

demo: $(STAMP)
	$(PY) -m consultbot demo

lint: $(STAMP)
	$(VENV)/bin/ruff check consultbot tests bench tools
	$(VENV)/bin/ruff format --check consultbot tests bench tools
	$(VENV)/bin/lint-imports --no-cache --no-logo

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict consultbot

unit: $(STAMP)
	$(VENV)/bin/pytest -q

# The board's browser tests (tests/integration/test_board_browser.py) drive Debian's chromium:
# installed here when run as root (as CI is), else `make test` stops and names the package.
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "make test needs the Debian package chromium: sudo apt-get install chromium"; exit 1; \
	  fi; }

test: lint typecheck chromium unit

# Mutation testing of the data-file validators ([tool.mutmut] in pyproject.toml); slow, and
# not part of `make test`. Survivors and why: docs/datafiles-mutation.md.
mutation: $(STAMP)
	$(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results

# The drawing of the layers in docs/architecture.md, from the import graph (tests/test_layers.py
# fails when it is stale).
docs: $(STAMP)
	$(PY) tools/draw_layers.py

bench: $(STAMP)
	$(PY) bench/bench_roster.py

clean:
	rm -rf $(VENV) .local build dist .pytest_cache .mypy_cache .ruff_cache mutants
