"""The ``geoapi`` commands: db upgrade, users, import, demo, serve, worker (``geoapi.cli.main``
is the console script that runs them)."""

from __future__ import annotations

from flask import Flask

from geoapi.cli.db import db_cli
from geoapi.cli.demo import demo_command
from geoapi.cli.imports import import_command
from geoapi.cli.serve import serve_command
from geoapi.cli.users import tokens_cli, users_cli
from geoapi.cli.worker import worker_command


def init_app(app: Flask) -> None:
    """Register the commands on the app's CLI."""
    commands = (db_cli, users_cli, tokens_cli, import_command, demo_command, serve_command)
    for command in (*commands, worker_command):
        app.cli.add_command(command)
