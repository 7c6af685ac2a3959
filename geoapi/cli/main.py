"""The ``geoapi`` console script: the commands of ``geoapi.cli`` on an app built for them."""

from __future__ import annotations

import os

from flask import Flask
from flask.cli import FlaskGroup

from geoapi import create_app
from geoapi.store.provision import resolve_database_url


def create_cli_app() -> Flask:
    """The app for a command: the database as ARCHITECTURE.md orders it (GEOAPI_DATABASE_URL,
    else PostgreSQL on 127.0.0.1:5432, else a testcontainers PostGIS where Docker runs)."""
    explicit = os.environ.get("GEOAPI_DATABASE_URL")
    return create_app({"DATABASE_URL": resolve_database_url(explicit)})


def main() -> None:
    cli = FlaskGroup(create_app=create_cli_app, add_version_option=False, load_dotenv=False)
    cli(prog_name="geoapi")
