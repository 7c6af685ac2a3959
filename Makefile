# The two commands of the README: `make run` (install, migrate, load the demo, serve) and
# `make test`. Database: GEOAPI_DATABASE_URL, else PostgreSQL on 127.0.0.1:5432, else a
# testcontainers PostGIS where Docker runs.
HOST ?= 127.0.0.1
PORT ?= 8000
# The server refuses to start without GEOAPI_SECRET_KEY: make run keeps a random one, made
# once, in this git-ignored file (mode 0600). A deployment sets its own.
SECRET_FILE := instance/secret_key

.PHONY: setup run test lint lock bench-import

setup:
	bash .ci/setup

run: setup $(SECRET_FILE)
	.venv/bin/geoapi db upgrade
	.venv/bin/geoapi demo
	GEOAPI_SECRET_KEY="$${GEOAPI_SECRET_KEY:-$$(cat $(SECRET_FILE))}" \
		.venv/bin/geoapi serve --host $(HOST) --port $(PORT)

$(SECRET_FILE):
	mkdir -p $(dir $@)
	umask 077 && python3 -c "import secrets; print(secrets.token_urlsafe(48))" > $@

test: setup
	.venv/bin/pytest

lint: setup
	.venv/bin/ruff check geoapi tests bench
	.venv/bin/ruff format --check geoapi tests bench
	.venv/bin/mypy

# Refresh the pinned versions (constraints.txt, which .ci/setup installs from): resolve
# geoapi's requirements afresh in a throwaway venv and freeze what it got.
lock:
	rm -rf .venv-lock && python3 -m venv .venv-lock
	.venv-lock/bin/pip install -q --disable-pip-version-check -e '.[dev]'
	.venv-lock/bin/pip freeze --exclude-editable --disable-pip-version-check > constraints.txt
	rm -rf .venv-lock

bench-import: setup
	.venv/bin/python bench/import_bench.py
