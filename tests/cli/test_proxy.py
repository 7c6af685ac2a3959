"""The nginx front's configuration (pure): the Allow of its own 405s follows the app's routes."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

from geoapi.cli.proxy import Front, allow_methods, nginx_config


def _allow_for(allow: tuple[tuple[str, str], ...], request_uri: str) -> str | None:
    """What nginx's map gives: the first regex that matches."""
    return next((value for regex, value in allow if re.search(regex, request_uri)), None)


def test_allow_follows_the_routes_of_the_app(app: Flask) -> None:
    allow = allow_methods((rule.rule, rule.methods or ()) for rule in app.url_map.iter_rules())
    assert _allow_for(allow, "/api/v1/tours?limit=1") == "GET, HEAD, OPTIONS, POST"
    assert _allow_for(allow, "/api/v1/tokens/current") == "DELETE, OPTIONS"
    assert _allow_for(allow, "/tiles/metadata.json") == "GET, HEAD, OPTIONS"
    assert _allow_for(allow, "/static/vendor/a.js") == "GET, HEAD, OPTIONS"
    seq = "/api/v1/sequences/01a233ad-9198-7d72-840b-5367bc797091"
    assert _allow_for(allow, seq) == "DELETE, GET, HEAD, OPTIONS, PATCH"
    assert _allow_for(allow, "/api/v1/toursx") is None


def test_the_405_of_nginx_is_problem_json_with_allow(tmp_path: Path) -> None:
    allow = allow_methods([("/a/<thing_id>", {"GET", "HEAD"})])
    config = nginx_config(Front("127.0.0.1", 8000, "/tmp/x.sock", tmp_path, 1024, allow))
    assert 'map $request_uri $geoapi_allow {\n        default "";\n' in config
    assert '"~^/a/[^/]+(?:\\?|$)" "GET, HEAD";' in config
    assert "error_page 405 =405 /_geoapi_problem/405;" in config
    location = config[config.index("location = /_geoapi_problem/405") :]
    location = location[: location.index("}")]
    assert "add_header Allow $geoapi_allow always;" in location
    assert "application/problem+json" in location and '"status": 405' in location
