"""geoapi.api._http: the query rules the views share."""

from __future__ import annotations

import pytest

from geoapi.api._http import check_known
from geoapi.errors import BadRequestError


def test_unknown_parameters_are_all_named() -> None:
    check_known(["bbox", "limit"], frozenset({"bbox", "limit"}))
    with pytest.raises(BadRequestError) as info:
        check_known(["bbox", "zoom", "bogus"], frozenset({"bbox"}))
    assert [e["field"] for e in info.value.errors] == ["bogus", "zoom"]
