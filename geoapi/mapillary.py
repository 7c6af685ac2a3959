"""Mapillary client: the only code in geoapi that knows Mapillary's URLs and fields.

OAuth (authorize URL, code exchange, refresh) lives in ``geoapi.mapillary_oauth``.

Both adapters (:class:`MapillaryV3` here, ``geoapi.mapillary_v4.MapillaryV4`` for the Graph API)
return a sequence as a **Mapillary v3 sequence Feature**, the shape the importer consumes: a
LineString in SRID 4326 ``[lon, lat]``; ``properties`` ``key``, ``user_key``, ``username``,
``camera_make``, ``captured_at``/``created_at`` (ISO 8601 UTC, ``Z``), ``pano``, and
``coordinateProperties`` ``cas`` and ``image_keys`` aligned with the coordinates.
Error messages never contain access tokens or client secrets.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlsplit

import requests

Feature = dict[str, Any]
"""A Mapillary v3 sequence Feature (see the module docstring)."""

DEFAULT_PER_PAGE = 500
_SECRET_PARAMS = re.compile(
    r"(?i)(?<![a-z_])(access_token|client_secret|refresh_token|code)=[^&\s\"'<>]*"
)
_DETAIL_CHARS = 200


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

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.backoff < 0 or self.max_retry_after < 0:
            raise ValueError("timeout must be > 0; backoff and max_retry_after must be >= 0")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")


@dataclass(frozen=True)
class MapillaryUser:
    """The account a token belongs to: v3 user key or v4 numeric user id, and username."""

    key: str
    username: str


@dataclass(frozen=True)
class SequenceSummary:
    """One row of a user's sequence listing; ``photo_count`` counts the photos listed."""

    key: str
    captured_at: str | None
    photo_count: int | None
    username: str | None
    user_key: str | None


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Blank out the given secrets and any token-bearing query parameters in ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _SECRET_PARAMS.sub(r"\1=***", text)


def iso_utc(moment: datetime) -> str:
    """Format as ISO 8601 UTC with milliseconds and ``Z``; a naive datetime is taken as UTC."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


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
    detail = _error_detail(response)
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
    raise cls(message, status)


def _error_detail(response: requests.Response) -> str:
    """Mapillary's own error message: Graph ``{"error": {"message"}}`` or v3 ``{"message"}``."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:_DETAIL_CHARS]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:_DETAIL_CHARS]
        for name in ("message", "error_description", "error"):
            if isinstance(body.get(name), str):
                return str(body[name])[:_DETAIL_CHARS]
    return ""


