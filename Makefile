# One entry point. `make demo` runs the demo, `make test` every test; both bootstrap a fresh machine.
PY := .venv/bin/python

.PHONY: bootstrap demo test unit matrix bench build changelog clean

bootstrap:
	./scripts/bootstrap.sh

demo: bootstrap
	$(PY) demo/run.py

test: bootstrap
	$(PY) -m pytest tests

unit: bootstrap
	$(PY) -m pytest tests/unit

# The version matrix alone (part of `make test`): every ansible-core leg, its managed-node Pythons, sanity on 2.16/2.21.
matrix: bootstrap
	$(PY) -m pytest tests/matrix

bench: bootstrap
	$(PY) bench/run.py

build: bootstrap
	.venv/bin/ansible-galaxy collection build --force --output-path build/

changelog: bootstrap
	.venv/bin/antsibull-changelog lint

clean:
	rm -rf build tests/output .pytest_cache
