"""``geoapi serve``: the app under gunicorn, behind nginx that buffers slow clients."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from geoapi.cli.proxy import Front, allow_methods, nginx_binary, start_nginx
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


class ProblemWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker, whose own answers (414, 431, a malformed request) are
    problem+json like the app's rather than HTML pages."""

    def init_process(self) -> None:
        gunicorn_util.write_error = write_problem
        super().init_process()


def write_problem(sock: Any, status: int, reason: str, message: str) -> None:
    """gunicorn's ``util.write_error``, in the shape of every other geoapi error."""
    body = json.dumps(
        {"type": "about:blank", "title": reason, "status": status, "detail": message[:300]}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


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
@click.option(
    "--proxy/--no-proxy",
    default=None,
    help="Buffer slow clients with nginx in front of gunicorn [default: when nginx is installed].",
)
@with_appcontext
def serve_command(host: str, port: int, workers: int, threads: int, proxy: bool | None) -> None:
    """Serve the API: nginx (buffering slow clients) in front of gunicorn (gthread workers).

    Refuses to start without a secret key.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    settings: Settings = app.config["GEOAPI"]
    secret_or_exit(settings)
    workers, warning = fit_workers(app, workers)
    if warning:
        click.echo(warning, err=True)
    nginx = nginx_binary()
    if proxy and nginx is None:
        raise click.ClickException("--proxy needs nginx (Debian: apt-get install nginx-light)")
    if proxy is None and nginx is None:
        click.echo("nginx not found: serving without a buffering proxy", err=True)
    # Workers are forked: each must open its own database connections.
    dispose_engines(app, close=False)
    options: dict[str, Any] = {
        "workers": workers,
        "threads": threads,
        "worker_class": "geoapi.cli.serve.ProblemWorker",
        "accesslog": "-",
        "timeout": 60,
        "keepalive": 5,
        "limit_request_line": 8190,
    }
    if nginx is None or proxy is False:
        click.echo(f"geoapi serving on http://{host}:{port}/ ({workers} x {threads} threads)")
        _Server(app, {**options, "bind": f"{host}:{port}"}).run()
        return
    # Not a `with` block: forked workers run this frame too and must not remove it on exit.
    directory = tempfile.mkdtemp(prefix="geoapi-serve-")
    routes = [(rule.rule, rule.methods or ()) for rule in app.url_map.iter_rules()]
    front = Front(
        host,
        port,
        f"{directory}/gunicorn.sock",
        Path(directory),
        settings.max_import_bytes,
        allow_methods(routes),
    )
    # Only nginx connects to the socket: its X-Forwarded-For/-Proto are the client's.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
    children: list[subprocess.Popen[bytes]] = []
    stopping = threading.Event()

    def when_ready(arbiter: Any) -> None:
        children.append(start_nginx(nginx, front))
        watch(children[0], arbiter, stopping)

    def on_exit(_arbiter: Any) -> None:  # in the master only
        stopping.set()
        for child in children:
            child.terminate()
            child.wait(10)
        shutil.rmtree(directory, ignore_errors=True)

    click.echo(
        f"geoapi serving on http://{host}:{port}/ (nginx in front of {workers} gunicorn "
        f"workers x {threads} threads)"
    )
    hooks = {"when_ready": when_ready, "on_exit": on_exit}
    _Server(app, {**options, **hooks, "bind": f"unix:{front.upstream}"}).run()


def watch(child: subprocess.Popen[bytes], arbiter: Any, stopping: threading.Event) -> None:
    """Stop gunicorn when nginx stops on its own (nothing would reach it any more)."""

    def wait() -> None:
        status = child.wait()
        if not stopping.is_set():
            arbiter.log.error("nginx exited (status %s): stopping", status)
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, name="geoapi-nginx-watch", daemon=True).start()
