"""The importer core against real PostGIS: writes, idempotency, ownership, validation rules."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest
from helpers import make_feature
from sqlalchemy import Engine, text

from geoapi.store.importer import import_feature_collection, import_records
from geoapi.validation import (
    DocumentError,
    FeatureError,
    ImportOptions,
    parse_feature,
    parse_features,
)

WALK = [(16.4329, 7.2465), (16.4330, 7.2466), (16.4331, 7.2468)]


def photos_of(engine: Engine, key: str) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT p.image_key, p.ca, p.position, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat,"
                " ST_SRID(p.geom) AS srid, ST_SRID(p.geom_3857) AS srid_3857"
                " FROM photos p JOIN sequences s ON s.id = p.sequence_id"
                " WHERE s.mapillary_key = :k ORDER BY p.position"
            ),
            {"k": key},
        ).all()


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_seed_example_imports_with_ca_and_image_keys(
    engine: Engine, make_user: Callable[..., Any], seed_collection: dict[str, Any]
) -> None:
    user, _ = make_user("pierre")
    report = import_feature_collection(engine, user.id, seed_collection)
    assert [o.status for o in report.outcomes] == ["imported"]
    assert report.outcomes[0].photos == 4
    rows = photos_of(engine, "LMlIPUNhaj24h_q9v4ArNw")
    props = seed_collection["features"][0]["properties"]["coordinateProperties"]
    coords = seed_collection["features"][0]["geometry"]["coordinates"]
    assert [r.image_key for r in rows] == props["image_keys"]
    assert [r.ca for r in rows] == props["cas"]
    assert [r.position for r in rows] == [0, 1, 2, 3]
    assert [[r.lon, r.lat] for r in rows] == coords
    assert {r.srid for r in rows} == {4326}
    assert {r.srid_3857 for r in rows} == {3857}
    with engine.connect() as conn:
        seq = conn.execute(
            text(
                "SELECT owner_id, photo_count, length_m, captured_at, mapillary_created_at,"
                " camera_make, pano, mapillary_username, ST_NPoints(geom) AS n,"
                " ST_SRID(geom_3857) AS srid_3857 FROM sequences"
            )
        ).one()
    assert seq.owner_id == user.id
    assert seq.photo_count == 4 and seq.n == 4
    # 16.43°E, 7.25°N: 0.00253° of latitude ≈ 280 m
    assert 270 < seq.length_m < 290
    assert seq.captured_at.isoformat() == "2016-03-14T13:44:53.860000+00:00"
    assert seq.mapillary_created_at.isoformat() == "2016-03-17T10:47:53.106000+00:00"
    assert (seq.camera_make, seq.pano, seq.mapillary_username) == ("Apple", False, "pierregeo")
    assert seq.srid_3857 == 3857


def test_reimport_by_owner_reports_exists_and_changes_nothing(
    engine: Engine, make_user: Callable[..., Any], seed_collection: dict[str, Any]
) -> None:
    user, _ = make_user("pierre")
    first = import_feature_collection(engine, user.id, seed_collection)
    changed = copy.deepcopy(seed_collection)
    changed["features"][0]["properties"]["camera_make"] = "Other"
    again = import_feature_collection(engine, user.id, changed)
    assert again.outcomes[0].status == "exists"
    assert again.outcomes[0].sequence_id == first.outcomes[0].sequence_id
    assert count(engine, "sequences") == 1 and count(engine, "photos") == 4
    with engine.connect() as conn:
        assert conn.execute(text("SELECT camera_make FROM sequences")).scalar() == "Apple"


def test_key_owned_by_another_user_is_refused(
    engine: Engine, make_user: Callable[..., Any], seed_collection: dict[str, Any]
) -> None:
    owner, _ = make_user("owner")
    other, _ = make_user("other")
    import_feature_collection(engine, owner.id, seed_collection)
    report = import_feature_collection(engine, other.id, seed_collection)
    assert report.outcomes[0].status == "failed"
    assert "another user" in (report.outcomes[0].reason or "")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT owner_id FROM sequences")).scalar() == owner.id
    assert count(engine, "photos") == 4


def test_single_photo_sequence_is_valid_and_findable(
    engine: Engine, make_user: Callable[..., Any]
) -> None:
    user, _ = make_user("solo")
    report = import_feature_collection(engine, user.id, make_feature("one", [(10.0, 50.0)]))
    assert report.outcomes[0].status == "imported"
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT photo_count, length_m FROM sequences"
                " WHERE geom && ST_MakeEnvelope(9.9, 49.9, 10.1, 50.1, 4326)"
            )
        ).one()
    assert found.photo_count == 1 and found.length_m == 0


def test_bad_feature_does_not_stop_good_ones(engine: Engine, make_user: Callable[..., Any]) -> None:
    user, _ = make_user("mixed")
    bad = make_feature("bad", WALK)
    bad["geometry"]["coordinates"][1][1] = 95.0
    document = {
        "type": "FeatureCollection",
        "features": [make_feature("good-1", WALK), bad, make_feature("good-2", [(1.0, 1.0)])],
    }
    report = import_feature_collection(engine, user.id, document)
    assert [o.status for o in report.outcomes] == ["imported", "failed", "imported"]
    assert report.outcomes[1].key == "bad"
    assert report.outcomes[1].field == "geometry.coordinates[1][1]"
    assert count(engine, "sequences") == 2 and count(engine, "photos") == 4


def test_image_key_of_another_sequence_fails_and_leaves_nothing(
    engine: Engine, make_user: Callable[..., Any]
) -> None:
    user, _ = make_user("dup")
    import_feature_collection(engine, user.id, make_feature("first", WALK))
    clash = make_feature("second", WALK)
    clash["properties"]["coordinateProperties"]["image_keys"][2] = "first-img-0"
    report = import_feature_collection(engine, user.id, clash)
    assert report.outcomes[0].status == "failed"
    assert report.outcomes[0].field == "properties.coordinateProperties.image_keys"
    assert count(engine, "sequences") == 1 and count(engine, "photos") == 3


def test_import_options_set_metadata_and_tags(
    engine: Engine, make_user: Callable[..., Any]
) -> None:
    user, _ = make_user("meta")
    options = ImportOptions(
        title="Morning walk",
        description="Along the river",
        transport_type="walk",
        tags=("river", "city"),
    )
    report = import_feature_collection(engine, user.id, make_feature("m1", WALK), options)
    assert report.outcomes[0].status == "imported"
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT s.title, s.description, t.name AS transport,"
                " (SELECT array_agg(g.name ORDER BY g.name) FROM sequence_tags st"
                "  JOIN tags g ON g.id = st.tag_id WHERE st.sequence_id = s.id) AS tags"
                " FROM sequences s JOIN transport_types t ON t.id = s.transport_type_id"
            )
        ).one()
    assert tuple(row) == ("Morning walk", "Along the river", "Walk", ["city", "river"])


def test_unknown_transport_type_fails_the_feature(
    engine: Engine, make_user: Callable[..., Any]
) -> None:
    user, _ = make_user("tt")
    report = import_feature_collection(
        engine, user.id, make_feature("t1", WALK, transport_type="Hovercraft")
    )
    assert report.outcomes[0].status == "failed"
    assert report.outcomes[0].field == "transport_type"
    assert "Hovercraft" in (report.outcomes[0].reason or "")
    assert count(engine, "sequences") == 0


def test_other_is_an_alias_of_unlisted(engine: Engine, make_user: Callable[..., Any]) -> None:
    user, _ = make_user("alias")
    import_feature_collection(engine, user.id, make_feature("o1", WALK, transport_type="Other"))
    with engine.connect() as conn:
        name = conn.execute(
            text(
                "SELECT t.name FROM sequences s"
                " JOIN transport_types t ON t.id = s.transport_type_id"
            )
        ).scalar()
    assert name == "Unlisted"


def test_not_geojson_is_a_document_error(engine: Engine, make_user: Callable[..., Any]) -> None:
    user, _ = make_user("doc")
    for document in ([1, 2], {"type": "Point", "coordinates": [0, 0]}, {"features": []}):
        with pytest.raises(DocumentError):
            import_feature_collection(engine, user.id, document)
    with pytest.raises(DocumentError, match="no features"):
        import_feature_collection(engine, user.id, {"type": "FeatureCollection", "features": []})


# Validation rules: each case breaks exactly one rule of a valid feature. -------------------------


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(feature: dict[str, Any]) -> None:
        target = feature
        for part in path[:-1]:
            target = target[part]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return mutate


_DELETE = object()
CP = ["properties", "coordinateProperties"]

INVALID_CASES = {
    "not a feature": (_set(["type"], "Polygon"), "type"),
    "not a linestring": (_set(["geometry", "type"], "Point"), "geometry.type"),
    "no geometry": (_set(["geometry"], None), "geometry"),
    "empty coordinates": (_set(["geometry", "coordinates"], []), "geometry.coordinates"),
    "cas length": (_set([*CP, "cas"], [1.0, 2.0]), "properties.coordinateProperties.cas"),
    "image_keys length": (
        _set([*CP, "image_keys"], ["a", "b"]),
        "properties.coordinateProperties.image_keys",
    ),
    "image_keys missing": (
        _set([*CP, "image_keys"], _DELETE),
        "properties.coordinateProperties.image_keys",
    ),
    "longitude out of range": (
        _set(["geometry", "coordinates", 0, 0], 180.5),
        "geometry.coordinates[0][0]",
    ),
    "latitude out of range": (
        _set(["geometry", "coordinates", 2, 1], -90.01),
        "geometry.coordinates[2][1]",
    ),
    "NaN longitude": (
        _set(["geometry", "coordinates", 1, 0], math.nan),
        "geometry.coordinates[1][0]",
    ),
    "infinite latitude": (
        _set(["geometry", "coordinates", 1, 1], math.inf),
        "geometry.coordinates[1][1]",
    ),
    "NaN ca": (_set([*CP, "cas", 0], math.nan), "properties.coordinateProperties.cas[0]"),
    "ca of 360": (_set([*CP, "cas", 1], 360.0), "properties.coordinateProperties.cas[1]"),
    "negative ca": (_set([*CP, "cas", 1], -1.0), "properties.coordinateProperties.cas[1]"),
    "string coordinate": (
        _set(["geometry", "coordinates", 0, 1], "7.2"),
        "geometry.coordinates[0][1]",
    ),
    "duplicate image keys": (
        _set([*CP, "image_keys", 2], "k-img-0"),
        "properties.coordinateProperties.image_keys[2]",
    ),
    "missing key": (_set(["properties", "key"], _DELETE), "properties.key"),
    "blank key": (_set(["properties", "key"], "  "), "properties.key"),
    "unparseable captured_at": (
        _set(["properties", "captured_at"], "14/03/2016"),
        "properties.captured_at",
    ),
    "unparseable created_at": (
        _set(["properties", "created_at"], "yesterday"),
        "properties.created_at",
    ),
    "pano not boolean": (_set(["properties", "pano"], "yes"), "properties.pano"),
    "malformed tag": (_set(["properties", "tags"], ["ok", "not ok!"]), "properties.tags"),
    "tags not a list": (_set(["properties", "tags"], 5), "properties.tags"),
}


@pytest.mark.parametrize("case", sorted(INVALID_CASES))
def test_validation_rule(case: str) -> None:
    mutate, field = INVALID_CASES[case]
    feature = make_feature("k", WALK)
    parse_feature(copy.deepcopy(feature))  # the unbroken feature is valid
    mutate(feature)
    with pytest.raises(FeatureError) as caught:
        parse_feature(feature)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "case", ["NaN longitude", "duplicate image keys", "unknown transport type"]
)
def test_invalid_feature_writes_nothing(
    case: str, engine: Engine, make_user: Callable[..., Any]
) -> None:
    user, _ = make_user("writer")
    feature = make_feature("k", WALK)
    if case == "unknown transport type":
        feature["properties"]["transport_type"] = "Teleport"
    else:
        INVALID_CASES[case][0](feature)
    report = import_feature_collection(engine, user.id, feature)
    assert report.outcomes[0].status == "failed"
    assert report.outcomes[0].key == "k"
    assert count(engine, "sequences") == 0 and count(engine, "photos") == 0


def test_naive_dates_are_utc_and_missing_cas_are_null(
    engine: Engine, make_user: Callable[..., Any]
) -> None:
    user, _ = make_user("naive")
    feature = make_feature("n1", WALK, captured_at="2019-01-02T03:04:05")
    del feature["properties"]["coordinateProperties"]["cas"]
    import_feature_collection(engine, user.id, feature)
    with engine.connect() as conn:
        captured = conn.execute(text("SELECT captured_at FROM sequences")).scalar()
        cas = conn.execute(text("SELECT array_agg(ca) FROM photos")).scalar()
    assert captured.isoformat() == "2019-01-02T03:04:05+00:00"
    assert cas == [None, None, None]


def test_database_rejects_out_of_range_ca(engine: Engine, make_user: Callable[..., Any]) -> None:
    """The schema's own guard: ca in [0, 360) even for writes that bypass the importer."""
    user, _ = make_user("guard")
    import_feature_collection(engine, user.id, make_feature("g1", WALK))
    with pytest.raises(Exception, match="photos_ca_check"), engine.begin() as conn:
        conn.execute(text("UPDATE photos SET ca = 360"))


