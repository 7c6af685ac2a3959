"""GET /api/v1/transport-types (the seeded tree) and GET /api/v1/tags (with counts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from helpers import make_feature
from sqlalchemy import Engine, text

from geoapi.store.importer import import_feature_collection
from geoapi.validation import ImportOptions

MakeUser = Callable[[str], tuple[Any, str]]
SEEDED = {
    "Air": [
        "BASE Jump", "Glider", "Hang Glide", "Parachute", "Paraglide", "Wingsuit", "Helicopter",
        "Plane", "Drone",
    ],
    "Earth": [
        "Bicycle", "Rollerskate", "Scooter", "Skateboard", "Walk", "Rock Climbing", "Car",
        "Electric Bicycle", "Electric Scooter", "Electric Car", "Wheelchair",
    ],
    "Snow": ["Ski", "Snowboard", "Snowshoe", "Ice Skating", "Snowmobile"],
    "Water": [
        "Canoe", "Kayak", "Kiteboard", "Paddleboard", "Row", "Scuba Dive", "Sail", "Surf", "Swim",
        "Windsurf", "Boat", "Freedive",
    ],
    "Other": ["Unlisted"],
}  # fmt: skip


def test_transport_type_tree(client: FlaskClient) -> None:
    response = client.get("/api/v1/transport-types")
    assert response.status_code == 200 and response.mimetype == "application/json"
    tree = response.json
    assert {p["name"]: [c["name"] for c in p["children"]] for p in tree} == SEEDED
    assert [p["name"] for p in tree] == list(SEEDED)
    other = next(p for p in tree if p["name"] == "Other")
    assert other["children"][0]["aliases"] == ["other"]
    assert all(isinstance(p["id"], int) for p in tree)


def add(engine: Engine, owner_id: Any, key: str, tags: tuple[str, ...]) -> None:
    feature = make_feature(key, [(1.0, 1.0)])
    outcome = import_feature_collection(engine, owner_id, feature, ImportOptions(tags=tags))
    assert outcome.outcomes[0].status == "imported"


@pytest.fixture
def tagged(make_user: MakeUser, engine: Engine) -> None:
    user, _ = make_user("tagger")
    add(engine, user.id, "a", ("river", "city", "night"))
    add(engine, user.id, "b", ("river", "city"))
    add(engine, user.id, "c", ("river", "rural"))
    with engine.begin() as conn:
        # A draft's tags are invisible, and so is a tag no sequence uses.
        draft_id = conn.execute(
            text(
                "INSERT INTO sequences (owner_id, title, status) VALUES (:o, 'd', 'draft')"
                " RETURNING id"
            ),
            {"o": user.id},
        ).scalar_one()
        conn.execute(text("INSERT INTO tags (name) VALUES ('secret'), ('unused')"))
        conn.execute(
            text(
                "INSERT INTO sequence_tags (sequence_id, tag_id)"
                " SELECT :s, id FROM tags WHERE name IN ('secret', 'river')"
            ),
            {"s": draft_id},
        )


def test_tags_with_counts_of_published_sequences(client: FlaskClient, tagged: None) -> None:
    response = client.get("/api/v1/tags")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.json == [
        {"name": "river", "count": 3},
        {"name": "city", "count": 2},
        {"name": "night", "count": 1},
        {"name": "rural", "count": 1},
    ]


def test_tags_by_prefix_and_limit(client: FlaskClient, tagged: None) -> None:
    assert client.get("/api/v1/tags?q=R").json == [
        {"name": "river", "count": 3},
        {"name": "rural", "count": 1},
    ]
    assert client.get("/api/v1/tags?q=%20ri%20").json == [{"name": "river", "count": 3}]
    assert client.get("/api/v1/tags?q=zzz").json == []
    assert client.get("/api/v1/tags?limit=1").json == [{"name": "river", "count": 3}]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("q=a%25", "q"),
        ("q=a_", "q"),
        ("q=" + "a" * 65, "q"),
        ("q=a%00", "q"),
        ("limit=0", "limit"),
    ],
)
def test_tags_bad_parameters(
    client: FlaskClient, engine: Engine, query: str, parameter: str
) -> None:
    response = client.get(f"/api/v1/tags?{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"][0]["field"] == parameter
