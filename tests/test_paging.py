"""geoapi.paging: the limit and cursor rules (pure functions)."""

from __future__ import annotations

import base64
import json

import pytest

from geoapi.errors import BadRequestError
from geoapi.paging import (
    EXPORT_LIMIT,
    ITEMS_LIMIT,
    asked_version,
    cursor_version,
    decode_cursor,
    encode_cursor,
)

MAX_LIMIT = ITEMS_LIMIT.maximum


def parse_limit(raw: str | None) -> int | None:
    return ITEMS_LIMIT.parse(raw)


def test_limit_default_clamp_and_errors() -> None:
    assert parse_limit(None) == 100
    assert parse_limit("7") == 7
    assert parse_limit(str(MAX_LIMIT + 1)) == MAX_LIMIT
    assert EXPORT_LIMIT.parse("123456") == 123456
    for raw in ("0", "-1", "1.5", "ten", "1e3", "٣"):
        with pytest.raises(BadRequestError) as info:
            parse_limit(raw)
        assert info.value.errors[0]["field"] == "limit"


def test_cursor_round_trip_and_rejections() -> None:
    token = encode_cursor("photos", "abc", 3)
    assert "=" not in token
    assert decode_cursor(token, "photos", 2) == ["abc", 3]
    bad = ["", "!!!", "bm90IGpzb24", encode_cursor("sequences", "abc"), encode_cursor("photos", 1)]
    for raw in bad:
        with pytest.raises(BadRequestError) as info:
            decode_cursor(raw, "photos", 2)
        assert info.value.errors[0]["field"] == "cursor"


def _raw(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_cursors_carry_the_data_version_and_old_ones_still_work() -> None:
    token = encode_cursor("photos", "abc", 3, version=41)
    assert decode_cursor(token, "photos", 2) == ["abc", 3]
    assert cursor_version(token) == 41
    old = encode_cursor("photos", "abc", 3)  # made before cursors carried a version
    assert decode_cursor(old, "photos", 2) == ["abc", 3]
    assert cursor_version(old) is None and cursor_version(None) is None
    assert cursor_version("") is None
    bad = [
        _raw(["photos", "abc", 3, {"v": -1}]),
        _raw(["photos", "abc", 3, {"v": 2**63}]),
        _raw(["photos", "abc", 3, {"v": "41"}]),
        _raw(["photos", "abc", 3, {"v": True}]),
        _raw(["photos", "abc", 3, {"v": 1, "w": 2}]),
        _raw(["photos", "abc", {"v": 1}]),  # a version does not stand in for a value
        _raw({"v": 1}),
    ]
    for raw in bad:
        with pytest.raises(BadRequestError) as info:
            decode_cursor(raw, "photos", 2)
        assert info.value.errors[0]["field"] == "cursor"
    for raw in bad[:5]:
        with pytest.raises(BadRequestError):
            cursor_version(raw)


def test_asked_version_is_a_plain_number_or_nothing() -> None:
    assert asked_version("42") == 42
    assert asked_version(" 7 ") == 7
    for raw in (None, "", "-1", "4.2", "abc", "٣", "9" * 19):
        assert asked_version(raw) is None, raw
