"""``geoapi serve``: the app under gunicorn, a production WSGI server."""

from __future__ import annotations

import os
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from gunicorn.app.base import BaseApplication
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from geoapi.config import ConfigError, Settings, require_secret
from geoapi.db import dispose_engines, get_engine


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def fit_workers(app: Flask, workers: int) -> tuple[int, str | None]:
    """Cap ``workers`` so every worker's pools together stay under the server's max_connections.

    A pool larger than max_connections fails under load ("too many clients"); each worker holds
    the request pool and the tile pool, each up to pool_size + max_overflow connections.
    """
    settings = app.config["GEOAPI"]
    per_worker = 2 * (settings.pool_size + settings.max_overflow)
    try:
        with get_engine(app).connect() as conn:
            limit = int(conn.execute(text("SHOW max_connections")).scalar_one())
            reserved = int(conn.execute(text("SHOW superuser_reserved_connections")).scalar_one())
    except SQLAlchemyError:
        return workers, None  # the database is not up yet: /healthz will say so
    budget = limit - reserved - 10  # room for the import worker, migrations and psql
    fitting = max(1, budget // per_worker)
    if workers <= fitting:
        return workers, None
    return fitting, (
        f"{workers} workers x {per_worker} pooled connections would exceed the database's "
        f"max_connections ({limit}); starting {fitting} (lower GEOAPI_POOL_SIZE/MAX_OVERFLOW "
        "or raise max_connections for more)"
    )


def secret_or_exit(settings: Settings) -> None:
    """Exit (status 1, one line saying how to set it) unless GEOAPI_SECRET_KEY is real."""
    try:
        require_secret(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option(
    "--workers",
    default=lambda: (os.cpu_count() or 1) * 2,
    type=int,
    help="Worker processes [default: 2 x cores].",
)
@click.option("--threads", default=4, show_default=True, type=int, help="Threads per worker.")
@with_appcontext
def serve_command(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the API with gunicorn (gthread workers); refuses to start without a secret key."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    secret_or_exit(app.config["GEOAPI"])
    workers, warning = fit_workers(app, workers)
    if warning:
        click.echo(warning, err=True)
    # Workers are forked: each must open its own database connections.
    dispose_engines(app, close=False)
    click.echo(f"geoapi serving on http://{host}:{port}/ ({workers} workers x {threads} threads)")
    _Server(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": "-",
            "timeout": 60,
            "keepalive": 5,
        },
    ).run()
