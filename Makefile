# Every target builds .venv (Python 3.11) on first use, so a fresh clone needs only `make <target>`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export QIEEMO_DATA ?= $(abspath ../shared/data)

.PHONY: install test lint demo bench gpu-check clean

install: $(STAMP)

# pip 23.x is kept on purpose: newer pip refuses a transitive ESPnet extra (ci_sdr) that names a git URL.
$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "pip<24" "setuptools<74" wheel
	$(PY) -m pip install -q -e ".[test,lint,onnx,demo]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -rs tests

# One style, enforced: ruff (lint + format) for Python, shellcheck for the recipe scripts.
SHELL_SCRIPTS = egs2/TEMPLATE/emo1/*.sh egs2/TEMPLATE/emo1/utils/*.sh egs2/*/emo1/run.sh \
	egs2/*/emo1/local/*.sh egs2/*/emo1/db.sh
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/shellcheck -x $(SHELL_SCRIPTS)

demo: $(STAMP)
	cd egs2/emodb_qieemo/emo1 && ./run.sh

bench: $(STAMP)
	$(PY) bench/run_all.py

# CUDA tests + GPU timings (<= 8 min) into bench/RESULTS.md; without a GPU, a small CPU smoke form.
gpu-check: $(STAMP)
	$(PY) bench/gpu_check.py

clean:
	rm -rf $(VENV) *.egg-info
