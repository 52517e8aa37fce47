# The kit's commands. `make assign` builds everything from the master notebooks; `make test` proves it.
# Both create the virtualenv and install the pinned dependencies first, so a fresh clone needs nothing else.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Rebuilt whenever the pins or the package metadata change.
INSTALLED := $(VENV)/.installed
# Quiet twice: two pips side by side each warn about the other's half-written package metadata.
PIP_INSTALL := $(PY) -m pip install --quiet --quiet --disable-pip-version-check --no-compile --no-deps
# A=NAME picks one assignment (a folder under assignments/); `make assign` without it builds every one.
A ?=

.PHONY: help install browser sandbox pins assign new test test-handout test-image test-gpu lint sabotage bench grade calibrate clean

help:
	@echo "make assign [A=NAME]   build student/, solutions/ and autograder/ from assignments/ (installs first)"
	@echo "make new A=NAME        start an assignment: a master notebook wired to the engine, one small exercise"
	@echo "make pins              pin every package each grading image installs, from requirements.txt"
	@echo "make test              run the test suite, which grades real notebooks as Gradescope does (installs first)"
	@echo "make test-handout       set up a fresh environment from each handed-out folder alone and run its first cells"
	@echo "make test-image        build the grading image from the zip's own environment and grade both assignments with it"
	@echo "make grade A=NAME SUBMISSIONS=DIR [MANUAL=CSV] [TRUST=1]   grade a folder: DIR/graded/grades.csv, report.md, manual/"
	@echo "make bench A=NAME      time and measure building, grading and running the notebook (about 5 minutes)"
	@echo "make calibrate A=NAME  run the assignment's calibration (fcnn: a zoo of 3,000 models, about 9 minutes)"
	@echo "make lint              ruff, with the configuration in pyproject.toml"
	@echo "make sabotage          switch off each guard in turn and check that a test catches it (about 30 minutes)"
	@echo "make install           create $(VENV) and install the pinned dependencies"
	@echo "make clean             remove the virtualenv and build leftovers (not the committed student notebooks)"

install: $(INSTALLED)

# The browser test drives Debian's Chromium (Playwright's own browser download is not allowed here), and the
# notebook's PDF export starts it as "Playwright's Chromium" (instructor/playwright_chromium.py links it there);
# pdftotext (poppler-utils) reads the PDF back.
CHROMIUM := /usr/bin/chromium
PDFTOTEXT := /usr/bin/pdftotext
browser: install sandbox $(CHROMIUM) $(PDFTOTEXT)
	@if [ -x $(CHROMIUM) ]; then $(PY) -m instructor.playwright_chromium $(CHROMIUM); fi

$(CHROMIUM) $(PDFTOTEXT) &:
	@if [ "$$(id -u)" != 0 ]; then echo "[install] the browser test needs Debian's chromium and poppler-utils: run 'make browser' as root (or apt-get install chromium poppler-utils); without them, the browser test is skipped outside CI"; exit 0; fi; \
	echo "[install] installing Debian's chromium and poppler-utils for the browser test (needs root)" && \
	apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils

# Every grading boxes its notebook with Debian's bubblewrap (engine/grading_engine/sandbox.py says why).
BWRAP := /usr/bin/bwrap
sandbox: $(BWRAP)

$(BWRAP):
	@if [ "$$(id -u)" != 0 ]; then echo "[install] grading boxes each notebook with bubblewrap: apt-get install bubblewrap (as root); without it, grading as an ordinary user refuses untrusted notebooks"; exit 0; fi; \
	echo "[install] installing Debian's bubblewrap, the box every grading runs in (needs root)" && \
	apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap

