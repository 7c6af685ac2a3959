"""The geoapi command: db upgrade, users create, import, demo."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskCliRunner
from helpers import make_feature
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geoapi.store.users import user_for_token


def test_db_upgrade_is_idempotent(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "applied 0 migration(s)" in result.output


def test_users_create_prints_a_working_token_last(runner: FlaskCliRunner, engine: Engine) -> None:
    result = runner.invoke(args=["users", "create", "carol"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    with Session(engine) as session:
        user = user_for_token(session, token)
    assert user is not None and user.username == "carol"
    bad = runner.invoke(args=["users", "create", "no spaces"])
    assert bad.exit_code != 0 and "invalid username" in bad.output


def test_import_files(
    runner: FlaskCliRunner, engine: Engine, tmp_path: Path, make_user: Callable[..., Any]
) -> None:
    make_user("bulk")
    collection = {
        "type": "FeatureCollection",
        "features": [make_feature(f"s{i}", [(10 + i, 50), (10 + i, 50.001)]) for i in range(5)],
    }
    first = tmp_path / "a.geojson"
    first.write_text(json.dumps(collection))
    single = tmp_path / "b.json"
    single.write_text(json.dumps(make_feature("single", [(1, 1)])))
    result = runner.invoke(
        args=["import", str(first), str(single), "--user", "bulk", "--tag", "Bulk"]
    )
    assert result.exit_code == 0, result.output
    assert "imported 6 sequence(s) with 11 photo(s)" in result.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sequence_tags")).scalar() == 6
    again = runner.invoke(args=["import", str(first), "--user", "bulk"])
    assert "5 already existed" in again.output


def test_import_reports_failures_and_exits_nonzero(
    runner: FlaskCliRunner, tmp_path: Path, make_user: Callable[..., Any]
) -> None:
    make_user("bulk")
    bad = make_feature("bad", [(1, 1)])
    bad["properties"]["captured_at"] = "not a date"
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": [bad, make_feature("ok", [(2, 2)])]})
    )
    result = runner.invoke(args=["import", str(path), "--user", "bulk"])
    assert result.exit_code == 1
    assert "captured_at" in result.output
    assert "imported 1 sequence(s)" in result.output


def test_import_unknown_user_or_bad_file(
    runner: FlaskCliRunner, tmp_path: Path, make_user: Callable[..., Any]
) -> None:
    path = tmp_path / "x.json"
    path.write_text("{oops")
    assert "no user 'ghost'" in runner.invoke(args=["import", str(path), "--user", "ghost"]).output
    make_user("real")
    result = runner.invoke(args=["import", str(path), "--user", "real"])
    assert result.exit_code != 0
    assert "not valid JSON" in result.output


def test_demo_loads_seed_and_generated_sequences(runner: FlaskCliRunner, engine: Engine) -> None:
    result = runner.invoke(args=["demo", "--count", "20"])
    assert result.exit_code == 0, result.output
    assert "seed example: 1 imported" in result.output
    assert "generated: 20 imported" in result.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sequences")).scalar() == 21
        keys = conn.execute(
            text(
                "SELECT count(*) FROM photos"
                " WHERE image_key = 'LwrHXqFRN_pszCopTKHF_Q' AND ca = 323.032"
            )
        ).scalar()
    assert keys == 1
    again = runner.invoke(args=["demo", "--count", "20"])
    assert "generated: 0 imported, 20 existed" in again.output


def test_demo_sequences_have_titles_and_transport_types(
    runner: FlaskCliRunner, engine: Engine
) -> None:
    assert runner.invoke(args=["demo", "--count", "30"]).exit_code == 0
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.name, s.title FROM sequences s"
                " JOIN transport_types t ON t.id = s.transport_type_id"
            )
        ).all()
    assert len(rows) == 30  # every generated one; the seed example has no transport type
    assert {name for name, _ in rows} == {"Walk", "Bicycle", "Car"}
    assert all(title.startswith(name) for name, title in rows)


def test_serve_caps_workers_to_the_database_connection_limit(app: Any) -> None:
    """Pools larger than max_connections fail under load; serve starts fewer workers instead."""
    from geoapi.cli.serve import fit_workers

    with app.extensions["geoapi.engine"].connect() as conn:
        limit = int(conn.execute(text("SHOW max_connections")).scalar_one())
    assert fit_workers(app, 2) == (2, None)
    workers, warning = fit_workers(app, limit)  # limit workers x 20 connections cannot fit
    assert 1 <= workers < limit
    per_worker = 2 * (app.config["GEOAPI"].pool_size + app.config["GEOAPI"].max_overflow)
    assert workers * per_worker < limit
    assert warning is not None and "max_connections" in warning
