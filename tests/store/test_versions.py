"""The data version table (migration 0006): exact at commit, one bump per writing transaction,
growing in commit order, moved by every tile-relevant write and by nothing else."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from geoapi.store.versions import data_version, engine_data_version

LINE = "ST_GeomFromText('LINESTRING(0 0, 1 1)', 4326)"


def _user(conn: Connection, name: str = "v") -> object:
    return conn.execute(
        text("INSERT INTO users (username) VALUES (:n) RETURNING id"), {"n": name}
    ).scalar()


def _insert_sequences(conn: Connection, user_id: object, count: int) -> None:
    conn.execute(
        text(
            f"INSERT INTO sequences (owner_id, title, geom, photo_count)"
            f" SELECT :u, 't' || i, {LINE}, 1 FROM generate_series(1, :n) AS i"
        ),
        {"u": user_id, "n": count},
    )


def test_the_table_moves_exactly_when_the_write_commits(engine: Engine) -> None:
    with engine.begin() as conn:
        user_id = _user(conn)
    before = engine_data_version(engine)
    with engine.connect() as writer, engine.connect() as reader:
        _insert_sequences(writer, user_id, 1)
        # The sequence has moved already (0001's statement trigger); the table has not.
        assert data_version(reader) == before
        writer.commit()
        assert data_version(reader) > before


def test_one_update_per_transaction_however_many_rows(engine: Engine) -> None:
    # The backend's counts of its transactions not yet sent to the statistics: a difference.
    updates = text("SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'data_version'")
    with engine.begin() as conn:
        user_id = _user(conn)
    with engine.connect() as conn:
        before = conn.execute(updates).scalar_one()
        _insert_sequences(conn, user_id, 300)
        conn.execute(text("UPDATE sequences SET pano = true"))
        conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # the at-commit triggers, now
        after = conn.execute(updates).scalar_one()
        flag = conn.execute(text("SELECT current_setting('geoapi.data_version_bumped')"))
        assert (after - before, flag.scalar_one()) == (1, "on")
        conn.commit()
    with engine.connect() as conn:  # the flag is the transaction's only
        assert conn.execute(
            text("SELECT current_setting('geoapi.data_version_bumped', true)")
        ).scalar_one() in (None, "")


def test_versions_grow_in_commit_order(engine: Engine) -> None:
    with engine.begin() as conn:
        user_id = _user(conn)
    with engine.connect() as first, engine.connect() as second:
        _insert_sequences(first, user_id, 1)  # writes first, commits last
        _insert_sequences(second, user_id, 1)
        second.commit()
        after_second = engine_data_version(engine)
        first.commit()
        after_first = engine_data_version(engine)
    assert after_first > after_second


def test_tile_relevant_writes_move_it_and_others_do_not(engine: Engine) -> None:
    with engine.begin() as conn:
        user_id = _user(conn)
        other_id = _user(conn, "w")
        _insert_sequences(conn, user_id, 1)
    seq_id = _scalar(engine, "SELECT id FROM sequences")
    moves = [
        "UPDATE users SET username = 'renamed' WHERE username = 'v'",
        "UPDATE sequences SET camera_make = 'Sony'",
        "UPDATE transport_types SET aliases = aliases WHERE name = 'Walk'",
        "INSERT INTO tags (name) VALUES ('x');"
        f" INSERT INTO sequence_tags SELECT '{seq_id}', id FROM tags WHERE name = 'x'",
        "TRUNCATE sequence_tags",
        "DELETE FROM sequences",
    ]
    stays = [
        f"INSERT INTO likes (user_id, sequence_id) VALUES ('{other_id}', '{seq_id}')",
        "UPDATE sequences SET title = 'only the title', like_count = 1",
        "INSERT INTO users (username) VALUES ('new')",
    ]
    for sql in stays[:2]:
        before = engine_data_version(engine)
        with engine.begin() as conn:
            conn.execute(text(sql))
        assert engine_data_version(engine) == before, sql
    for sql in moves:
        before = engine_data_version(engine)
        with engine.begin() as conn:
            conn.execute(text(sql))
        assert engine_data_version(engine) > before, sql
    before = engine_data_version(engine)
    with engine.begin() as conn:
        conn.execute(text(stays[2]))
    assert engine_data_version(engine) == before


def _scalar(engine: Engine, sql: str) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()