$(INSTALLED): requirements.txt pyproject.toml engine/pyproject.toml engine/setup.py
	@echo "[install] creating $(VENV) and installing pinned dependencies (requirements.txt)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# pip looks each package up in every index, one after another: most of its minute. requirements.txt pins
	@# every package, so nothing needs resolving (--no-deps; pip check proves none is missing), and two pips
	@# install half of the pins each, side by side (50 s instead of 70).
	awk '!/^#/ && NF { print > ("$(VENV)/pins-" (n++ % 2 ? "even" : "odd") ".txt") }' requirements.txt
	$(PIP_INSTALL) -r $(VENV)/pins-odd.txt & odd=$$!; $(PIP_INSTALL) -r $(VENV)/pins-even.txt && wait $$odd
	$(PY) -m pip check
	@# pip byte-compiles one file at a time (a minute, mostly torch); compileall uses every core. The grading
	@# kernel cannot write bytecode (it runs as an unprivileged user), so what it imports is compiled here; not
	@# what no kernel imports: torch's compiler's own (sympy, torch._inductor, networkx; a grading kernel loads the
	@# compiler only for a notebook that calls torch.compile), torch.onnx, pip's own, the docs tools, scipy and
	@# scikit-learn (only the digits build and calibration import them, as root), the packages' test suites.
	@# tests/engine/test_bytecode.py checks what a kernel imports. A few of torch's files are written for newer
	@# Pythons and never compile, hence || true.
	$(PY) -m compileall -qq -j 0 -x '/site-packages/(networkx|sympy|pip|setuptools|sphinx|docutils|scipy|sklearn)/|/site-packages/torch/(_inductor|onnx)/|/tests?/' $(VENV)/lib || true
	@# the grading engine (otter loads its plugins by name) and the instructor commands, editable
	$(PY) -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e engine -e .
	touch $@

assign: install sandbox
	$(PY) -m instructor.pins
	$(PY) -m instructor.assign $(A)

# Each grading image's pins, from requirements.txt (instructor/pins.py; make assign runs it too).
pins: install
	$(PY) -m instructor.pins

new: install
	@test -n "$(A)" || { echo "usage: make new A=name"; exit 2; }
	$(PY) -m instructor.new "$(A)"

# Two test files at a time (pytest-xdist): each grades with one or two cores, and the machines have two.
# The handed-out folders' fresh-environment test installs torch afresh for each (2 minutes): `make test-handout`.
test: install browser
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not handout and not image"

test-handout: install sandbox
	$(PY) -m pytest -n 2 -m handout

# Where a GPU is: a separate environment with PyPI's CUDA build of the pinned torch (gigabytes: never on the course's
# CPU machines), and the tests that need a GPU (marker gpu). Here they are skipped, saying so.
GPU_VENV := .venv-gpu
test-gpu:
	@nvidia-smi > /dev/null 2>&1 || { echo "make test-gpu needs a machine with an NVIDIA GPU"; exit 2; }
	test -x $(GPU_VENV)/bin/python || $(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/pip install -q -r requirements.txt -e engine -e .
	$(GPU_VENV)/bin/python -c "import torch; assert torch.cuda.is_available(), 'this torch build has no CUDA'"
	$(GPU_VENV)/bin/python -m pytest -m gpu

# The grading image built from a zip's own environment.yml in a fresh environment, then grading with it alone.
test-image: install sandbox
	$(PY) -m pytest -m image

grade: install sandbox
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade A=name SUBMISSIONS=path/to/folder [MANUAL=.../manual/scores.csv]"; exit 2; }
	$(PY) -m instructor.grade "$(SUBMISSIONS)" $(if $(A),--assignment $(A)) $(if $(MANUAL),--manual "$(MANUAL)") $(if $(TRUST),--trust-notebooks)

# The linter (its configuration is pyproject.toml's; tests/engine/test_lint.py runs it too).
lint: install
	$(VENV)/bin/ruff check .

# Mutation testing of the guards: each sabotage switches one off in a scratch copy and runs the tests that
# claim to cover it (tests/sabotage.py). Long, so not part of make test.
sabotage: install browser
	$(PY) tests/sabotage.py

bench: install sandbox
	$(PY) -m instructor.bench $(if $(A),--assignment $(A))

# Each assignment calibrates its marks its own way: its calibrate.py, beside its master.
calibrate: install
	@test -n "$(A)" || { echo "usage: make calibrate A=name"; exit 2; }
	@test -f assignments/$(A)/calibrate.py || { echo "assignments/$(A) has no calibrate.py"; exit 2; }
	$(PY) assignments/$(A)/calibrate.py

clean:
	rm -rf $(VENV) build engine/build *.egg-info engine/*.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
