"""/api/v1/tours: ordered lists of the owner's sequences, owner-only writes, all-or-nothing."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import bearer, make_feature
from sqlalchemy import Engine, text

from geoapi.store.importer import import_feature_collection

PROBLEM = "application/problem+json"
MakeUser = Callable[[str], tuple[Any, str]]


def add_sequence(engine: Engine, owner_id: uuid.UUID, key: str, photos: int = 2) -> str:
    points = [(10.0 + i * 0.001, 45.0) for i in range(photos)]
    outcome = import_feature_collection(engine, owner_id, make_feature(key, points)).outcomes[0]
    assert outcome.status == "imported"
    return str(outcome.sequence_id)


def add_draft(engine: Engine, owner_id: uuid.UUID) -> str:
    with engine.begin() as conn:
        return str(
            conn.execute(
                text(
                    "INSERT INTO sequences (owner_id, title, status) VALUES (:o, 'draft', 'draft')"
                    " RETURNING id"
                ),
                {"o": owner_id},
            ).scalar_one()
        )


def tour_state(engine: Engine, tour_id: str) -> dict[str, Any] | None:
    """What the database holds for a tour: its row, tags and ordered sequence ids."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT title, description, updated_at FROM tours WHERE id = :t"), {"t": tour_id}
        ).one_or_none()
        if row is None:
            return None
        sequences = conn.execute(
            text(
                "SELECT sequence_id, position FROM tour_sequences WHERE tour_id = :t"
                " ORDER BY position"
            ),
            {"t": tour_id},
        ).all()
        tags = conn.execute(
            text(
                "SELECT t.name FROM tour_tags tt JOIN tags t ON t.id = tt.tag_id"
                " WHERE tt.tour_id = :t ORDER BY t.name"
            ),
            {"t": tour_id},
        ).scalars()
        return {
            **row._mapping,
            "sequences": [(str(s), p) for s, p in sequences],
            "tags": list(tags),
        }


def assert_problem(response: Any, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    if field is not None:
        assert field in [e["field"] for e in response.json.get("errors", [])], response.json


@pytest.fixture
def owner(make_user: MakeUser, engine: Engine) -> dict[str, Any]:
    user, token = make_user("owner")
    ids = [add_sequence(engine, user.id, f"k{i}", photos=i + 1) for i in range(3)]
    return {"user": user, "token": token, "ids": ids}


def create(client: FlaskClient, token: str, **body: Any) -> Any:
    return client.post("/api/v1/tours", json=body, headers=bearer(token))


def test_create_and_read_a_tour(client: FlaskClient, owner: dict[str, Any], engine: Engine) -> None:
    a, _b, c = owner["ids"]
    response = create(
        client,
        owner["token"],
        title=" Alps ",
        description="Three days",
        tags=["Hike", " alps "],
        sequence_ids=[c, a],
    )
    assert response.status_code == 201 and response.mimetype == "application/json"
    tour = response.json
    assert response.headers["Location"] == f"/api/v1/tours/{tour['id']}"
    assert tour["title"] == "Alps" and tour["description"] == "Three days"
    assert tour["tags"] == ["alps", "hike"] and tour["username"] == "owner"
    assert [s["id"] for s in tour["sequences"]] == [c, a]
    assert [s["position"] for s in tour["sequences"]] == [0, 1]
    assert [s["photo_count"] for s in tour["sequences"]] == [3, 1]
    lengths = {s["id"]: s["length_m"] for s in tour["sequences"]}
    assert lengths[a] == 0 and 150 < lengths[c] < 170  # 0.002 deg of longitude at 45 N
    assert tour["sequence_count"] == 2 and tour["total_photo_count"] == 4
    assert tour["total_length_m"] == pytest.approx(lengths[a] + lengths[c], abs=0.02)
    assert client.get(response.headers["Location"]).json == tour
    assert tour_state(engine, tour["id"])["sequences"] == [(c, 0), (a, 1)]  # type: ignore[index]


def test_create_without_sequences(client: FlaskClient, owner: dict[str, Any]) -> None:
    tour = create(client, owner["token"], title="Empty").json
    assert tour["sequences"] == [] and tour["total_length_m"] == 0
    assert tour["description"] is None and tour["tags"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "nul\x00"}, "title"),
        ({"title": "ok", "description": "d" * 10_001}, "description"),
        ({"title": "ok", "description": "\x00"}, "description"),
        ({"title": "ok", "tags": ["bad tag"]}, "tags[0]"),
        ({"title": "ok", "tags": "hike"}, "tags"),
        ({"title": "ok", "owner_id": "x"}, "owner_id"),
        ({"title": "ok", "sequence_ids": "abc"}, "sequence_ids"),
        ({"title": "ok", "sequence_ids": ["nope"]}, "sequence_ids[0]"),
        ({"title": "ok", "sequence_ids": [7]}, "sequence_ids[0]"),
        ({"title": "ok", "sequence_ids": [str(uuid.uuid4())]}, "sequence_ids[0]"),
    ],
)
def test_create_rejects_bad_bodies(
    client: FlaskClient, owner: dict[str, Any], engine: Engine, body: dict[str, Any], field: str
) -> None:
    assert_problem(create(client, owner["token"], **body), 422, field)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tours")).scalar_one() == 0


