"""The set-based bulk writer (COPY into staging, one statement per batch) against the one-at-a-time
writer: on the same hostile mix of sequences both give the same outcomes and the same rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import DATA_TABLES
from helpers import make_feature
from sqlalchemy import Engine, text

from geoapi.store.importer import import_records, write_sequence
from geoapi.store.staging import copy_text, split_clashes
from geoapi.store.taxonomy import load_transport_types
from geoapi.validation import ImportOptions, SequenceRecord, parse_features

WALK = [(16.4329, 7.2465), (16.4330, 7.2466), (16.4331, 7.2468)]
AWKWARD = "tab\there, line\nbreak, cr\r, back\\slash, \\N, NULL, 'quote\" ünï 🚲"


def _mix() -> list[dict[str, Any]]:
    """New sequences with awkward text, a one-photo sequence, clashes inside the batch (a key
    twice, an image key twice, an image key repeated within one sequence), another owner's key,
    an image key another owner holds, an unknown transport type and a bad feature."""
    features = [
        make_feature(f"s{i}", [(i * 0.01, 1.0), (i * 0.01, 1.001)], username=AWKWARD)
        for i in range(6)
    ]
    features[1]["properties"].update(title=AWKWARD, description=AWKWARD, camera_make="\\N")
    features[2]["properties"]["coordinateProperties"]["cas"] = [None, 359.999999]
    features[3]["properties"].update(transport_type="Walk", tags=["a", "b"], pano=True)
    one = make_feature("one", [(3.0, 4.0)], captured_at=None)
    twice = make_feature("s0", WALK)  # the key of s0 again
    shared = make_feature("shared", WALK)  # an image key of s4, which comes later
    shared["properties"]["coordinateProperties"]["image_keys"][1] = "s4-img-1"
    inner = make_feature("inner", WALK)  # one image key twice within the sequence
    inner["properties"]["coordinateProperties"]["image_keys"][2] = "inner-img-0"
    after_clash = make_feature("after", WALK)  # clashes with nothing: written normally
    theirs = make_feature("theirs", WALK)
    held = make_feature("held", WALK)
    held["properties"]["coordinateProperties"]["image_keys"][0] = "taken-img-0"
    unknown = make_feature("unknown", WALK, transport_type="Hovercraft")
    bad = make_feature("bad", WALK, captured_at="never")
    return [
        *features[:3],
        twice,
        one,
        shared,
        inner,
        *features[3:],
        after_clash,
        theirs,
        held,
        unknown,
        bad,
    ]


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        sequences = conn.execute(
            text(
                "SELECT s.mapillary_key, u.username AS owner, s.mapillary_user_key,"
                " s.mapillary_username, s.title, s.description, s.transport_type_id,"
                " s.camera_make, s.captured_at, s.mapillary_created_at, s.pano, s.source,"
                " s.status, ST_AsEWKT(s.geom) AS geom, ST_AsEWKT(s.geom_3857) AS geom_3857,"
                " s.photo_count, s.length_m, ST_AsEWKT(s.overview_3857) AS overview,"
                " (SELECT array_agg(t.name ORDER BY t.name) FROM sequence_tags st"
                "  JOIN tags t ON t.id = st.tag_id WHERE st.sequence_id = s.id) AS tags"
                " FROM sequences s JOIN users u ON u.id = s.owner_id ORDER BY s.mapillary_key"
            )
        ).all()
        photos = conn.execute(
            text(
                "SELECT s.mapillary_key, p.position, p.image_key, p.ca, ST_AsEWKT(p.geom),"
                " ST_AsEWKT(p.geom_3857) FROM photos p JOIN sequences s ON s.id = p.sequence_id"
                " ORDER BY s.mapillary_key, p.position"
            )
        ).all()
    return [*map(tuple, sequences), *map(tuple, photos)]


def _run(engine: Engine, make_user: Callable[..., Any], batch_size: int) -> tuple[Any, Any]:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {DATA_TABLES} RESTART IDENTITY CASCADE"))
    user, _ = make_user("bulk")
    other, _ = make_user("other")
    taken = make_feature("taken", WALK)
    list(import_records(engine, other.id, parse_features([make_feature("theirs", WALK), taken])))
    items = list(parse_features(_mix(), ImportOptions(source="bulk")))
    outcomes = [
        (o.index, o.key, o.status, o.photos, o.reason, o.field)
        for o in sorted(
            import_records(engine, user.id, items, batch_size=batch_size, durable=False),
            key=lambda o: o.index,
        )
    ]
    return outcomes, _rows(engine)


def test_set_based_batches_match_one_at_a_time(
    engine: Engine, make_user: Callable[..., Any]
) -> None:
    one_by_one = _run(engine, make_user, batch_size=1)
    batched = _run(engine, make_user, batch_size=50)
    assert batched[0] == one_by_one[0]
    assert batched[1] == one_by_one[1]
    assert [(key, status) for _i, key, status, *_rest in batched[0]] == [
        ("s0", "imported"),
        ("s1", "imported"),
        ("s2", "imported"),
        ("s0", "exists"),
        ("one", "imported"),
        ("shared", "imported"),  # before s4 in input order: it wins the image key
        (None, "failed"),  # inner: validation refuses an image key twice
        ("s3", "imported"),
        ("s4", "failed"),
        ("s5", "imported"),
        ("after", "imported"),
        ("theirs", "failed"),
        ("held", "failed"),
        ("unknown", "failed"),
        (None, "failed"),
    ]
    titles = {row[0]: row[4] for row in batched[1] if len(row) > 7}
    assert titles["s1"] == AWKWARD


def test_a_concurrent_clash_replays_the_batch_one_at_a_time(
    engine: Engine, make_user: Callable[..., Any]
) -> None:
    """An image key that another transaction commits after the batch checked it: the batch
    statement waits on the unique index, then fails, and its replay one sequence at a time
    keeps every other sequence of the batch."""
    user, _ = make_user("bulk")
    other, _ = make_user("rival")
    items = list(parse_features([make_feature(f"c{i}", WALK) for i in range(4)]))
    rival = next(iter(parse_features([make_feature("rival", [(1.0, 1.0)])])))
    assert isinstance(rival, SequenceRecord)
    rival.image_keys[0] = "c2-img-1"
    results: list[Any] = []
    with engine.connect() as conn:
        types = load_transport_types(conn)
        conn.rollback()
        transaction = conn.begin()
        assert write_sequence(conn, other.id, rival, types).status == "imported"
        worker = threading.Thread(
            target=lambda: results.extend(import_records(engine, user.id, items, batch_size=4))
        )
        worker.start()
        with engine.connect() as watch:
            for _ in range(200):
                waiting = watch.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
                watch.rollback()
                if waiting:
                    break
                time.sleep(0.05)
        assert waiting, "the batch never waited for the rival's image key"
        transaction.commit()
    worker.join(30)
    by_key = {o.key: o for o in results}
    assert [by_key[f"c{i}"].status for i in range(4)] == [
        "imported",
        "imported",
        "failed",
        "imported",
    ]
    assert by_key["c2"].field == "properties.coordinateProperties.image_keys"
    with engine.connect() as conn:
        held = conn.execute(
            text(
                "SELECT s.mapillary_key FROM photos p JOIN sequences s ON s.id = p.sequence_id"
                " WHERE p.image_key = 'c2-img-1'"
            )
        ).scalar_one()
    assert held == "rival"


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (None, "\\N"),
        ("\\N", "\\\\N"),
        ("a\tb\nc\rd\\e", "a\\tb\\nc\\rd\\\\e"),
        (True, "t"),
        (0.1, "0.1"),
        (7, "7"),
    ],
)
def test_copy_text(value: object, encoded: str) -> None:
    assert copy_text(value) == encoded


def test_split_clashes_keeps_the_first_of_each_key() -> None:
    items = list(parse_features([make_feature("a", WALK), make_feature("a", WALK)]))
    assert split_clashes(items) == ([0], [1])  # type: ignore[arg-type]
