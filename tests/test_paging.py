"""geoapi.paging: the limit and cursor rules (pure functions)."""

from __future__ import annotations

import pytest

from geoapi.errors import BadRequestError
from geoapi.paging import EXPORT_LIMIT, ITEMS_LIMIT, decode_cursor, encode_cursor

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
