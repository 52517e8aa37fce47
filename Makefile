# The kit's commands. `make assign` builds everything from the master notebooks; `make test` proves it.
# Both create the virtualenv and install the pinned dependencies first, so a fresh clone needs nothing else.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Rebuilt whenever the pins or the package metadata change.
INSTALLED := $(VENV)/.installed

.PHONY: help install browser assign test lint sabotage bench grade calibrate clean

help:
	@echo "make assign   build student/, solutions/ and autograder/ from assignments/ (installs first)"
	@echo "make test     run the test suite, which grades real notebooks with otter run (installs first)"
	@echo "make grade SUBMISSIONS=DIR   grade a folder of submissions: DIR/graded/grades.csv and report.md"
	@echo "make bench    time and measure building, grading and running the notebook (about 5 minutes)"
	@echo "make calibrate  train a zoo of 3,000 models and check the pass marks: docs/calibration.md (about 9 minutes)"
	@echo "make lint     ruff, with the configuration in pyproject.toml"
	@echo "make sabotage switch off each guard in turn and check that a test catches it (about 25 minutes)"
	@echo "make install  create $(VENV) and install the pinned dependencies"
	@echo "make clean    remove the virtualenv and build leftovers (not the committed student notebook)"

install: $(INSTALLED)

# The browser test drives Debian's Chromium (Playwright's own browser download is not allowed here).
CHROMIUM := /usr/bin/chromium
browser: $(CHROMIUM)

$(CHROMIUM):
	@if [ "$$(id -u)" != 0 ]; then echo "[install] the browser test needs Debian's chromium: run 'make browser' as root (or apt-get install chromium); without it, the browser test is skipped outside CI"; exit 0; fi; \
	echo "[install] installing Debian's chromium for the browser test (needs root)" && \
	apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

$(INSTALLED): requirements.txt pyproject.toml
	@echo "[install] creating $(VENV) and installing pinned dependencies (requirements.txt)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# pip byte-compiles one file at a time (a minute, mostly torch); compileall uses every core. A few
	@# of torch's files are written for newer Pythons and never compile: pip skips them too, hence || true.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile -r requirements.txt
	$(PY) -m compileall -qq -j 0 $(VENV)/lib || true
	@# the kit's own package, editable, so otter's grading process can load its plugins
	$(PY) -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e .
	touch $@

assign: install
	$(PY) -m instructor.assign

# Two test files at a time (pytest-xdist): each grades with one or two cores, and the machines have two.
test: install browser
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

grade: install
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=path/to/folder"; exit 2; }
	$(PY) -m instructor.grade "$(SUBMISSIONS)"

# The linter (its configuration is pyproject.toml's; tests/test_lint.py runs it too).
lint: install
	$(VENV)/bin/ruff check .

# Mutation testing of the guards: each sabotage switches one off in a scratch copy and runs the tests that
# claim to cover it (tests/sabotage.py). Long, so not part of make test.
sabotage: install browser
	$(PY) tests/sabotage.py

bench: install
	$(PY) -m instructor.bench

calibrate: install
	$(PY) -m instructor.calibrate

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
