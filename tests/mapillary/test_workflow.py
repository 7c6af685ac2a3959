"""The seed's import workflow end to end, over real HTTP on both sides.

geoapi is served on a local port and driven with ``requests`` as a browser/API client would;
it talks to the fake Mapillary over real HTTP too. Login → Mapillary's consent page → callback →
list (several pages) → import selected keys → jobs complete → the rows are in PostGIS. Then
each upstream fault ends in a clear job status with nothing half-written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import requests
from fake_mapillary import FakeMapillary, FakeSequence, fake_mapillary_fixture  # noqa: F401
from flask import Flask
from helpers import bearer, serve_in_thread
from mapillary_support import (  # noqa: F401
    AppFactory,
    count_rows,
    make_mapillary_app_fixture,
)
from sqlalchemy import Engine, text

from geoapi.mapillary.jobs import work
from geoapi.store.importer import import_feature_collection
from geoapi.validation import ImportOptions

MakeUser = Any
Serve = Callable[[Flask], str]


@pytest.fixture(name="serve")
def serve_fixture() -> Iterator[Serve]:
    """Serve apps on free 127.0.0.1 ports; the base URL of each."""
    with ExitStack() as servers:

        def serve(app: Flask) -> str:
            return servers.enter_context(serve_in_thread(app))

        yield serve


def _link(browser: requests.Session, base: str, token: str, fake: FakeMapillary) -> dict[str, Any]:
    """GET login with the API token; the browser follows Mapillary's consent back to us."""
    answer = browser.get(f"{base}/auth/mapillary/login", headers=bearer(token), timeout=10)
    assert answer.status_code == 200, answer.text
    assert [r.status_code for r in answer.history] == [302, 302]
    assert answer.history[1].url.startswith(f"{fake.url}/connect?")
    assert answer.url.startswith(f"{base}/auth/mapillary/callback?code=")
    # Our API token went to geoapi only, never to Mapillary's consent page.
    assert "Authorization" not in fake.calls("/connect")[-1].headers
    body: dict[str, Any] = answer.json()
    return body


def _photos(engine: Engine, key: str) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT p.image_key, p.ca, p.position, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat,"
                " ST_SRID(p.geom) AS srid FROM photos p JOIN sequences s ON s.id = p.sequence_id"
                " WHERE s.mapillary_key = :k ORDER BY p.position"
            ),
            {"k": key},
        ).all()


def _assert_in_postgis(engine: Engine, sequence: FakeSequence, owner_id: Any) -> None:
    photos = _photos(engine, sequence.key)
    assert [p.image_key for p in photos] == [i.id for i in sequence.images]
    assert [p.ca for p in photos] == [i.compass_angle for i in sequence.images]
    assert [(p.lon, p.lat) for p in photos] == [(i.lon, i.lat) for i in sequence.images]
    assert [p.position for p in photos] == list(range(len(sequence.images)))
    assert {p.srid for p in photos} == {4326}
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT s.owner_id, s.photo_count, ST_NPoints(s.geom) AS points, s.pano,"
                " s.mapillary_username, s.mapillary_user_key, s.status,"
                " (extract(epoch FROM s.captured_at) * 1000)::bigint AS captured_ms"
                " FROM sequences s WHERE s.mapillary_key = :k"
            ),
            {"k": sequence.key},
        ).one()
    n = len(sequence.images)
    assert (row.owner_id, row.photo_count, row.status) == (owner_id, n, "published")
    assert row.points == max(n, 2)
    assert (row.mapillary_username, row.mapillary_user_key) == ("pierregeo", "102153268628347")
    assert row.captured_ms == sequence.images[0].captured_at


