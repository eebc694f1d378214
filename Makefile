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

# The unit tests (CPU-bound, about 3 min) run beside the integration tests (which mostly wait on
# Synapse and the bot), at the lowest CPU priority so that the integration tests' timing is
# theirs; each in its own temporary folder. Both must pass; the unit tests' output follows.
unit: $(STAMP)
	@rm -f .unit-tests.log; \
	nice -n 19 $(VENV)/bin/pytest -q -m "not integration" -p no:cacheprovider \
	  --basetemp=.pytest-unit > .unit-tests.log 2>&1 & unit=$$!; \
	$(VENV)/bin/pytest -q -m integration --durations=15; integration=$$?; \
	wait $$unit; units=$$?; \
	echo "--- unit tests (run beside the integration tests) ---"; cat .unit-tests.log; \
	test $$integration -eq 0 && test $$units -eq 0

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
	rm -rf $(VENV) .local build dist .pytest_cache .mypy_cache .ruff_cache mutants .pytest-unit .unit-tests.log
