"""Migrations: idempotent, tracked, forward-only; the schema's own guards."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from geoapi.store.migrations import load_migrations, upgrade


def test_upgrade_is_idempotent(engine: Engine) -> None:
    assert upgrade(engine) == []
    with engine.connect() as conn:
        versions = (
            conn.execute(text("SELECT version FROM schema_migrations ORDER BY 1")).scalars().all()
        )
    assert versions == [m.version for m in load_migrations()]


def test_changed_migration_is_refused(engine: Engine, tmp_path: Path) -> None:
    for migration in load_migrations():
        (tmp_path / f"{migration.name}.sql").write_text(migration.sql + "\n-- edited\n")
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        upgrade(engine, tmp_path)


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_create.sql").write_text("SELECT 1")
    with pytest.raises(RuntimeError, match="NNNN_verb_object"):
        load_migrations(tmp_path)


def test_transport_type_tree_is_seeded(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.name AS parent, count(c.id) AS children FROM transport_types p"
                " JOIN transport_types c ON c.parent_id = p.id GROUP BY p.name ORDER BY p.name"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("Air", 9),
        ("Earth", 11),
        ("Other", 1),
        ("Snow", 5),
        ("Water", 12),
    ]


def test_usernames_are_unique_case_insensitively(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (username) VALUES ('Alice')"))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO users (username) VALUES ('alice')"))


def test_published_sequence_needs_geometry(engine: Engine) -> None:
    with engine.begin() as conn:
        user_id = conn.execute(
            text("INSERT INTO users (username) VALUES ('u') RETURNING id")
        ).scalar()
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text("INSERT INTO sequences (owner_id, title) VALUES (:u, 't')"), {"u": user_id}
        )
    with engine.begin() as conn:  # a draft (desktop uploader) may wait for its photos
        conn.execute(
            text("INSERT INTO sequences (owner_id, title, status) VALUES (:u, 't', 'draft')"),
            {"u": user_id},
        )


def test_data_version_moves_on_tile_relevant_writes_only(engine: Engine) -> None:
    def version() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT last_value FROM data_version_seq")).scalar_one())

    with engine.begin() as conn:
        user_id = conn.execute(
            text("INSERT INTO users (username) VALUES ('v') RETURNING id")
        ).scalar()
    before = version()
    with engine.begin() as conn:
        seq_id = conn.execute(
            text(
                "INSERT INTO sequences (owner_id, title, geom, photo_count) VALUES"
                " (:u, 't', ST_GeomFromText('LINESTRING(0 0, 1 1)', 4326), 1) RETURNING id"
            ),
            {"u": user_id},
        ).scalar()
    after_insert = version()
    assert after_insert > before
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE sequences SET title = 'x', like_count = 0 WHERE id = :s"), {"s": seq_id}
        )
    assert version() == after_insert
    with engine.begin() as conn:
        conn.execute(text("UPDATE sequences SET pano = true WHERE id = :s"), {"s": seq_id})
    assert version() > after_insert


def test_migrations_run_without_the_request_statement_timeout(
    database_url: str, tmp_path: Path
) -> None:
    """A slow migration is not cut off by GEOAPI_STATEMENT_TIMEOUT_MS (meant for requests)."""
    from geoapi.config import load_settings
    from geoapi.db import make_engine

    for migration in load_migrations():
        (tmp_path / f"{migration.name}.sql").write_text(migration.sql)
    (tmp_path / "9999_wait_a_moment.sql").write_text("SELECT pg_sleep(0.3);")
    settings = load_settings({}, {"DATABASE_URL": database_url, "STATEMENT_TIMEOUT_MS": 100})
    engine = make_engine(settings)
    try:
        assert upgrade(engine, tmp_path) == ["9999_wait_a_moment"]
        with engine.connect() as conn:  # the pooled connection has its timeout back
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "100ms"
            conn.execute(text("DELETE FROM schema_migrations WHERE version = '9999'"))
            conn.commit()
    finally:
        engine.dispose()


def test_the_tile_functions_never_jit_compile(engine: Engine) -> None:
    """Migration 0009: their set-returning plans look huge to the planner, so on a client
    with the default jit = on every sequence write would compile them (~600 ms)."""
    with engine.connect() as conn:
        configs = dict(
            conn.execute(
                text(
                    "SELECT proname, coalesce(proconfig, '{}') FROM pg_proc"
                    " WHERE proname IN ('line_tiles_add', 'overview_cells_offer',"
                    " 'overview_cells_rechoose', 'apply_pending_tile_work')"
                    " OR proname LIKE 'tiles\\_sequence%'"
                )
            ).all()
        )
    assert len(configs) == 8
    assert {name: "jit=off" in config for name, config in configs.items()} == dict.fromkeys(
        configs, True
    )
