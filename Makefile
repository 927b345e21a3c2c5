# The two commands of the README: `make demo` and `make test`. Both install into the project's
# virtual environment .venv/ (scripts/install.sh) and run gridmap, pytest and lint-imports from it.
#   make demo PORT=8001 GRIDMAP_PG_PORT=54330    other ports for the server and the local database
.PHONY: install install-test demo test bench compose clean

VENV := .venv
export GRIDMAP_VENV := $(VENV)
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

install:
	bash scripts/install.sh

install-test:
	bash scripts/install.sh --test

demo: install
	$(VENV)/bin/gridmap demo --host $(HOST) --port $(PORT)

test: install-test
	$(PY) -m pytest -q
	$(VENV)/bin/lint-imports

bench: install
	$(PY) -m pip install -q --disable-pip-version-check -e '.[bench]'
	$(PY) bench/partition.py
	$(PY) bench/lookup.py

# PostGIS and the API in containers, with a password generated once into .env (mode 0600).
compose: .env
	docker compose up

.env:
	umask 077 && printf 'GRIDMAP_PG_PASSWORD=%s\n' "$$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" > $@

# Stops the local database and deletes it (.gridmap/, password included); keeps .venv/.
clean:
	-$(VENV)/bin/gridmap db down --destroy
	rm -rf .gridmap
