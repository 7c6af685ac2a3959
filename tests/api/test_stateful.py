"""A stateful walk over the live app (hypothesis): imports, edits, likes, tours, deletes and
reads in any order, by two users, with hostile values mixed in. Whatever the order, no answer is
a 5xx, and the database's invariants hold after every step: like counts exact, tour positions
dense, photo counts true."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from helpers import bearer, make_feature
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geoapi.store.users import create_token, create_user

TEXTS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\x00", "\ud800", "a" * 201, "", "  ", "Walk", "ok title"]),
)
TAGS = st.lists(st.one_of(st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True), TEXTS), max_size=4)
LISTINGS = ["/api/v1/sequences", "/collections/sequences/items", "/api/v1/tours"]
QUERY = st.one_of(
    st.sampled_from(["", "limit=1", "limit=²", "sort=most_liked", "bbox=0,0,1,1", "tag=a"]),
    st.sampled_from(["datetime=0001-01-01T00:00:00+01:00", "transport_type=water", "pano=true"]),
)


class Walk(RuleBasedStateMachine):
    sequences = Bundle("sequences")
    tours = Bundle("tours")

    def __init__(self, app: Flask, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.client = app.test_client()
        self.counter = 0
        self.owners: dict[str, str] = {}
        with self.engine.begin() as conn:
            conn.execute(text("TRUNCATE users, sequences, tours, tags RESTART IDENTITY CASCADE"))
        with Session(self.engine) as session:
            self.tokens = {}
            for name in ("ann", "bob"):
                user = create_user(session, name)
                self.tokens[name] = create_token(session, user.id)
            session.commit()

    def _ok(self, answer: Any) -> Any:
        assert answer.status_code < 500, (answer.status_code, answer.get_data(as_text=True))
        return answer

    @rule(target=sequences, who=st.sampled_from(["ann", "bob"]), photos=st.integers(1, 4))
    def import_one(self, who: str, photos: int) -> str:
        return self._import(who, photos)

    def _import(self, who: str, photos: int) -> str:
        self.counter += 1
        key = f"k{self.counter}"
        points = [(10 + self.counter * 0.01 + i * 1e-4, 45.0) for i in range(photos)]
        answer = self._ok(
            self.client.post(
                "/api/v1/imports/geojson",
                json=make_feature(key, points),
                headers=bearer(self.tokens[who]),
            )
        )
        results = answer.get_json().get("results") or [{}]
        sequence_id = str(results[0].get("sequence_id") or uuid.uuid4())
        self.owners[sequence_id] = who
        return sequence_id

    @rule(sequence=sequences, who=st.sampled_from(["ann", "bob"]), title=TEXTS, tags=TAGS)
    def edit(self, sequence: str, who: str, title: str, tags: list[str]) -> None:
        self._ok(
            self.client.patch(
                f"/api/v1/sequences/{sequence}",
                json={"title": title, "tags": tags},
                headers=bearer(self.tokens[who]),
            )
        )

    @rule(sequence=sequences, who=st.sampled_from(["ann", "bob"]), liked=st.booleans())
    def like(self, sequence: str, who: str, liked: bool) -> None:
        self._ok(
            self.client.put(
                f"/api/v1/sequences/{sequence}/like",
                json={"liked": liked},
                headers=bearer(self.tokens[who]),
            )
        )

    @rule(
        target=tours,
        who=st.sampled_from(["ann", "bob"]),
        members=st.lists(sequences, max_size=3, unique=True),
        title=st.one_of(st.just("A tour"), TEXTS),
    )
    def make_tour(self, who: str, members: list[str], title: str) -> str:
        if members and title == "A tour":  # mostly a valid tour: the members' owner's
            who = self.owners.get(members[0], who)
            members = [m for m in members if self.owners.get(m) == who]
        answer = self._ok(
            self.client.post(
                "/api/v1/tours",
                json={"title": title, "sequence_ids": members},
                headers=bearer(self.tokens[who]),
            )
        )
        return str((answer.get_json() or {}).get("id") or uuid.uuid4())

    @rule(target=tours, who=st.sampled_from(["ann", "bob"]), size=st.integers(1, 4))
    def tour_of_new_sequences(self, who: str, size: int) -> str:
        """A valid tour for sure: new sequences of one user, in order."""
        members = [self._import(who, 1) for _ in range(size)]
        answer = self._ok(
            self.client.post(
                "/api/v1/tours",
                json={"title": "Tour", "sequence_ids": members},
                headers=bearer(self.tokens[who]),
            )
        )
        assert answer.status_code == 201, answer.get_data(as_text=True)
        return str(answer.get_json()["id"])

    @rule(tour=tours, members=st.lists(sequences, max_size=3, unique=True))
    def reorder(self, tour: str, members: list[str]) -> None:
        for token in self.tokens.values():
            self._ok(
                self.client.put(
                    f"/api/v1/tours/{tour}/sequences",
                    json={"sequence_ids": members},
                    headers=bearer(token),
                )
            )

    @rule(sequence=sequences, who=st.sampled_from(["ann", "bob"]))
    def delete(self, sequence: str, who: str) -> None:
        self._ok(
            self.client.delete(f"/api/v1/sequences/{sequence}", headers=bearer(self.tokens[who]))
        )

    @rule(
        query=QUERY,
        path=st.sampled_from(
            ["/api/v1/sequences", "/collections/sequences/items", "/api/v1/tours"]
        ),
    )
    def read(self, query: str, path: str) -> None:
        self._ok(self.client.get(f"{path}?{query}"))

    @rule(tour=tours, which=st.integers(0, 2))
    def delete_a_member(self, tour: str, which: int) -> None:
        """The interaction that matters most: a tour's sequence deleted by its owner."""
        answer = self._ok(self.client.get(f"/api/v1/tours/{tour}"))
        if answer.status_code != 200 or not answer.get_json()["sequences"]:
            return
        body = answer.get_json()
        member = body["sequences"][which % len(body["sequences"])]["id"]
        token = bearer(self.tokens[body["username"]])
        self._ok(self.client.delete(f"/api/v1/sequences/{member}", headers=token))

    @rule(sequence=sequences)
    def read_one(self, sequence: str) -> None:
        for path in (
            f"/api/v1/sequences/{sequence}",
            f"/api/v1/sequences/{sequence}/export.geojson",
        ):
            self._ok(self.client.get(path))
        self._ok(self.client.get("/tiles/14/8646/5898.mvt"))

    @invariant()
    def database_is_consistent(self) -> None:
        with self.engine.connect() as conn:
            wrong_likes = conn.execute(
                text(
                    "SELECT count(*) FROM sequences s WHERE like_count <>"
                    " (SELECT count(*) FROM likes l WHERE l.sequence_id = s.id)"
                )
            ).scalar_one()
            gaps = conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT tour_id, max(position) + 1 AS n, count(*) AS c"
                    " FROM tour_sequences GROUP BY tour_id) t WHERE n <> c"
                )
            ).scalar_one()
            photos = conn.execute(
                text(
                    "SELECT count(*) FROM sequences s WHERE status = 'published' AND photo_count"
                    " <> (SELECT count(*) FROM photos p WHERE p.sequence_id = s.id)"
                )
            ).scalar_one()
        assert (wrong_likes, gaps, photos) == (0, 0, 0)


@pytest.mark.slow
def test_any_order_of_operations_keeps_the_app_and_its_data_sound(
    app: Flask, engine: Engine
) -> None:
    run_state_machine_as_test(
        lambda: Walk(app, engine),
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        ),
    )