def test_the_seed_workflow_over_http(
    make_mapillary_app: AppFactory,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
    serve: Serve,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    base = serve(make_mapillary_app())
    user, token = make_user("alice")
    me, fixture = fake_mapillary.user, fake_mapillary.fixture_sequence
    assert me is not None and fixture is not None
    mine = [
        fake_mapillary.add_sequence(me, 2 + n, start=f"2021-06-1{n}T08:00:00.000Z", lon=13.4 + n)
        for n in range(5)
    ]
    fake_mapillary.add_sequence(fake_mapillary.add_user("bob"), 3)  # someone else's
    fake_mapillary.page_size = 4  # 24 images of ours: six pages

    with requests.Session() as browser:
        linked = _link(browser, base, token, fake_mapillary)
        assert linked["mapillary_username"] == "pierregeo"

        listing = browser.get(
            f"{base}/api/v1/mapillary/sequences", headers=bearer(token), timeout=10
        ).json()
        assert len(fake_mapillary.calls("/images")) == 6
        assert listing["count"] == 6
        assert {s["key"] for s in listing["sequences"]} == {fixture.key, *(s.key for s in mine)}
        assert not any(s["imported"] for s in listing["sequences"])

        selected = [fixture, mine[0], mine[3]]
        answer = browser.post(
            f"{base}/api/v1/imports/mapillary",
            json={
                "sequence_keys": [s.key for s in selected],
                "transport_type": "Bicycle",
                "tags": ["seed"],
            },
            headers=bearer(token),
            timeout=30,
        )
        assert answer.status_code == 202
        jobs = answer.json()["jobs"]
        assert [(j["sequence_key"], j["status"]) for j in jobs] == [
            (s.key, "imported") for s in selected
        ]
        for job in jobs:
            status = browser.get(f"{base}{job['url']}", headers=bearer(token), timeout=10).json()
            assert (status["status"], status["attempts"], status["reason"]) == ("imported", 1, None)
            assert status["sequence_id"] == job["sequence_id"]

        again = browser.get(f"{base}/api/v1/mapillary/sequences", headers=bearer(token), timeout=10)
        flags = {s["key"]: s["imported"] for s in again.json()["sequences"]}
        assert {key for key, done in flags.items() if done} == {s.key for s in selected}

        # Importing the same keys again never duplicates them.
        repeat = browser.post(
            f"{base}/api/v1/imports/mapillary",
            json={"sequence_keys": [fixture.key]},
            headers=bearer(token),
            timeout=10,
        ).json()["jobs"]
        assert repeat[0]["status"] == "exists"

    for sequence in selected:
        _assert_in_postgis(engine, sequence, user.id)
    assert count_rows(engine) == {
        "sequences": 3,
        "photos": sum(len(s.images) for s in selected),
        "sequence_tags": 3,
    }
    # Seed fixture values, exactly: image keys and compass angles as Mapillary gave them.
    assert [(p.image_key, p.ca) for p in _photos(engine, fixture.key)] == [
        ("LwrHXqFRN_pszCopTKHF_Q", 323.032),
        ("Aufjv2hdCKwg9LySWWVSwg", 320.892),
        ("QEVZ1tp-PmrwtqhSwdW9fQ", 333.622),
        ("G_SIwxNcioYeutZuA8Rurw", 329.948),
    ]
    # No Mapillary token, refresh token, code or secret in any log record.
    logged = caplog.text
    assert "/auth/mapillary/callback?code=***" in logged  # the access log line, scrubbed
    codes = [call.form["code"] for call in fake_mapillary.calls("/token")]
    assert codes and all(codes)
    secrets = [
        *fake_mapillary.tokens,
        *fake_mapillary.refresh_tokens,
        fake_mapillary.client_secret,
        *codes,
    ]
    for secret in secrets:
        assert secret not in logged and secret.replace("|", "%7C") not in logged


def test_the_workflow_with_a_worker_process_loop(
    make_mapillary_app: AppFactory,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
    serve: Serve,
) -> None:
    app = make_mapillary_app(JOBS_INLINE=False)
    base = serve(app)
    user, token = make_user("alice")
    me = fake_mapillary.user
    assert me is not None
    selected = [fake_mapillary.add_sequence(me, n) for n in (1, 2, 7)]
    stop = threading.Event()
    worker = threading.Thread(
        target=work,
        args=(app.extensions["geoapi.engine"], app.config["GEOAPI"]),
        kwargs={"poll_interval_s": 0.05, "stop": stop, "worker_id": "test-loop"},
        daemon=True,
    )
    with requests.Session() as browser:
        _link(browser, base, token, fake_mapillary)
        jobs = browser.post(
            f"{base}/api/v1/imports/mapillary",
            json={"sequence_keys": [s.key for s in selected]},
            headers=bearer(token),
            timeout=10,
        ).json()["jobs"]
        assert {j["status"] for j in jobs} == {"queued"}
        worker.start()
        deadline = time.monotonic() + 20
        statuses: set[str] = set()
        while time.monotonic() < deadline:
            statuses = {
                browser.get(f"{base}{j['url']}", headers=bearer(token), timeout=10).json()["status"]
                for j in jobs
            }
            if statuses == {"imported"}:
                break
            time.sleep(0.05)
    stop.set()
    worker.join(timeout=10)
    assert statuses == {"imported"}
    for sequence in selected:
        _assert_in_postgis(engine, sequence, user.id)


# --- faults --------------------------------------------------------------------------------

Setup = Callable[[FakeMapillary, FakeSequence, Engine, MakeUser], None]


def _bobs_sequence(fake: FakeMapillary, sequence: FakeSequence, *_: Any) -> None:
    sequence.user = fake.add_user("bob")


def _imported_by_another_user(
    fake: FakeMapillary, sequence: FakeSequence, engine: Engine, make_user: MakeUser
) -> None:
    carol, _token = make_user("carol")
    import_feature_collection(engine, carol.id, fake.v3_feature(sequence), ImportOptions())


def _revoke(fake: FakeMapillary, *_: Any) -> None:
    for token in [t for t in fake.tokens if t != fake.token]:
        del fake.tokens[token]


FAULTS: dict[str, tuple[dict[str, Any], Setup, str, int, str | None]] = {
    # name: (settings, setup, final status, attempts, reason fragment)
    "429-then-success": (
        {},
        lambda fake, *_: fake.rate_limit("/image_ids", times=1, retry_after="1"),
        "imported",
        1,
        None,
    ),
    "500-then-success-on-the-next-attempt": (
        {},
        lambda fake, *_: fake.server_error("/images", times=2),
        "imported",
        2,
        None,
    ),
    "500-exhausted": (
        {},
        lambda fake, *_: fake.server_error("/image_ids", times=100),
        "failed",
        3,
        "gave up after 3 attempt(s): Mapillary answered 500",
    ),
    "timeout": (
        {"MAPILLARY_TIMEOUT_S": 0.3, "JOB_MAX_ATTEMPTS": 2},
        lambda fake, *_: fake.slow("/image_ids", 3.0, times=100),
        "failed",
        2,
        "gave up after 2 attempt(s): Mapillary did not answer in time",
    ),
    "malformed-json": (
        {},
        lambda fake, *_: fake.malformed("/images"),
        "failed",
        1,
        "Mapillary sent an unusable answer: Mapillary sent a non-JSON answer",
    ),
    "vanished-mid-import": (
        {},
        lambda fake, seq, *_: fake.vanish_after_ids(seq.key),
        "failed",
        1,
        "Mapillary has no sequence",
    ),
    "image-vanished-mid-import": (
        {},
        lambda fake, seq, *_: fake.vanish_after_ids(seq.key, [seq.images[1].id]),
        "failed",
        1,
        "unusable answer",
    ),
    "owned-by-someone-else": (
        {},
        _bobs_sequence,
        "failed",
        1,
        "belongs to Mapillary user 'bob', not to the linked account 'pierregeo'",
    ),
    "imported-by-another-geoapi-user": (
        {},
        _imported_by_another_user,
        "failed",
        1,
        "was imported by another user",
    ),
    "token-revoked": ({}, _revoke, "failed", 1, "log in to Mapillary again"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_ends_in_a_clear_status_with_nothing_half_written(
    make_mapillary_app: AppFactory,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
    serve: Serve,
    fault: str,
) -> None:
    overrides, setup, status, attempts, reason = FAULTS[fault]
    base = serve(make_mapillary_app(**overrides))
    user, token = make_user("alice")
    assert fake_mapillary.user is not None
    sequence = fake_mapillary.add_sequence(fake_mapillary.user, 5)
    with requests.Session() as browser:
        _link(browser, base, token, fake_mapillary)
        setup(fake_mapillary, sequence, engine, make_user)
        before = count_rows(engine)
        answer = browser.post(
            f"{base}/api/v1/imports/mapillary",
            json={"sequence_keys": [sequence.key], "tags": ["fault"]},
            headers=bearer(token),
            timeout=60,
        )
        assert answer.status_code == 202
        (job,) = answer.json()["jobs"]
        shown = browser.get(f"{base}{job['url']}", headers=bearer(token), timeout=10)
    body = shown.json()
    assert (body["status"], body["attempts"]) == (status, attempts), body["reason"]
    if reason is None:
        assert body["reason"] is None and body["sequence_id"]
        _assert_in_postgis(engine, sequence, user.id)
    else:
        assert reason in body["reason"]
        assert body["sequence_id"] is None
        assert count_rows(engine) == before  # nothing of this sequence was written
        with engine.connect() as conn:
            mine = conn.execute(
                text("SELECT count(*) FROM sequences WHERE owner_id = :u"), {"u": user.id}
            ).scalar_one()
        assert mine == 0
    for secret in fake_mapillary.tokens:
        assert secret not in answer.text and secret not in shown.text
