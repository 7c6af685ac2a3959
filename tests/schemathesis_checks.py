"""Schemathesis' positive- and negative-data checks, less what OpenAPI 3.0 cannot say (shared
by the in-process test and the live run: ``schemathesis.toml`` loads this file as its hooks).

``positive_data_acceptance`` expects every schema-valid request to be accepted. A few 400s are
right although the request matches the document, because the rule relates a value to another
parameter or to the server's own state, which a 3.0 schema cannot express. Those, and only those,
are forgiven: a 400 or 422 problem whose ``errors`` name nothing but the fields below, the
front's 414 (its limit is on all parameters together), and a TileJSON template followed
unexpanded by the stateful phase.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

BEYOND_THE_SCHEMA = {
    "cursor": "an opaque token the server signed: a well-formed stranger is refused",
    "state": "the OAuth state the login signed and bound to the browser's cookie",
    "x": "0..2^z-1: the range depends on the zoom, another parameter",
    "y": "0..2^z-1: the range depends on the zoom, another parameter",
    "tileCol": "0..2^tileMatrix-1: the range depends on another parameter",
    "tileRow": "0..2^tileMatrix-1: the range depends on another parameter",
    "bbox": "the minimum latitude below the maximum: an order between two items",
    "datetime": "the calendar (no 31 February) and an interval's start before its end",
    "start_time": "the calendar (no 31 February)",
    "end_time": "not before start_time",
    "transport_type": "the server's reference data (GET /api/v1/transport-types)",
    "code": "required unless Mapillary sends an error instead: a dependency between parameters",
    "sequence_ids": "each must name an existing sequence: the server's data",
    "sortby": "the sortable queryables of the collection in the path: another parameter",
    "properties": "the properties of the collection in the path: another parameter",
    "filter": "CQL2 over the queryables of the collection in the path: a grammar, not a schema",
    "features": "a v3 Feature's coordinateProperties hold one entry per coordinate of its"
    " geometry (a dependency between values); the v3 properties are not spelled out",
}
# An import refuses integers beyond 64 bits anywhere in its body (the streaming parser cannot
# hold them; JSON Schema's numbers are unbounded): a 422 naming where, with this message.
BEYOND_64_BITS = "an integer beyond 64 bits"
OPERATIONS_BEYOND_THE_SCHEMA = {
    "mapillaryCallback": "succeeds only with the state and cookie of a login in progress",
}
# The front's limit on the request line bounds all parameters together, not each one.
URI_TOO_LONG = 414
# The stateful phase follows a TileJSON "tiles" template ({z}/{x}/{y}) as a link, unexpanded.
UNEXPANDED_TEMPLATE = "%7Bz%7D"


def _named_fields(response: Any) -> set[str]:
    try:
        body = response.json()
    except ValueError:
        return set()
    if not isinstance(body, dict):
        return set()
    legacy = body.get("error")  # the uploader's {"status": false, "error": "field: why"}
    if isinstance(legacy, str) and ":" in legacy:
        return {legacy.split(":", 1)[0]}
    errors = body.get("errors")
    if not isinstance(errors, list):
        return set()
    # "sequence_ids[2]" is the field "sequence_ids"
    return {str(error.get("field")).split("[", 1)[0] for error in errors if isinstance(error, dict)}


def _all_errors_say(response: Any, message: str) -> bool:
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return False
    return bool(errors) and all(message in str(error.get("message")) for error in errors)


@schemathesis.check
def positive_data_acceptance_openapi_30(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, forgiving a 400 that names only fields of
    :data:`BEYOND_THE_SCHEMA`."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if response.status_code == URI_TOO_LONG:
            return None
        if response.status_code == 422 and _all_errors_say(response, BEYOND_64_BITS):
            return None
        if case.operation.definition.raw.get("operationId") in OPERATIONS_BEYOND_THE_SCHEMA:
            return None
        if response.status_code == 400 and UNEXPANDED_TEMPLATE in str(response.request.url):
            return None
        fields = _named_fields(response)
        if response.status_code in (400, 422) and fields and fields <= BEYOND_THE_SCHEMA.keys():
            return None
        raise


# negative_data_rejection: the tiles' ``v`` accepts every value by design (anything but the area's
# version is a 302 to the pinned URL), so the only "invalid" v schemathesis can build is a
# repeated one (v=a&v=b), which the server reads as its first, as every scalar parameter.
REDIRECTED_PARAMETER = "parameter `v` in query"


@schemathesis.check
def negative_data_rejection_openapi_30(ctx: Any, response: Any, case: Any) -> bool | None:
    """``negative_data_rejection``, forgiving the 302 of a tile whose only invalid part is v."""
    try:
        return negative_data_rejection(ctx, response, case)
    except AcceptedNegativeData as failure:
        if response.status_code == 302 and REDIRECTED_PARAMETER in str(failure.message):
            return None
        raise
