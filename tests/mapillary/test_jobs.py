"""Mapillary import jobs: the API, validation, claiming, retries with backoff, the worker, recovery.

The fault matrix over HTTP (429, 500, timeouts, malformed, vanished, foreign sequences) lives in
test_mapillary_workflow.py; here are the job mechanics themselves.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fake_mapillary import FakeMapillary, fake_mapillary_fixture  # noqa: F401
from flask import Flask
from flask.testing import FlaskClient
from helpers import bearer
from mapillary_support import (  # noqa: F401
    NOTHING,
    AppFactory,
    count_rows,
    link_account,
    make_mapillary_app_fixture,
    mly_app_fixture,
    mly_client_fixture,
)
from sqlalchemy import Engine, text

from geoapi.mapillary.jobs import JobPolicy, work
from geoapi.store.importer import import_feature_collection
from geoapi.store.jobs import claim_next, create_jobs, finish_job, get_job, recover_stale
from geoapi.validation import ImportOptions

MakeUser = Any
IMPORTS = "/api/v1/imports/mapillary"


def _linked(client: FlaskClient, make_user: MakeUser, name: str = "alice") -> tuple[Any, str]:
    user, token = make_user(name)
    assert link_account(client, token).status_code == 200
    return user, token


def _jobs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(text("SELECT * FROM import_jobs ORDER BY created_at, id")).all()


def _problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    body: dict[str, Any] = answer.get_json()
    return body


# --- request validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "sequence_keys"),
        ({"sequence_keys": []}, "sequence_keys"),
        ({"sequence_keys": "LMlIPUNhaj24h_q9v4ArNw"}, "sequence_keys"),
        ({"sequence_keys": ["a", ""]}, "sequence_keys[1]"),
        ({"sequence_keys": ["a", "  "]}, "sequence_keys[1]"),
        ({"sequence_keys": ["a", 3]}, "sequence_keys[1]"),
        ({"sequence_keys": ["a", "b", "a"]}, "sequence_keys[2]"),
        ({"sequence_keys": ["k" * 129]}, "sequence_keys[0]"),
        ({"sequence_keys": ["two words"]}, "sequence_keys[0]"),
        ({"sequence_keys": ["nul\x00"]}, "sequence_keys[0]"),
        ({"sequence_keys": ["a"], "title": "nul\x00"}, "title"),
        ({"sequence_keys": ["a"], "description": "nul\x00"}, "description"),
        ({"sequence_keys": [f"k{i}" for i in range(1001)]}, "sequence_keys"),
        ({"sequence_keys": ["a"], "transport_type": "Earth"}, "transport_type"),
        ({"sequence_keys": ["a"], "transport_type": "Teleport"}, "transport_type"),
        ({"sequence_keys": ["a"], "tags": ["Not A Tag!"]}, "tags"),
        ({"sequence_keys": ["a"], "title": ""}, "title"),
        ({"sequence_keys": ["a"], "description": 5}, "description"),
        ({"sequence_keys": ["a"], "tag": "typo"}, "tag"),
        ([{"sequence_keys": ["a"]}], "body"),
    ],
)
def test_bad_requests_are_422_naming_the_field_and_create_no_job(
    mly_client: FlaskClient,
    fake_mapillary: FakeMapillary,
    make_user: MakeUser,
    engine: Engine,
    body: Any,
    field: str,
) -> None:
    _user, token = _linked(mly_client, make_user)
    answer = mly_client.post(IMPORTS, json=body, headers=bearer(token))
    assert field in [e["field"] for e in _problem(answer, 422)["errors"]]
    assert _jobs(engine) == []
    assert fake_mapillary.calls("/image_ids") == []


def test_body_that_is_not_json_is_422(mly_client: FlaskClient, make_user: MakeUser) -> None:
    _user, token = _linked(mly_client, make_user)
    answer = mly_client.post(
        IMPORTS, data="sequence_keys=a", headers={**bearer(token), "Content-Type": "text/plain"}
    )
    assert _problem(answer, 422)["errors"][0]["field"] == "body"


def test_import_needs_a_token_and_a_linked_account(
    mly_client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    _problem(mly_client.post(IMPORTS, json={"sequence_keys": ["a"]}), 401)
    _user, token = make_user("alice")
    body = _problem(
        mly_client.post(IMPORTS, json={"sequence_keys": ["a"]}, headers=bearer(token)), 409
    )
    assert body["login_url"] == "http://localhost/auth/mapillary/login"
    assert _jobs(engine) == []


# --- inline jobs and status ------------------------------------------------------------------


def test_inline_import_applies_metadata_and_reports_each_job(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    user, token = _linked(mly_client, make_user)
    assert fake_mapillary.user is not None
    second = fake_mapillary.add_sequence(fake_mapillary.user, 3)
    fixture = fake_mapillary.fixture_sequence
    assert fixture is not None
    answer = mly_client.post(
        IMPORTS,
        json={
            "sequence_keys": [fixture.key, second.key],
            "title": "Harbour walk",
            "transport_type": "walk",
            "tags": ["Harbour", "sunny"],
        },
        headers=bearer(token),
    )
    assert answer.status_code == 202
    jobs = answer.get_json()["jobs"]
    assert [(j["sequence_key"], j["status"], j["attempts"]) for j in jobs] == [
        (fixture.key, "imported", 1),
        (second.key, "imported", 1),
    ]
    assert jobs[0]["url"] == f"/api/v1/imports/{jobs[0]['id']}"
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.id, s.title, t.name AS transport, s.source, s.photo_count, s.owner_id,"
                " array(SELECT g.name FROM sequence_tags st JOIN tags g ON g.id = st.tag_id"
                "       WHERE st.sequence_id = s.id ORDER BY g.name) AS tags"
                " FROM sequences s JOIN transport_types t ON t.id = s.transport_type_id"
                " WHERE s.mapillary_key = :k"
            ),
            {"k": second.key},
        ).one()
    assert (rows.title, rows.transport, rows.source, rows.photo_count) == (
        "Harbour walk",
        "Walk",
        "mapillary_v4",
        3,
    )
    assert rows.tags == ["harbour", "sunny"] and rows.owner_id == user.id
    status = mly_client.get(jobs[1]["url"], headers=bearer(token))
    assert status.status_code == 200
    assert status.get_json() | {"updated_at": None} == jobs[1] | {"updated_at": None}
    assert status.get_json()["sequence_id"] == str(rows.id)


def test_a_key_already_imported_is_exists_at_once_and_never_fetched(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    user, token = _linked(mly_client, make_user)
    fixture = fake_mapillary.fixture_sequence
    assert fixture is not None
    report = import_feature_collection(
        engine, user.id, fake_mapillary.v3_feature(fixture), ImportOptions()
    )
    answer = mly_client.post(IMPORTS, json={"sequence_keys": [fixture.key]}, headers=bearer(token))
    (job,) = answer.get_json()["jobs"]
    assert (job["status"], job["attempts"]) == ("exists", 0)
    assert job["sequence_id"] == str(report.outcomes[0].sequence_id)
    assert fake_mapillary.calls("/image_ids") == []
    assert count_rows(engine)["sequences"] == 1


def test_a_job_is_visible_to_its_owner_only(
    mly_client: FlaskClient, fake_mapillary: FakeMapillary, make_user: MakeUser
) -> None:
    _user, token = _linked(mly_client, make_user)
    _bob, bob_token = make_user("bob")
    assert fake_mapillary.fixture_sequence is not None
    answer = mly_client.post(
        IMPORTS,
        json={"sequence_keys": [fake_mapillary.fixture_sequence.key]},
        headers=bearer(token),
    )
    url = answer.get_json()["jobs"][0]["url"]
    assert mly_client.get(url, headers=bearer(token)).status_code == 200
    _problem(mly_client.get(url, headers=bearer(bob_token)), 404)
    _problem(mly_client.get(url), 401)
    _problem(mly_client.get(f"/api/v1/imports/{uuid.uuid4()}", headers=bearer(token)), 404)
    _problem(mly_client.get("/api/v1/imports/not-a-job-id", headers=bearer(token)), 404)


# --- the worker --------------------------------------------------------------------------------


@pytest.fixture(name="queued_app")
def queued_app_fixture(make_mapillary_app: AppFactory) -> Flask:
    """Jobs wait for a worker; a failed attempt is retried after 60 s."""
    return make_mapillary_app(JOBS_INLINE=False, JOB_RETRY_DELAY_S=60.0)


def _queue(client: FlaskClient, token: str, keys: list[str]) -> list[dict[str, Any]]:
    answer = client.post(IMPORTS, json={"sequence_keys": keys}, headers=bearer(token))
    assert answer.status_code == 202
    jobs: list[dict[str, Any]] = answer.get_json()["jobs"]
    return jobs


def test_worker_command_runs_queued_jobs(
    queued_app: Flask, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    client = queued_app.test_client()
    _user, token = _linked(client, make_user)
    assert fake_mapillary.user is not None and fake_mapillary.fixture_sequence is not None
    keys = [
        fake_mapillary.fixture_sequence.key,
        fake_mapillary.add_sequence(fake_mapillary.user).key,
    ]
    jobs = _queue(client, token, keys)
    assert [j["status"] for j in jobs] == ["queued", "queued"]
    assert count_rows(engine) == NOTHING

    runner = queued_app.test_cli_runner()
    first = runner.invoke(args=["worker", "--max-jobs", "1", "--worker-id", "w-test"])
    assert first.exit_code == 0, first.output
    assert "1 attempt(s) run (1 imported)" in first.output
    assert [r.status for r in _jobs(engine)].count("queued") == 1
    rest = runner.invoke(args=["worker", "--once"])
    assert rest.exit_code == 0, rest.output
    assert f"{keys[1]} imported" in rest.output
    for job in jobs:
        body = client.get(job["url"], headers=bearer(token)).get_json()
        assert (body["status"], body["attempts"]) == ("imported", 1)
    assert count_rows(engine)["sequences"] == 2


def test_a_transient_failure_is_retried_after_a_backoff(
    queued_app: Flask, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    client = queued_app.test_client()
    _user, token = _linked(client, make_user)
    assert fake_mapillary.fixture_sequence is not None
    (job,) = _queue(client, token, [fake_mapillary.fixture_sequence.key])
    settings = queued_app.config["GEOAPI"]
    fake_mapillary.server_error("/image_ids", times=2, status=503)  # the client retries once

    assert work(engine, settings, once=True) == 1
    row = _jobs(engine)[0]
    assert (row.status, row.attempts, row.locked_by) == ("queued", 1, None)
    assert row.reason.startswith("attempt 1 of 3 failed: Mapillary answered 503")
    assert row.reason.endswith("retrying in 60 s")
    assert timedelta(seconds=55) < row.run_after - datetime.now(UTC) <= timedelta(seconds=60)
    assert count_rows(engine) == NOTHING

    assert work(engine, settings, once=True) == 0  # not due yet
    with engine.begin() as conn:
        conn.execute(text("UPDATE import_jobs SET run_after = now()"))
    assert work(engine, settings, once=True) == 1
    body = client.get(job["url"], headers=bearer(token)).get_json()
    assert (body["status"], body["attempts"], body["reason"]) == ("imported", 2, None)


def test_backoff_doubles_with_each_attempt() -> None:
    policy = JobPolicy(retry_delay_s=30.0)
    assert [policy.delay(n) for n in (1, 2, 3)] == [30.0, 60.0, 120.0]


# --- claiming ----------------------------------------------------------------------------------


def _create_jobs(
    engine: Engine, user_id: uuid.UUID, count: int, max_attempts: int = 3
) -> list[Any]:
    with engine.begin() as conn:
        return create_jobs(
            conn, user_id, "mapillary_v4", [f"k{i}" for i in range(count)], {}, max_attempts
        )


def test_two_workers_never_take_the_same_job(
    mly_app: Flask, make_user: MakeUser, engine: Engine
) -> None:
    user, _token = make_user("alice")
    jobs = _create_jobs(engine, user.id, 60)
    start = threading.Barrier(2)
    taken: dict[str, list[uuid.UUID]] = {"a": [], "b": []}

    def claim_all(name: str) -> None:
        start.wait()
        with engine.connect() as conn:
            while True:
                job = claim_next(conn, name)
                conn.commit()
                if job is None:
                    return
                taken[name].append(job.id)

    threads = [threading.Thread(target=claim_all, args=(name,)) for name in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not set(taken["a"]) & set(taken["b"])
    assert sorted(taken["a"] + taken["b"]) == sorted(job.id for job in jobs)
    rows = _jobs(engine)
    assert {(r.status, r.attempts) for r in rows} == {("running", 1)}
    assert {r.locked_by for r in rows} <= {"a", "b"}


def test_two_worker_loops_import_every_sequence_once(
    mly_app: Flask, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    client = mly_app.test_client()
    user, _token = _linked(client, make_user)
    assert fake_mapillary.user is not None
    keys = [fake_mapillary.add_sequence(fake_mapillary.user, 3).key for _ in range(8)]
    with engine.begin() as conn:
        create_jobs(conn, user.id, "mapillary_v4", keys, {}, 3)
    settings = mly_app.config["GEOAPI"]
    counts: list[int] = []
    threads = [
        threading.Thread(
            target=lambda n=n: counts.append(work(engine, settings, worker_id=f"w{n}", once=True))
        )
        for n in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(counts) == 8
    assert {(r.status, r.attempts) for r in _jobs(engine)} == {("imported", 1)}
    assert count_rows(engine)["sequences"] == 8
    assert len(fake_mapillary.calls("/image_ids")) == 8


# --- crash recovery ----------------------------------------------------------------------------


def _age_locks(engine: Engine, seconds: int = 3600) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE import_jobs SET locked_at = now() - make_interval(secs => :s)"),
            {"s": seconds},
        )


def test_a_crashed_job_is_queued_again_and_completes(
    mly_app: Flask, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    user, _token = _linked(mly_app.test_client(), make_user)
    assert fake_mapillary.fixture_sequence is not None
    with engine.begin() as conn:
        create_jobs(conn, user.id, "mapillary_v4", [fake_mapillary.fixture_sequence.key], {}, 3)
        assert claim_next(conn, "dead-worker") is not None  # ... which then dies
    settings = mly_app.config["GEOAPI"]
    policy = JobPolicy(retry_delay_s=0, stale_after_s=600)
    _age_locks(engine, seconds=60)
    assert work(engine, settings, policy=policy, once=True) == 0  # 60 s is not stale yet
    assert _jobs(engine)[0].status == "running"
    _age_locks(engine)
    assert work(engine, settings, policy=policy, once=True) == 1
    row = _jobs(engine)[0]
    assert (row.status, row.attempts) == ("imported", 2)
    assert count_rows(engine)["sequences"] == 1


def test_a_job_that_keeps_crashing_ends_failed_after_max_attempts(
    mly_app: Flask, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    user, _token = make_user("alice")
    _create_jobs(engine, user.id, 1, max_attempts=2)
    for expected in ("queued", "failed"):
        with engine.begin() as conn:
            assert claim_next(conn, "doomed-worker") is not None
        _age_locks(engine)
        with engine.begin() as conn:
            assert recover_stale(conn, 600) == 1
        row = _jobs(engine)[0]
        assert (row.status, row.locked_by) == (expected, None)
    assert row.attempts == 2
    assert row.reason == (
        "gave up after 2 attempt(s): the worker running the last one stopped responding"
    )
    assert row.finished_at is not None
    assert work(engine, mly_app.config["GEOAPI"], once=True) == 0
    assert fake_mapillary.calls("/image_ids") == []


def test_a_worker_whose_job_was_recovered_cannot_overwrite_it(
    make_user: MakeUser, engine: Engine
) -> None:
    user, _token = make_user("alice")
    _create_jobs(engine, user.id, 1)
    with engine.begin() as conn:
        slow = claim_next(conn, "slow-worker")
    assert slow is not None
    _age_locks(engine)
    with engine.begin() as conn:
        recover_stale(conn, 600)
        fresh = claim_next(conn, "fresh-worker")
    assert fresh is not None and fresh.id == slow.id
    with engine.begin() as conn:
        assert finish_job(conn, slow, "slow-worker", "failed", "late") is None
        done = finish_job(conn, fresh, "fresh-worker", "exists", None)
    assert done is not None and done.status == "exists"
    with engine.connect() as conn:
        final = get_job(conn, slow.id)
    assert final is not None and (final.status, final.reason) == ("exists", None)


def test_a_job_whose_account_was_unlinked_fails_with_a_clear_reason(
    mly_app: Flask, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    user, _token = _linked(mly_app.test_client(), make_user)
    _create_jobs(engine, user.id, 1)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM mapillary_accounts"))
    assert work(engine, mly_app.config["GEOAPI"], once=True) == 1
    row = _jobs(engine)[0]
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.reason == "no Mapillary account is linked; log in to Mapillary first"
    assert fake_mapillary.calls("/image_ids") == []
