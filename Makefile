# pension-bridge: the two commands a newcomer needs, and a few more.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench bundle clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pension-bridge demo

test: lint
	$(BIN)/python -m pytest -n 2 -q

# ruff, the layers (import-linter) and the types (mypy); make test runs it first.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/pension-bridge bench --n 5000 --db sqlite
	$(BIN)/pension-bridge bench --n 5000 --db postgresql

# The offline install bundle for x86_64 and aarch64 (docs/deployment.md); SIGN_KEY=<ferry SM2 key> signs it.
bundle: $(STAMP)
	$(BIN)/python packaging/build_bundle.py --out build/bundle $(if $(SIGN_KEY),--sign-key $(SIGN_KEY))

clean:
	rm -rf $(VENV) .demo .bench .pytest_cache
