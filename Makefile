# Two commands on a fresh machine: `make run` (the terminal coach) and `make test`.
# Both create .venv when it is missing. PyTorch is installed first as the CPU build: an
# unpinned torch would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_SPEC) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

.PHONY: install run test lint check
install: $(VENV)/.installed

run: install
	$(PY) -m bot practice

test: install
	$(PY) -m ruff check bot tests scripts deploy
	$(PY) -m bot corpus check
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check bot tests scripts deploy
