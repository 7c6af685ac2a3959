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
    """Application factory: settings, database, error handlers, blueprints and CLI.

    ``test_config`` overrides settings by name (``{"DATABASE_URL": ...}``); nothing connects to
    the database until the first request that needs it.
    """
    from geoapi import cli, cors, db, errors
    from geoapi.provision import resolve_database_url

    settings = load_settings(overrides=test_config)
    if not settings.database_url:
        settings = replace(settings, database_url=resolve_database_url(None))
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_import_bytes,
        JSON_SORT_KEYS=False,
        GEOAPI=settings,
        TESTING=bool(settings.extra.get("TESTING", False)),
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    logging.basicConfig(level=settings.log_level.upper())

    db.init_app(app, settings)
    errors.init_app(app)
    cors.init_app(app)
    _register_blueprints(app)
    cli.init_app(app)
    return app


def _register_blueprints(app: Flask) -> None:
    # One blueprint per resource; each module exposes ``bp``.
    from geoapi import (
        docs,
        exports,
        features,
        health,
        imports,
        imports_mapillary,
        likes,
        mapillary_views,
        openapi,
        reference,
        sequences,
        tiles,
        tours,
        uploader,
        viewer,
    )

    for module in (
        health,
        imports,
        sequences,
        likes,
        tours,
        reference,
        features,
        tiles,
        exports,
        openapi,
        viewer,
        docs,
        mapillary_views,
        imports_mapillary,
        uploader,
    ):
        app.register_blueprint(module.bp)
