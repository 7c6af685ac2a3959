"""PUT /api/v1/sequences/{id}/like: idempotent, never by the owner, exact under concurrency."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from helpers import bearer, make_feature, serve_in_thread
from sqlalchemy import Engine, text

from geoapi import create_app
from geoapi.store.importer import import_feature_collection

PROBLEM = "application/problem+json"
MakeUser = Callable[[str], tuple[Any, str]]


def add_sequence(engine: Engine, owner_id: uuid.UUID, key: str = "k1") -> uuid.UUID:
    feature = make_feature(key, [(13.40, 52.52), (13.401, 52.521)])
    outcome = import_feature_collection(engine, owner_id, feature).outcomes[0]
    assert outcome.sequence_id is not None
    return outcome.sequence_id


def counts(engine: Engine, sequence_id: uuid.UUID) -> tuple[int, int]:
    """(sequences.like_count, rows in likes) for one sequence."""
    with engine.connect() as conn:
        like_count = conn.execute(
            text("SELECT like_count FROM sequences WHERE id = :s"), {"s": sequence_id}
        ).scalar_one()
        rows = conn.execute(
            text("SELECT count(*) FROM likes WHERE sequence_id = :s"), {"s": sequence_id}
        ).scalar_one()
    return int(like_count), int(rows)


def like(client: FlaskClient, sequence_id: object, token: str | None, body: Any) -> Any:
    headers = bearer(token) if token else {}
    return client.put(f"/api/v1/sequences/{sequence_id}/like", json=body, headers=headers)


def test_like_and_unlike_are_idempotent(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    owner, _ = make_user("owner")
    _, ann = make_user("ann")
    _, bob = make_user("bob")
    sequence_id = add_sequence(engine, owner.id)
    steps = [
        (ann, True, 1),
        (ann, True, 1),  # liking twice counts once
        (bob, True, 2),
        (ann, False, 1),
        (ann, False, 1),  # unliking twice changes nothing
        (bob, False, 0),
        (bob, False, 0),
    ]
    for token, liked, expected in steps:
        response = like(client, sequence_id, token, {"liked": liked})
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        assert response.json == {"liked": liked, "like_count": expected}
        assert counts(engine, sequence_id) == (expected, expected)


def test_the_owner_cannot_like(client: FlaskClient, make_user: MakeUser, engine: Engine) -> None:
    owner, token = make_user("owner")
    sequence_id = add_sequence(engine, owner.id)
    for liked in (True, False):
        response = like(client, sequence_id, token, {"liked": liked})
        assert response.status_code == 403 and response.mimetype == PROBLEM
    assert counts(engine, sequence_id) == (0, 0)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer gapi_wrong"}, {"X": "y"}])
def test_liking_needs_a_valid_token(
    client: FlaskClient, make_user: MakeUser, engine: Engine, headers: dict[str, str]
) -> None:
    owner, _ = make_user("owner")
    sequence_id = add_sequence(engine, owner.id)
    response = client.put(
        f"/api/v1/sequences/{sequence_id}/like", json={"liked": True}, headers=headers
    )
    assert response.status_code == 401 and response.mimetype == PROBLEM
    assert counts(engine, sequence_id) == (0, 0)


@pytest.mark.parametrize("sequence_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
def test_unknown_sequence_is_404(
    client: FlaskClient, make_user: MakeUser, sequence_id: str
) -> None:
    _, token = make_user("fan")
    response = like(client, sequence_id, token, {"liked": True})
    assert response.status_code == 404 and response.mimetype == PROBLEM


def test_someone_elses_draft_is_404(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    owner, _ = make_user("owner")
    _, token = make_user("fan")
    with engine.begin() as conn:
        draft_id = conn.execute(
            text(
                "INSERT INTO sequences (owner_id, title, status) VALUES (:o, 'd', 'draft')"
                " RETURNING id"
            ),
            {"o": owner.id},
        ).scalar_one()
    response = like(client, draft_id, token, {"liked": True})
    assert response.status_code == 404
    assert counts(engine, draft_id) == (0, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"liked": "true"}, "liked"),
        ({"liked": 1}, "liked"),
        ({"liked": None}, "liked"),
        ({}, "liked"),
        ({"liked": True, "count": 5}, "count"),
        ([True], "body"),
        (True, "body"),
        (None, "body"),
    ],
)
def test_body_must_be_a_boolean(
    client: FlaskClient, make_user: MakeUser, engine: Engine, body: Any, field: str
) -> None:
    owner, _ = make_user("owner")
    _, token = make_user("fan")
    sequence_id = add_sequence(engine, owner.id)
    response = like(client, sequence_id, token, body)
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert field in [e["field"] for e in response.json["errors"]]
    assert counts(engine, sequence_id) == (0, 0)


def test_invalid_json_is_422(client: FlaskClient, make_user: MakeUser, engine: Engine) -> None:
    owner, _ = make_user("owner")
    _, token = make_user("fan")
    sequence_id = add_sequence(engine, owner.id)
    response = client.put(
        f"/api/v1/sequences/{sequence_id}/like",
        data=b"liked=true",
        headers=bearer(token),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "body"


def test_like_count_appears_on_the_sequence(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    owner, _ = make_user("owner")
    tokens = [make_user(f"fan{i}")[1] for i in range(3)]
    sequence_id = add_sequence(engine, owner.id)
    for token in tokens:
        like(client, sequence_id, token, {"liked": True})
    props = client.get(f"/api/v1/sequences/{sequence_id}").json["properties"]
    assert props["like_count"] == 3


# Concurrency ----------------------------------------------------------------------------------

USERS = 20
ROUNDS = 25


@pytest.fixture
def live_server(database_url: str, engine: Engine) -> Iterator[str]:
    """The app served over real HTTP by a threaded server; one pooled connection per request."""
    app: Flask = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "POOL_SIZE": USERS + 5,
            "MAX_OVERFLOW": 0,
        }
    )
    try:
        with serve_in_thread(app) as url:
            yield url
    finally:
        app.extensions["geoapi.engine"].dispose()


def test_like_count_stays_exact_under_concurrency(
    live_server: str, make_user: MakeUser, engine: Engine
) -> None:
    owner, _ = make_user("owner")
    sequence_id = add_sequence(engine, owner.id)
    tokens = [make_user(f"user{i}")[1] for i in range(USERS)]
    url = f"{live_server}/api/v1/sequences/{sequence_id}/like"
    start = threading.Barrier(USERS)
    final: dict[int, bool] = {}
    failures: list[str] = []

    def run(index: int) -> None:
        rng = random.Random(index)
        try:
            with requests.Session() as http:
                start.wait(timeout=30)
                for _ in range(ROUNDS):
                    liked = rng.random() < 0.6
                    response = http.put(
                        url, json={"liked": liked}, headers=bearer(tokens[index]), timeout=30
                    )
                    body = response.json()
                    if response.status_code != 200 or body["liked"] is not liked:
                        failures.append(f"user{index}: {response.status_code} {body}")
                        return
                    if not 0 <= body["like_count"] <= USERS:
                        failures.append(f"user{index}: impossible count {body}")
                    final[index] = liked
        except Exception as exc:  # reported below; an exception in a thread would be lost
            failures.append(f"user{index}: {exc!r}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(USERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures[:5]
    assert len(final) == USERS
    expected = sum(final.values())
    assert counts(engine, sequence_id) == (expected, expected)
    with engine.connect() as conn:
        likers = conn.execute(
            text(
                "SELECT u.username FROM likes l JOIN users u ON u.id = l.user_id"
                " WHERE l.sequence_id = :s ORDER BY u.username"
            ),
            {"s": sequence_id},
        ).scalars()
        assert sorted(likers) == sorted(f"user{i}" for i, liked in final.items() if liked)
