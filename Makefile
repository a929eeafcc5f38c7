# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv when absent and install through constraints.txt,
# which pins the CPU torch wheel. Both are idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BROWSER_STAMP := $(VENV)/.browser

.PHONY: demo test lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mlnb demo

# Debian's chromium for the site's browser test (never playwright's own download).
$(BROWSER_STAMP): $(STAMP) scripts/install_browser.sh
	PYTHON=$(BIN)/python bash scripts/install_browser.sh
	touch $(BROWSER_STAMP)

test: $(STAMP) $(BROWSER_STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	bash benchmarks/run_all.sh

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
