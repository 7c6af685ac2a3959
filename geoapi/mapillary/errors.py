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
    """Mapillary answered with a non-2xx status (after retries for 429 and 5xx)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class MapillaryAuthError(MapillaryHTTPError):
    """401/403: the token is invalid, expired or lacks scope; the user must reconnect."""


class MapillaryNotFoundError(MapillaryHTTPError):
    """404: the sequence or image does not exist (or no longer does)."""


class MapillaryRateLimitError(MapillaryHTTPError):
    """429 on every try: Mapillary keeps asking us to slow down."""


class MapillaryResponseError(MapillaryError):
    """Mapillary answered 2xx with a body we cannot use: not JSON, or not the expected shape."""
