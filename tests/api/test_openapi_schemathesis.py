"""The OpenAPI document covers every route, and the app keeps its word (schemathesis).

Schemathesis generates requests for every documented operation from ``/api/openapi.json`` and sends
them to the app in process (WSGI) with a valid bearer token and imported data, valid ones and
(negative mode) ones the document says are invalid; the checks: no server error, only documented
status codes, media types and headers, bodies matching their schemas, what the document refuses
refused and what it allows accepted (less what OpenAPI 3.0 cannot express, see
``tests/schemathesis_checks.py``), required headers not ignored, undeclared methods a 405
(``ignored_auth`` needs a URL, not a WSGI app: the live run checks it). The same checks run against
``geoapi serve`` with ``schemathesis run --checks all`` (``schemathesis.toml``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from schemathesis_checks import (
    negative_data_rejection_openapi_30,
    positive_data_acceptance_openapi_30,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.routing import Map, Rule

from geoapi import create_app
from geoapi.api.openapi import openapi_document
from geoapi.store.importer import import_feature_collection
from geoapi.store.users import create_token, create_user
from geoapi.synthetic import demo_features

IGNORED_METHODS = {"HEAD", "OPTIONS"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection_openapi_30,
    positive_data_acceptance_openapi_30,
    missing_required_header,
    unsupported_method,
]


def _template(path: str) -> str:
    """A path with its parameters blanked: ``/a/<uuid:id>``, ``/a/{id}`` → ``/a/{}``.

    A documented ``{y}.mvt`` segment counts as one parameter: a rule's ``<name>`` serves it.
    """
    return re.sub(r"<[^>]+>|\{[^}]+\}(\.[a-z]+)?(?=/|$)", "{}", path)


def _routes(url_map: Map) -> set[tuple[str, str]]:
    return {
        (_template(rule.rule), method)
        for rule in url_map.iter_rules()
        for method in (rule.methods or set()) - IGNORED_METHODS
    }


def _documented() -> set[tuple[str, str]]:
    return {
        (_template(path), method.upper())
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method in ("get", "put", "post", "patch", "delete")
    }


def test_every_route_of_the_app_is_documented(app: Flask) -> None:
    routes = _routes(app.url_map)
    assert len(routes) > 30
    assert sorted(routes - _documented()) == []


def test_every_documented_operation_exists(app: Flask) -> None:
    assert sorted(_documented() - _routes(app.url_map)) == []


def test_the_coverage_check_notices_an_undocumented_route() -> None:
    probe = Map(
        [
            Rule("/api/v1/undocumented/<thing>", endpoint="x", methods=["GET"]),
            Rule("/tiles/<z>/<x>/<name>", endpoint="tile", methods=["GET"]),
            Rule("/api/v1/tours/<tour_id>", endpoint="tour", methods=["GET", "POST"]),
        ]
    )
    assert sorted(_routes(probe) - _documented()) == [
        ("/api/v1/tours/{}", "POST"),
        ("/api/v1/undocumented/{}", "GET"),
    ]


def test_document_is_served_and_is_openapi_3(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.get_json(force=True)
    assert document["openapi"].startswith("3.0")
    assert document == openapi_document()
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    patch = document["paths"]["/api/v1/sequences/{sequence_id}"]["patch"]
    assert patch["security"] == [{"bearerAuth": []}] and "401" in patch["responses"]
    for item in document["paths"].values():
        for operation in item.values():
            assert operation["operationId"] and operation["responses"]
            assert "414" in operation["responses"]  # the front's request-line limit
            if any("bearerAuth" in scheme for scheme in operation.get("security", [])):
                assert "401" in operation["responses"], operation["operationId"]
    listing = document["paths"]["/api/v1/sequences"]["get"]
    assert listing["security"] == [{}, {"bearerAuth": []}] and "401" in listing["responses"]
    items = document["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    bbox_crs = next(param for param in items if param["name"] == "bbox-crs")
    assert "http://www.opengis.net/def/crs/EPSG/0/3857" in bbox_crs["schema"]["enum"]


@pytest.mark.parametrize("collection", ["sequences", "photos"])
def test_sequence_id_is_honoured_where_documented(
    schema_app: Flask, token: str, collection: str
) -> None:
    client = schema_app.test_client()
    sequences = client.get("/collections/sequences/items?limit=2").get_json()["features"]
    wanted = sequences[1]["id"]
    for url in (
        f"/collections/{collection}/items?sequence_id={wanted}",
        f"/api/v1/exports/sequences.geojson?collection={collection}&sequence_id={wanted}",
    ):
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        features = json.loads(response.get_data(as_text=True))["features"]
        assert features
        if collection == "sequences":
            assert [feature["id"] for feature in features] == [wanted]
        else:
            assert {feature["properties"]["sequence_id"] for feature in features} == {wanted}
    counted = client.get(f"/collections/{collection}/items?sequence_id={wanted}").get_json()
    assert counted.get("numberMatched", len(counted["features"])) == len(counted["features"])
    empty = client.get(f"/collections/{collection}/items?sequence_id=")
    assert empty.status_code == 400
    assert empty.get_json()["errors"][0]["field"] == "sequence_id"


@pytest.fixture(scope="module")
def schema_app(database_url: str) -> Iterator[Flask]:
    """The app with Mapillary configured at a closed local port: nothing leaves the machine."""
    nowhere = "https://127.0.0.1:9"  # https: the OAuth client refuses plain http
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "SECRET_KEY": "test-secret-for-the-suite-only-0123456789",
            "MAPILLARY_CLIENT_ID": "schemathesis",
            "MAPILLARY_CLIENT_SECRET": "schemathesis",
            "MAPILLARY_API_V3_URL": nowhere,
            "MAPILLARY_API_V4_URL": nowhere,
            "MAPILLARY_AUTHORIZE_URL": nowhere + "/connect",
            "MAPILLARY_TOKEN_URL": nowhere + "/token",
            "MAPILLARY_TIMEOUT_S": 1.0,
        }
    )
    yield app
    app.extensions["geoapi.engine"].dispose()


@pytest.fixture(scope="module")
def token(schema_app: Flask, seed_collection_module: dict[str, Any]) -> str:
    """A user with the seed example and a few demo sequences (once per module); their token."""
    engine: Engine = schema_app.extensions["geoapi.engine"]
    with Session(engine) as session:
        user = create_user(session, f"schemathesis-{uuid.uuid4().hex[:8]}")
        token = create_token(session, user.id)
        session.commit()
    for document in (
        seed_collection_module,
        {"type": "FeatureCollection", "features": demo_features(5)},
    ):
        import_feature_collection(engine, user.id, document)
    return token


@pytest.fixture(scope="module")
def seed_collection_module() -> dict[str, Any]:
    path = Path(__file__).parents[1] / "fixtures" / "mapillary" / "v3-sequences-example.json"
    document: dict[str, Any] = json.loads(path.read_text())
    return document


# Not schemathesis.toml (the live run's: it loads schemathesis_checks as hooks, imported here).
schema = schemathesis.openapi.from_dict(openapi_document(), config=SchemathesisConfig())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_openapi_document(case: Any, schema_app: Flask, token: str) -> None:
    # identity: schemathesis reads the WSGI response as sent (compression is tested apart)
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
    case.call_and_validate(app=schema_app, headers=headers, checks=CHECKS)


NUL_PROBES = [
    ("POST", "/api/v1/tours", {"title": "a\x00b"}),
    ("POST", "/api/v1/tours", {"title": "ok", "description": "a\x00b"}),
    ("GET", "/api/v1/tours?username=a%00b", None),
    ("GET", "/api/v1/sequences?username=a%00b", None),
    ("GET", "/api/v1/sequences?camera_make=a%00b", None),
    ("GET", "/collections/sequences/items?username=a%00b", None),
    ("GET", "/api/v1/exports/sequences.geojson?username=a%00b", None),
    ("GET", "/collections/sequences/items?filter=title%20%3D%20%27a%00b%27", None),
    ("GET", "/collections/sequences/items?sortby=%00", None),
    ("GET", "/collections/sequences/items?properties=%00", None),
    ("GET", "/collections/sequences/items?crs=%00", None),
    ("GET", "/collections/photos/items?filter-lang=cql2-json&filter=%5B%00%5D", None),
    ("POST", "/api/v1/sequence/create/", {"name": "a\x00b"}),
]


def test_nul_characters_are_client_errors(schema_app: Flask, token: str) -> None:
    client = schema_app.test_client()
    statuses = {}
    for method, url, body in NUL_PROBES:
        response = client.open(
            url, method=method, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        statuses[(method, url, repr(body))] = response.status_code
    assert {key: status for key, status in statuses.items() if status >= 500} == {}
    assert all(400 <= status < 500 for status in statuses.values())
