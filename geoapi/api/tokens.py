"""``DELETE /api/v1/tokens/current``: a client revokes the API token it holds (a leaked or
retired one); the next request with it is a 401."""

from __future__ import annotations

from flask import Blueprint, Response

from geoapi.auth import bearer_token, require_user
from geoapi.db import get_session
from geoapi.errors import UnauthorizedError
from geoapi.store.users import revoke_presented_token

bp = Blueprint("tokens", __name__, url_prefix="/api/v1/tokens")


@bp.delete("/current")
def revoke_current() -> Response:
    """204 once the presenting token is revoked; 401 without a valid one."""
    require_user()
    token = bearer_token()
    if token is None:  # require_user passed, so one was presented
        raise UnauthorizedError()
    revoke_presented_token(get_session(), token)
    return Response(status=204)
