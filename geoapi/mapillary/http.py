"""The one HTTP layer to Mapillary: timeouts, retries with backoff (429, 5xx, Retry-After),
errors mapped onto the MapillaryError family, secrets redacted from every message."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from geoapi.mapillary.errors import (
    MapillaryAuthError,
    MapillaryConnectionError,
    MapillaryError,
    MapillaryHTTPError,
    MapillaryNotFoundError,
    MapillaryRateLimitError,
    MapillaryResponseError,
    MapillaryTimeoutError,
)

_SECRET_PARAMS = re.compile(
    r"(?i)(?<![a-z_])(access_token|client_secret|refresh_token|code|state|code_verifier)"
    r"=[^&\s\"'<>]*"
)
_DETAIL_CHARS = 200


@dataclass(frozen=True)
class MapillaryConfig:
    """Endpoints, OAuth client credentials and HTTP policy (timeout and backoff in seconds)."""

    api_v3_url: str = "https://a.mapillary.com"
    api_v4_url: str = "https://graph.mapillary.com"
    authorize_url: str = "https://www.mapillary.com/connect"
    token_url: str = "https://graph.mapillary.com/token"  # noqa: S105 - a URL, not a secret
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    timeout: float = 10.0
    max_retries: int = 3
    backoff: float = 0.5
    max_retry_after: float = 30.0
    scope: str = "read"
    pkce: bool = True  # RFC 7636 S256 on the authorization code (ignored by servers without it)

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.backoff < 0 or self.max_retry_after < 0:
            raise ValueError("timeout must be > 0; backoff and max_retry_after must be >= 0")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Blank out the given secrets and any token-bearing query parameters in ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _SECRET_PARAMS.sub(r"\1=***", text)


class MapillaryHTTP:
    """The one HTTP layer: timeout, retries with backoff, and errors mapped to the family."""

    def __init__(
        self,
        config: MapillaryConfig,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.session = session if session is not None else requests.Session()
        self._owns_session = session is None
        self._sleep = sleep

    def close(self) -> None:
        """Close the session if this object created it."""
        if self._owns_session:
            self.session.close()

    def get_json(
        self, url: str, scheme: str, token: str, params: dict[str, Any] | None = None
    ) -> tuple[Any, requests.Response]:
        """GET ``url`` and return (decoded JSON, response); ``token`` is redacted from errors."""
        headers = {"Authorization": f"{scheme} {token}", "Accept": "application/json"}
        secrets = (token, self.config.client_secret)
        response = self._send(url, params, headers, secrets)
        raise_for_status(response, secrets)
        try:
            return response.json(), response
        except ValueError:
            raise MapillaryResponseError(
                f"Mapillary sent a non-JSON answer ({response.status_code}, "
                f"{response.headers.get('Content-Type', 'no content type')}) to "
                f"GET {redact(response.url, secrets)}"
            ) from None

    def _send(
        self,
        url: str,
        params: dict[str, Any] | None,
        headers: dict[str, str],
        secrets: tuple[str, ...],
    ) -> requests.Response:
        attempts = self.config.max_retries + 1
        where = f"GET {redact(url, secrets)}"
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self.session.get(
                    url, params=params, headers=headers, timeout=self.config.timeout
                )
            except requests.RequestException as exc:
                if isinstance(exc, _TRANSIENT) and not last:
                    self._sleep(self._backoff(attempt))
                    continue
                # "from None": requests' exceptions carry the request, its headers and all.
                raise transport_error(exc, f"{where}, {attempts} attempts") from None
            if (response.status_code == 429 or response.status_code >= 500) and not last:
                delay = self._retry_after(response)
                response.close()
                self._sleep(self._backoff(attempt) if delay is None else delay)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        return min(self.config.backoff * 2.0**attempt, self.config.max_retry_after)

    def _retry_after(self, response: requests.Response) -> float | None:
        """Seconds from a delta-seconds ``Retry-After`` header, capped; None if absent or a date."""
        try:
            seconds = float(response.headers.get("Retry-After", ""))
        except ValueError:
            return None
        return min(max(seconds, 0.0), self.config.max_retry_after)


_TRANSIENT = (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)


def transport_error(exc: requests.RequestException, where: str) -> MapillaryError:
    """The MapillaryError for a request that got no answer; names no URL query or header."""
    if isinstance(exc, requests.Timeout):
        return MapillaryTimeoutError(f"Mapillary did not answer in time ({where})")
    if isinstance(exc, requests.ConnectionError):
        return MapillaryConnectionError(
            f"could not reach Mapillary ({where}): {type(exc).__name__}"
        )
    return MapillaryError(f"Mapillary request failed ({where}): {type(exc).__name__}")


def raise_for_status(response: requests.Response, secrets: tuple[str, ...] = ()) -> None:
    """Raise the MapillaryHTTPError subclass for a non-2xx response, with Mapillary's reason."""
    status = response.status_code
    if 200 <= status < 300:
        return
    detail, code, subcode = _error_detail(response)
    message = redact(
        f"Mapillary answered {status} {response.reason or ''} to "
        f"{response.request.method if response.request else 'GET'} {response.url}"
        + (f": {detail}" if detail else ""),
        secrets,
    )
    cls: type[MapillaryHTTPError] = MapillaryHTTPError
    if status in (401, 403):
        cls = MapillaryAuthError
    elif status == 404:
        cls = MapillaryNotFoundError
    elif status == 429:
        cls = MapillaryRateLimitError
    expired = subcode == EXPIRED_SUBCODE or "session has expired" in detail.lower()
    raise cls(message, status, error_code=code, error_subcode=subcode, expired=expired)


# Graph API: OAuthException code 190 is a bad access token; subcode 463 says it expired.
EXPIRED_SUBCODE = 463


def _error_detail(response: requests.Response) -> tuple[str, int | None, int | None]:
    """Mapillary's own error message, Graph ``{"error": {"message", "code", "error_subcode"}}``
    or v3 ``{"message"}``, with the Graph code and subcode when given."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:_DETAIL_CHARS], None, None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return (
                str(error["message"])[:_DETAIL_CHARS],
                _int(error.get("code")),
                _int(error.get("error_subcode")),
            )
        for name in ("message", "error_description", "error"):
            if isinstance(body.get(name), str):
                return str(body[name])[:_DETAIL_CHARS], None, None
    return "", None, None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
