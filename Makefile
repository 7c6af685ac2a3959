# The two commands of the README: `make run` (install, migrate, load the demo, serve) and
# `make test`. Database: GEOAPI_DATABASE_URL, else PostgreSQL on 127.0.0.1:5432, else a
# testcontainers PostGIS where Docker runs.
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test lint bench-import

setup:
	bash .ci/setup

run: setup
	.venv/bin/geoapi db upgrade
	.venv/bin/geoapi demo
	.venv/bin/geoapi serve --host $(HOST) --port $(PORT)

test: setup
	.venv/bin/pytest

lint: setup
	.venv/bin/ruff check geoapi tests bench
	.venv/bin/ruff format --check geoapi tests bench
	.venv/bin/mypy

bench-import: setup
	.venv/bin/python bench/import_bench.py
