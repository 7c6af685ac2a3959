"""geoapi: a PostGIS-backed web service for street-level photo sequences."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from flask import Flask

from geoapi.config import load_settings

__all__ = ["create_app"]


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Application factory: settings, database, error handlers, blueprints and CLI; no I/O.

    ``test_config`` overrides settings by name (``{"DATABASE_URL": ...}``); nothing connects to
    the database until the first request that needs it.
    """
    from geoapi import api, cli, compress, db, errors
    from geoapi.config import trusted_hosts
    from geoapi.store.provision import LOCAL_URL

    settings = load_settings(overrides=test_config)
    if not settings.database_url:
        # The local server of ARCHITECTURE.md; the ``geoapi`` command looks further (for a
        # container) before it builds the app, so the factory itself never probes.
        settings = replace(settings, database_url=LOCAL_URL.format(database="geoapi"))
    app = Flask(__name__, template_folder="web")
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,  # the import route allows its own
        GEOAPI=settings,
        TESTING=bool(settings.extra.get("TESTING", False)),
        # Without GEOAPI_PUBLIC_URL, absolute URLs come from the Host header: only these hosts
        # are answered (any other is a 400), so no one can make us link to their host.
        TRUSTED_HOSTS=trusted_hosts(settings),
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    logging.basicConfig(level=settings.log_level.upper())

    db.init_app(app, settings)
    errors.init_app(app)
    api.init_app(app)
    compress.init_app(app)
    cli.init_app(app)
    return app
