# The two commands of the README: `make demo` and `make test`.
.PHONY: install install-test demo test bench clean

install:
	bash scripts/install.sh

install-test:
	bash scripts/install.sh --test

demo: install
	gridmap demo

test: install-test
	python3 -m pytest -q
	lint-imports

bench: install
	python3 -m pip install -q -e '.[bench]'
	python3 bench/partition.py
	python3 bench/lookup.py

clean:
	-gridmap db down
	rm -rf .gridmap
