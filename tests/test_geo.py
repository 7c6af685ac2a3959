"""geoapi.geo: bbox rules (pure functions)."""

from __future__ import annotations

import pytest

from geoapi.errors import BadRequestError
from geoapi.geo import CRS84, BBox, envelope_params, parse_bbox


def test_bbox_parses_four_numbers() -> None:
    assert parse_bbox(" -9.2,38.7, -9.1 ,38.8") == BBox(-9.2, 38.7, -9.1, 38.8)
    assert parse_bbox("-180,-90,180,90") == BBox(-180, -90, 180, 90)
    assert parse_bbox(None) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("1,2,3", "expected 4"),
        ("1,2,3,4,5", "expected 4 or 6"),
        ("", "expected 4"),
        ("a,2,3,4", "'a' is not a number"),
        ("1,,3,4", "'' is not a number"),
        ("nan,2,3,4", "not a finite number"),
        ("1,2,inf,4", "not a finite number"),
        ("-181,2,3,4", "outside [-180, 180]"),
        ("1,2,180.5,4", "outside [-180, 180]"),
        ("1,-91,3,4", "outside [-90, 90]"),
        ("1,2,3,90.1", "outside [-90, 90]"),
        ("1,5,3,4", "must be below"),
        ("1,4,3,4", "must be below"),
        ("3,2,3,4", "longitude are both"),
    ],
)
def test_bad_bbox_is_a_400_naming_bbox(raw: str, message: str) -> None:
    with pytest.raises(BadRequestError) as info:
        parse_bbox(raw)
    assert info.value.status == 400
    assert info.value.errors == [{"field": "bbox", "message": info.value.errors[0]["message"]}]
    assert message in info.value.detail


def test_antimeridian_bbox_splits_into_two_envelopes() -> None:
    box = parse_bbox("170,-10,-170,10")
    assert box is not None and box.crosses_antimeridian
    assert box.envelopes() == [(170, -10, 180, 10), (-180, -10, -170, 10)]
    params = envelope_params(box)
    assert (params["e1_xmin"], params["e1_xmax"], params["e2_xmin"], params["e2_xmax"]) == (
        170,
        180,
        -180,
        -170,
    )


def test_envelope_params_without_bbox_are_null() -> None:
    assert set(envelope_params(None).values()) == {None}
    plain = envelope_params(BBox(1, 2, 3, 4))
    assert (plain["e1_xmin"], plain["e1_ymax"], plain["e2_xmin"]) == (1, 4, None)


def test_bbox_crs_must_be_a_supported_crs() -> None:
    assert parse_bbox("1,2,3,4", CRS84) == BBox(1, 2, 3, 4)
    with pytest.raises(BadRequestError) as info:
        parse_bbox("1,2,3,4", "http://www.opengis.net/def/crs/EPSG/0/32633")
    assert info.value.errors[0]["field"] == "bbox-crs"


def test_six_number_bbox_ignores_the_heights() -> None:
    assert parse_bbox("1,2,-50,3,4,8000") == BBox(1, 2, 3, 4)


@pytest.mark.parametrize(
    ("raw", "crs"),
    [
        ("2,1,4,3", "http://www.opengis.net/def/crs/EPSG/0/4326"),  # latitude first
        ("2,1,4,3", "EPSG:4326"),
        ("2,1,4,3", "urn:ogc:def:crs:EPSG::4326"),
        ("2,1,-5,4,3,5", "[EPSG:4326]"),
    ],
)
def test_epsg_4326_bbox_is_latitude_first(raw: str, crs: str) -> None:
    assert parse_bbox(raw, crs) == BBox(1, 2, 3, 4)


def test_web_mercator_bbox_becomes_lon_lat() -> None:
    box = parse_bbox("-20037508.342789244,0,0,20037508.342789244", "EPSG:3857")
    assert box is not None
    assert (box.minlon, box.minlat, box.maxlon) == (-180.0, 0.0, 0.0)
    assert abs(box.maxlat - 85.0511287798) < 1e-9
    with pytest.raises(BadRequestError) as info:
        parse_bbox("0,0,30000000,1", "EPSG:3857")
    assert info.value.errors[0]["field"] == "bbox"
