"""The MapillaryError family: every failure of the Mapillary client is one of these."""

from __future__ import annotations


class MapillaryError(Exception):
    """Base of every Mapillary failure; ``status_code`` is set when Mapillary answered."""

    status_code: int | None = None


class MapillaryConnectionError(MapillaryError):
    """Mapillary could not be reached (DNS, refused, reset), after all retries."""


class MapillaryTimeoutError(MapillaryError):
    """Mapillary did not answer within the configured timeout, after all retries."""


class MapillaryHTTPError(MapillaryError):
    """Mapillary answered with a non-2xx status (after retries for 429 and 5xx).

    ``error_code``/``error_subcode`` are the Graph API's ``error.code``/``error_subcode`` when
    the answer carried them.
    """

    def __init__(
        self,
        message: str,
        status_code: int,
        *,
        error_code: int | None = None,
        error_subcode: int | None = None,
        expired: bool = False,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code
        self.error_subcode = error_subcode
        self._expired = expired

    @property
    def session_expired(self) -> bool:
        """Mapillary's documented "session has expired" (OAuthException 190, subcode 463):
        a refreshed token may well work, where another 401 means log in again."""
        return self.status_code == 401 and self.error_code == 190 and self._expired


class MapillaryAuthError(MapillaryHTTPError):
    """401/403: the token is invalid, expired or lacks scope; the user must reconnect."""


class MapillaryNotFoundError(MapillaryHTTPError):
    """404: the sequence or image does not exist (or no longer does)."""


class MapillaryRateLimitError(MapillaryHTTPError):
    """429 on every try: Mapillary keeps asking us to slow down."""


class MapillaryResponseError(MapillaryError):
    """Mapillary answered 2xx with a body we cannot use: not JSON, or not the expected shape."""
