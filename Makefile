# satsr developer tasks. `make demo` and `make test` work on a fresh machine (they create .venv first).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.satsr-installed
DEMO   := demo_out

.PHONY: venv demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## demo: super-resolve the bundled Landsat 8 crop x4, write a COG and a side-by-side PNG
demo: $(STAMP)
	mkdir -p $(DEMO)
	$(BIN)/satsr upscale satsr/data/landsat8_sample.tif -o $(DEMO)/landsat8_sample_x4.tif \
		--model bicubic --scale 4 --preview $(DEMO)/landsat8_sample_x4_compare.png
	@echo "demo outputs in $(abspath $(DEMO))/"

## test: the whole suite, slow (real-data) tests included
test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/python -m pip install -q ruff
	$(BIN)/ruff check satsr tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pipeline.py

clean:
	rm -rf $(DEMO) .pytest_cache build *.egg-info
