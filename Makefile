# Two commands on a fresh machine: `make demo` runs the main job, `make test` runs the test suite.
# Both create .venv and install the project with the exact tested dependency versions (constraints.txt) first;
# `make test` also installs Debian's Chromium for the browser test if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CODE := app retrieval index eval tests
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test test-full lint docs browser clean constraints

# uv installs the pinned set in parallel (torch brings gigabytes of CUDA libraries, which pip unpacks one by one); it
# comes from PyPI like everything else, at its pinned version. It compiles the bytecode as pip does: without it,
# every process (the tests start many) compiles torch, transformers and Ray again wherever PYTHONDONTWRITEBYTECODE
# is set.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt uv
	$(BIN)/python -m uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# After changing dependencies in pyproject.toml: resolve them afresh and record the versions installed.
constraints:
	rm -rf $(VENV).constraints && $(PYTHON) -m venv $(VENV).constraints
	$(VENV).constraints/bin/python -m pip install --quiet --upgrade pip
	$(VENV).constraints/bin/python -m pip install --quiet -e '.[dev]'
	{ echo "# Exact versions CI and \`make\` install (uv pip install -c constraints.txt): the tested set of every dependency."; \
	  echo "# Regenerate after changing pyproject.toml: make constraints"; \
	  $(VENV).constraints/bin/python -m pip freeze --exclude-editable; } > constraints.txt
	rm -rf $(VENV).constraints

install: $(STAMP)

browser:
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

demo: $(STAMP)
	$(BIN)/modernsearch demo

# ruff's rules and format (pyproject.toml); CI runs this before the tests.
lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

# The documentation site (docs/, mkdocs.yml) into site/; --strict turns every warning into an error. The result
# tables in README.md and docs/ must match the JSON under eval/results/ they are generated from.
docs: $(STAMP)
	$(BIN)/modernsearch eval tables README.md docs/*.md --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: $(STAMP) browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# The full-size dataset runs whose claims `make test` checks on slices.
test-full: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m full

clean:
	rm -rf $(VENV) .pytest_cache tests/artifacts site
