# The two commands of the README: `make run` and `make test`. Everything else is a detail.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_STORE ?= sqlite:///maytrain-demo.db
LISTEN ?= 127.0.0.1:50051

.PHONY: run test install bench bench-all lint lint-protos reset-demo clean

## run: install, create the demo store with sample data, and serve on $(LISTEN)
run: install
	$(BIN)/maytrain store init --sample --store $(DEMO_STORE)
	$(BIN)/maytrain serve --store $(DEMO_STORE) --listen $(LISTEN)

## reset-demo: remove the demo store ($(DEMO_STORE)), so that `make run` starts the tour afresh
reset-demo:
	@case "$(DEMO_STORE)" in sqlite:///*) f="$(patsubst sqlite:///%,%,$(DEMO_STORE))"; \
	  rm -f "$$f" "$$f-wal" "$$f-shm"; echo "removed $$f";; \
	  *) echo "reset-demo removes SQLite demo stores only, not $(DEMO_STORE)" >&2; exit 2;; esac

## test: install, then run the whole test suite
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ./clients/python -e '.[test]'
	touch $@

## bench: the report (bench/report.md, .json, .png): every headline figure beside its floor,
## measured in one run (~10 min; BENCH_SCALE=0 skips the scale section, BENCH_QUICK=1 tries it)
bench: install $(VENV)/.bench-installed
	$(BIN)/python bench/report.py  # a first run builds the 1M-account store (~4 min), cached

## bench-all: the report, then every other benchmark under bench/
bench-all: bench
	$(BIN)/python bench/decide_bench.py
	$(BIN)/python bench/observability_bench.py
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/arrow_bench.py
	@if [ -n "$$MAYTRAIN_TEST_POSTGRES_URL" ]; then $(BIN)/python bench/revocation_bench.py; fi

$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

## lint: ruff over the tree, mypy --strict over the core and the client, buf over the protos
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy --strict sidecar/core clients/python/maytrain/client
	bash scripts/buf-lint

lint-protos:
	bash scripts/buf-lint

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis maytrain-demo.db*
