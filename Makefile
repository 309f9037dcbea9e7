# simsim: two commands on a fresh machine (see README.md).
#   make run   creates .venv, installs simsim, runs the default scenario, writes results/default/
#   make test  installs the test extras and runs the lint, type check and the whole test suite
#   make validate  compares simsim with published runs; rewrites results/validation/ and README's table
#   make export    export-control headline table and rule sweeps into results/export_controls/
#   make scaling   DeepSeek-V3 vs its dense equivalents into results/dense_vs_moe/
#   make frontier  loss-versus-budget frontier and the DeepSeek-V3 counterfactual (results/frontier/, results/counterfactual/)
#   make report    all of the above: every figure and table the README shows (git stays clean)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: run test lint typecheck bench validate export scaling frontier report clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TSTAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

run: $(STAMP)
	$(BIN)/simsim experiment=deepseek_v3 output.dir=results/default

lint: $(TSTAMP)
	$(BIN)/ruff check simsim tests benchmarks notebooks
	$(BIN)/ruff format --check simsim tests benchmarks notebooks

typecheck: $(TSTAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -q -n auto --dist loadgroup

validate: $(STAMP)
	$(BIN)/simsim-validate --update-readme README.md --update-residuals simsim/data/residuals.json
	$(BIN)/simsim-validate --in-sample > /dev/null
	$(BIN)/simsim-validate --mode fixed > /dev/null

export: $(STAMP)
	$(BIN)/simsim-export --headline
	$(BIN)/simsim-export --sweep-tpp --model deepseek_v3
	$(BIN)/simsim-export --sweep-io --model llama3_405b

scaling: $(STAMP)
	$(BIN)/simsim experiment=dense_vs_moe output.dir=results/dense_vs_moe

frontier: $(STAMP)
	$(BIN)/simsim experiment=frontier output.dir=results/frontier
	$(BIN)/simsim experiment=counterfactual output.dir=results/counterfactual

report: validate run export scaling frontier   # validate first: it refreshes the residuals the intervals read
	$(BIN)/python -m simsim.figures results/model_size

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_physics.py
	$(BIN)/python benchmarks/bench_scenario.py

clean:
	rm -rf $(VENV) build *.egg-info results/runs .pytest_cache .mypy_cache .ruff_cache