def test_create_needs_a_token(client: FlaskClient, engine: Engine) -> None:
    assert_problem(client.post("/api/v1/tours", json={"title": "x"}), 401)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tours")).scalar_one() == 0


def test_create_with_someone_elses_sequence_is_403_and_creates_nothing(
    client: FlaskClient, owner: dict[str, Any], make_user: MakeUser, engine: Engine
) -> None:
    other, _ = make_user("other")
    theirs = add_sequence(engine, other.id, "theirs")
    response = create(client, owner["token"], title="T", sequence_ids=[owner["ids"][0], theirs])
    assert_problem(response, 403, "sequence_ids[1]")
    assert theirs in response.json["detail"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tours")).scalar_one() == 0


def test_put_sequences_sets_the_order(client: FlaskClient, owner: dict[str, Any]) -> None:
    a, b, c = owner["ids"]
    tour_id = create(client, owner["token"], title="T", sequence_ids=[a]).json["id"]
    url = f"/api/v1/tours/{tour_id}/sequences"
    for order in ([b, c, a], [a], [], [c, b]):
        response = client.put(url, json={"sequence_ids": order}, headers=bearer(owner["token"]))
        assert response.status_code == 200
        assert [s["id"] for s in response.json["sequences"]] == order
        read = client.get(f"/api/v1/tours/{tour_id}").json
        assert [s["id"] for s in read["sequences"]] == order
        assert [s["position"] for s in read["sequences"]] == list(range(len(order)))


@pytest.mark.parametrize(
    ("make_body", "status", "field"),
    [
        (lambda ids, theirs: {"sequence_ids": [ids[0], ids[1], ids[0]]}, 422, "sequence_ids[2]"),
        (lambda ids, theirs: {"sequence_ids": [ids[0], "ghost"]}, 422, "sequence_ids[1]"),
        (
            lambda ids, theirs: {"sequence_ids": [str(uuid.UUID(int=5)), ids[1]]},
            422,
            "sequence_ids[0]",
        ),
        (lambda ids, theirs: {"sequence_ids": [ids[2], theirs]}, 403, "sequence_ids[1]"),
        (lambda ids, theirs: {"sequence_ids": ids[0]}, 422, "sequence_ids"),
        (lambda ids, theirs: {}, 422, "sequence_ids"),
        (lambda ids, theirs: {"sequence_ids": [ids[0]], "title": "x"}, 422, "title"),
        (lambda ids, theirs: [ids[0]], 422, "body"),
        (lambda ids, theirs: {"sequence_ids": [ids[0]] * 1001}, 422, "sequence_ids"),
    ],
)
def test_put_sequences_errors_change_nothing(
    client: FlaskClient,
    owner: dict[str, Any],
    make_user: MakeUser,
    engine: Engine,
    make_body: Callable[[list[str], str], Any],
    status: int,
    field: str,
) -> None:
    other, _ = make_user("other")
    theirs = add_sequence(engine, other.id, "theirs")
    a, b, _c = owner["ids"]
    tour_id = create(client, owner["token"], title="T", sequence_ids=[b, a]).json["id"]
    before = tour_state(engine, tour_id)
    response = client.put(
        f"/api/v1/tours/{tour_id}/sequences",
        json=make_body(owner["ids"], theirs),
        headers=bearer(owner["token"]),
    )
    assert_problem(response, status, field)
    if status == 403:
        assert theirs in response.json["detail"]
    assert tour_state(engine, tour_id) == before


def test_other_users_drafts_are_unknown_ids(
    client: FlaskClient, owner: dict[str, Any], make_user: MakeUser, engine: Engine
) -> None:
    other, _ = make_user("other")
    draft = add_draft(engine, other.id)
    tour_id = create(client, owner["token"], title="T").json["id"]
    response = client.put(
        f"/api/v1/tours/{tour_id}/sequences",
        json={"sequence_ids": [draft]},
        headers=bearer(owner["token"]),
    )
    assert_problem(response, 422, "sequence_ids[0]")


def test_own_drafts_in_a_tour_are_hidden_from_others(
    client: FlaskClient, owner: dict[str, Any], make_user: MakeUser, engine: Engine
) -> None:
    _, other_token = make_user("other")
    draft = add_draft(engine, owner["user"].id)
    a = owner["ids"][0]
    tour_id = create(client, owner["token"], title="T", sequence_ids=[draft, a]).json["id"]
    mine = client.get(f"/api/v1/tours/{tour_id}", headers=bearer(owner["token"])).json
    assert [s["id"] for s in mine["sequences"]] == [draft, a]
    for headers in ({}, bearer(other_token)):
        theirs = client.get(f"/api/v1/tours/{tour_id}", headers=headers).json
        assert [s["id"] for s in theirs["sequences"]] == [a]
        assert theirs["sequence_count"] == 1


def test_only_the_owner_changes_a_tour(
    client: FlaskClient, owner: dict[str, Any], make_user: MakeUser, engine: Engine
) -> None:
    other, other_token = make_user("other")
    theirs = add_sequence(engine, other.id, "theirs")
    a, b, _ = owner["ids"]
    tour_id = create(client, owner["token"], title="T", tags=["keep"], sequence_ids=[a, b]).json[
        "id"
    ]
    before = tour_state(engine, tour_id)
    url = f"/api/v1/tours/{tour_id}"
    for headers in (bearer(other_token), {}, bearer("gapi_forged")):
        expected = 403 if headers == bearer(other_token) else 401
        assert_problem(client.patch(url, json={"title": "mine"}, headers=headers), expected)
        assert_problem(
            client.put(f"{url}/sequences", json={"sequence_ids": [theirs]}, headers=headers),
            expected,
        )
        assert_problem(
            client.put(f"{url}/sequences", json={"sequence_ids": []}, headers=headers), expected
        )
        assert_problem(client.delete(url, headers=headers), expected)
    assert tour_state(engine, tour_id) == before


def test_patch_a_tour(client: FlaskClient, owner: dict[str, Any], engine: Engine) -> None:
    a, b, _ = owner["ids"]
    tour_id = create(
        client, owner["token"], title="T", description="d", tags=["x"], sequence_ids=[a]
    ).json["id"]
    url = f"/api/v1/tours/{tour_id}"
    response = client.patch(url, json={"title": "New"}, headers=bearer(owner["token"]))
    assert response.status_code == 200
    assert response.json["title"] == "New" and response.json["description"] == "d"
    assert response.json["tags"] == ["x"]
    response = client.patch(
        url,
        json={"description": None, "tags": ["Y", "z"], "sequence_ids": [b, a]},
        headers=bearer(owner["token"]),
    )
    assert response.json["description"] is None and response.json["tags"] == ["y", "z"]
    assert [s["id"] for s in response.json["sequences"]] == [b, a]
    before = tour_state(engine, tour_id)
    bad = client.patch(
        url, json={"title": "ok", "tags": ["fine", "NOT fine"]}, headers=bearer(owner["token"])
    )
    assert_problem(bad, 422, "tags[1]")
    assert_problem(
        client.patch(url, json={"title": "t" * 201}, headers=bearer(owner["token"])), 422, "title"
    )
    assert tour_state(engine, tour_id) == before


def test_delete_a_tour_keeps_its_sequences(
    client: FlaskClient, owner: dict[str, Any], engine: Engine
) -> None:
    tour_id = create(client, owner["token"], title="T", sequence_ids=owner["ids"]).json["id"]
    response = client.delete(f"/api/v1/tours/{tour_id}", headers=bearer(owner["token"]))
    assert response.status_code == 204
    assert tour_state(engine, tour_id) is None
    assert_problem(client.get(f"/api/v1/tours/{tour_id}"), 404)
    for sequence_id in owner["ids"]:
        assert client.get(f"/api/v1/sequences/{sequence_id}").status_code == 200
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tour_sequences")).scalar_one() == 0


def test_a_sequence_in_many_tours(client: FlaskClient, owner: dict[str, Any]) -> None:
    a, b, c = owner["ids"]
    t1 = create(client, owner["token"], title="1", sequence_ids=[a, b]).json["id"]
    t2 = create(client, owner["token"], title="2", sequence_ids=[b, c]).json["id"]
    t3 = create(client, owner["token"], title="3", sequence_ids=[c, b, a]).json["id"]
    assert client.get(f"/api/v1/sequences/{b}").json["properties"]["tour_ids"] == [t1, t2, t3]
    assert (
        client.delete(f"/api/v1/sequences/{b}", headers=bearer(owner["token"])).status_code == 204
    )
    assert [s["id"] for s in client.get(f"/api/v1/tours/{t1}").json["sequences"]] == [a]
    assert [s["id"] for s in client.get(f"/api/v1/tours/{t2}").json["sequences"]] == [c]
    t3_read = client.get(f"/api/v1/tours/{t3}").json["sequences"]
    assert [(s["id"], s["position"]) for s in t3_read] == [(c, 0), (a, 1)]


@pytest.mark.parametrize("tour_id", ["nope", "1; DROP TABLE tours", str(uuid.uuid4())])
def test_unknown_or_malformed_tour_is_404(
    client: FlaskClient, owner: dict[str, Any], tour_id: str
) -> None:
    url = f"/api/v1/tours/{tour_id}"
    token = bearer(owner["token"])
    assert_problem(client.get(url), 404)
    assert_problem(client.get(f"{url}/export.geojson"), 404)
    assert_problem(client.patch(url, json={"title": "x"}, headers=token), 404)
    assert_problem(client.delete(url, headers=token), 404)
    assert_problem(client.put(f"{url}/sequences", json={"sequence_ids": []}, headers=token), 404)


def test_list_tours_by_user_with_paging(
    client: FlaskClient, owner: dict[str, Any], make_user: MakeUser
) -> None:
    _, other_token = make_user("other")
    mine = [create(client, owner["token"], title=f"mine {i}").json["id"] for i in range(5)]
    create(client, other_token, title="theirs")
    seen: list[str] = []
    url: str | None = "/api/v1/tours?username=OWNER&limit=2"
    while url:
        body = client.get(url).json
        assert body["numberReturned"] == len(body["tours"]) <= 2
        assert all(t["username"] == "owner" for t in body["tours"])
        seen += [t["id"] for t in body["tours"]]
        nexts = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nexts[0].replace("http://localhost", "") if nexts else None
    assert seen == list(reversed(mine))  # newest first
    everyone = client.get("/api/v1/tours").json["tours"]
    assert len(everyone) == 6
    assert client.get("/api/v1/tours?username=nobody").json["tours"] == []


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("cursor=%%%", "cursor"),
        ("username=" + "u" * 201, "username"),
        ("username=k%00q", "username"),
    ],
)
def test_list_tours_bad_parameters(
    client: FlaskClient, owner: dict[str, Any], query: str, parameter: str
) -> None:
    assert_problem(client.get(f"/api/v1/tours?{query}"), 400, parameter)