class MapillarySource(ABC):
    """A Mapillary API version: who a token belongs to, their sequences, one sequence."""

    authorization_scheme: str = "Bearer"

    def __init__(
        self,
        config: MapillaryConfig,
        *,
        http: MapillaryHTTP | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._owns_http = http is None
        self.http = http if http is not None else MapillaryHTTP(config, sleep=sleep)

    @abstractmethod
    def me(self, token: str) -> MapillaryUser:
        """The Mapillary account ``token`` belongs to."""

    @abstractmethod
    def list_sequences(
        self,
        token: str,
        *,
        user_key: str | None = None,
        username: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        per_page: int = DEFAULT_PER_PAGE,
    ) -> list[SequenceSummary]:
        """Every sequence of one user (by key or username) captured in [start_time, end_time]."""

    @abstractmethod
    def get_sequence(self, token: str, key: str) -> Feature:
        """One sequence as a Mapillary v3 Feature; MapillaryNotFoundError if it does not exist."""

    def close(self) -> None:
        """Release the HTTP connections (only those this source opened itself)."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _get(self, url: str, token: str, params: dict[str, Any] | None = None) -> Any:
        return self.http.get_json(url, self.authorization_scheme, token, params)[0]

    def _pages(self, url: str, token: str, params: dict[str, Any] | None) -> Iterator[Any]:
        """Yield every page, following :meth:`_next_url` on the same origin, never in a loop."""
        origin = urlsplit(url)[:2]
        seen: set[str] = set()
        next_url: str | None = url
        while next_url is not None:
            data, response = self.http.get_json(next_url, self.authorization_scheme, token, params)
            yield data
            params = None  # the next URL carries its own query
            seen.add(response.url)
            next_url = self._next_url(data, response)
            if next_url is not None and (urlsplit(next_url)[:2] != origin or next_url in seen):
                raise MapillaryResponseError(
                    "Mapillary's next-page link leaves the API or repeats a page: "
                    + redact(next_url, (token,))
                )

    def _next_url(self, data: Any, response: requests.Response) -> str | None:
        return None


def shape_error(what: str, detail: str) -> MapillaryResponseError:
    """A MapillaryResponseError for a payload that is JSON but not the shape we rely on."""
    return MapillaryResponseError(f"unexpected Mapillary {what}: {detail}")


def check_feature(feature: Any) -> Feature:
    """Check a v3 sequence Feature's shape (LineString; keys and cas aligned); return it."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise shape_error("sequence", "not a GeoJSON Feature")
    props, geometry = feature.get("properties"), feature.get("geometry")
    if not isinstance(props, dict) or not isinstance(props.get("key"), str):
        raise shape_error("sequence", "properties.key is missing")
    if not isinstance(geometry, dict) or geometry.get("type") != "LineString":
        raise shape_error("sequence", f"{props['key']} has no LineString geometry")
    coords = geometry.get("coordinates")
    coord_props = props.get("coordinateProperties")
    if not isinstance(coords, list) or not isinstance(coord_props, dict):
        raise shape_error("sequence", f"{props['key']} lacks coordinates or coordinateProperties")
    for name in ("image_keys", "cas"):
        values = coord_props.get(name)
        if not isinstance(values, list) or len(values) != len(coords):
            raise shape_error("sequence", f"{props['key']}: {name} do not match the coordinates")
    return feature


class MapillaryV3(MapillarySource):
    """The retired v3 API (``/v3/...``, ``Authorization: Bearer``), kept for recorded setups."""

    authorization_scheme = "Bearer"

    def me(self, token: str) -> MapillaryUser:
        data = self._get(f"{self.config.api_v3_url}/v3/me", token, self._params())
        if not isinstance(data, dict) or not data.get("key") or not data.get("username"):
            raise shape_error("/v3/me answer", "key or username missing")
        return MapillaryUser(key=str(data["key"]), username=str(data["username"]))

    def list_sequences(
        self,
        token: str,
        *,
        user_key: str | None = None,
        username: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        per_page: int = DEFAULT_PER_PAGE,
    ) -> list[SequenceSummary]:
        if not user_key and not username:
            raise ValueError("list_sequences needs user_key or username")
        params = self._params(per_page=per_page, userkeys=user_key, usernames=username)
        if start_time is not None:
            params["start_time"] = iso_utc(start_time)
        if end_time is not None:
            params["end_time"] = iso_utc(end_time)
        summaries: list[SequenceSummary] = []
        for page in self._pages(f"{self.config.api_v3_url}/v3/sequences", token, params):
            features = page.get("features") if isinstance(page, dict) else None
            if not isinstance(features, list):
                raise shape_error("/v3/sequences answer", "not a FeatureCollection")
            for feature in features:
                props = check_feature(feature)["properties"]
                summaries.append(
                    SequenceSummary(
                        key=props["key"],
                        captured_at=props.get("captured_at"),
                        photo_count=len(props["coordinateProperties"]["image_keys"]),
                        username=props.get("username"),
                        user_key=props.get("user_key"),
                    )
                )
        return summaries

    def get_sequence(self, token: str, key: str) -> Feature:
        url = f"{self.config.api_v3_url}/v3/sequences/{quote(key, safe='')}"
        return check_feature(self._get(url, token, self._params()))

    def _next_url(self, data: Any, response: requests.Response) -> str | None:
        url = response.links.get("next", {}).get("url")
        return url if isinstance(url, str) and url else None

    def _params(self, **extra: Any) -> dict[str, Any]:
        params = {"client_id": self.config.client_id}
        params.update({name: value for name, value in extra.items() if value is not None})
        return params


def create_source(
    config: MapillaryConfig,
    api_version: str = "v4",
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> MapillarySource:
    """The adapter for ``api_version`` ("v3" or "v4"); close it (or use ``with``) when done."""
    if api_version == "v3":
        return MapillaryV3(config, sleep=sleep)
    if api_version == "v4":
        from geoapi.mapillary_v4 import MapillaryV4  # imports this module: import it late

        return MapillaryV4(config, sleep=sleep)
    raise ValueError(f"unknown Mapillary API version {api_version!r} (expected v3 or v4)")
