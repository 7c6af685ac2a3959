"""The ``geoapi`` command: db upgrade, users, import, demo, serve, worker."""

from __future__ import annotations

import os

from flask import Flask
from flask.cli import FlaskGroup

from geoapi.cli.db import db_cli
from geoapi.cli.demo import demo_command
from geoapi.cli.imports import import_command
from geoapi.cli.serve import serve_command
from geoapi.cli.users import users_cli
from geoapi.cli.worker import worker_command


def init_app(app: Flask) -> None:
    """Register the commands on the app's CLI."""
    for command in (db_cli, users_cli, import_command, demo_command, serve_command, worker_command):
        app.cli.add_command(command)


def _create_app() -> Flask:
    """The app for a command: the database as ARCHITECTURE.md orders it (GEOAPI_DATABASE_URL,
    else PostgreSQL on 127.0.0.1:5432, else a testcontainers PostGIS where Docker runs)."""
    from geoapi import create_app
    from geoapi.store.provision import resolve_database_url

    explicit = os.environ.get("GEOAPI_DATABASE_URL")
    return create_app({"DATABASE_URL": resolve_database_url(explicit)})


def main() -> None:
    cli = FlaskGroup(create_app=_create_app, add_version_option=False, load_dotenv=False)
    cli(prog_name="geoapi")