@pytest.mark.parametrize(("batch_size", "writers"), [(1, 1), (4, 1), (3, 2)])
def test_bulk_paths_write_each_sequence_once(
    engine: Engine, make_user: Callable[..., Any], batch_size: int, writers: int
) -> None:
    """Batched and parallel writes: same outcomes as one-by-one, clashes fail alone."""
    user, _ = make_user("bulk")
    other, _ = make_user("other")
    import_feature_collection(engine, other.id, make_feature("theirs", WALK))
    features = [make_feature(f"s{i}", [(i * 0.01, 1.0), (i * 0.01, 1.001)]) for i in range(12)]
    clash = make_feature("clash", WALK)  # reuses an image key of s3, written in the same run
    clash["properties"]["coordinateProperties"]["image_keys"][0] = "s3-img-0"
    bad = make_feature("bad", WALK, captured_at="never")
    items = list(
        parse_features([*features[:6], clash, bad, make_feature("theirs", WALK), *features[6:]])
    )
    outcomes = sorted(
        import_records(engine, user.id, items, batch_size=batch_size, writers=writers),
        key=lambda o: o.index,
    )
    assert [o.index for o in outcomes] == list(range(15))
    by_key = {o.key: o for o in outcomes if o.key}
    assert by_key["clash"].status == "failed"
    assert by_key["clash"].field == "properties.coordinateProperties.image_keys"
    assert outcomes[7].status == "failed" and outcomes[7].field == "properties.captured_at"
    assert by_key["theirs"].status == "failed"
    assert all(by_key[f"s{i}"].status == "imported" for i in range(12))
    assert count(engine, "sequences") == 13
    assert count(engine, "photos") == 12 * 2 + 3
    again = list(import_records(engine, user.id, items, batch_size=batch_size, writers=writers))
    assert sorted(o.status for o in again).count("exists") == 12
    assert count(engine, "photos") == 27