def test_concurrent_deletes_and_tour_edits_keep_tours_dense(
    app: Flask, owner: dict[str, Any], engine: Engine
) -> None:
    """Sequence deletes racing tour edits: no deadlock or 500, and every tour stays dense."""
    user, token = owner["user"], owner["token"]
    ids = owner["ids"] + [add_sequence(engine, user.id, f"extra{i}") for i in range(21)]
    setup = app.test_client()
    tours = [create(setup, token, title=f"T{i}", sequence_ids=ids).json["id"] for i in range(4)]
    doomed = [ids[0::3], ids[1::3]]  # two deleters; ids[2::3] survive
    statuses: list[int] = []
    start = threading.Barrier(len(doomed) + len(tours))

    def delete_all(sequence_ids: list[str]) -> None:
        client = app.test_client()
        start.wait(timeout=30)
        for sequence_id in sequence_ids:
            response = client.delete(f"/api/v1/sequences/{sequence_id}", headers=bearer(token))
            statuses.append(response.status_code)

    def edit(tour_id: str, seed: int) -> None:
        client = app.test_client()
        rng = random.Random(seed)
        start.wait(timeout=30)
        for _ in range(20):
            chosen = rng.sample(ids, rng.randint(1, len(ids)))
            response = client.put(
                f"/api/v1/tours/{tour_id}/sequences",
                json={"sequence_ids": chosen},
                headers=bearer(token),
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=delete_all, args=(d,)) for d in doomed] + [
        threading.Thread(target=edit, args=(tour_id, i)) for i, tour_id in enumerate(tours)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert set(statuses) <= {200, 204, 422}, statuses
    assert statuses.count(204) == sum(len(d) for d in doomed)
    with engine.connect() as conn:
        for tour_id in tours:
            rows = (
                conn.execute(
                    text(
                        "SELECT position FROM tour_sequences WHERE tour_id = :t ORDER BY position"
                    ),
                    {"t": tour_id},
                )
                .scalars()
                .all()
            )
            assert rows == list(range(len(rows)))
