"""Mapillary OAuth with requests-oauthlib: authorize URL, code exchange, refresh, quiet logs.

Mapillary authenticates our app at its token endpoint by ``Authorization: OAuth <client secret>``
(not HTTP Basic). With PKCE (RFC 7636, S256; ``MapillaryConfig.pkce``), the authorize URL
carries a code challenge and the one exchange of the code its verifier, so a code that leaks
is worth nothing without the verifier kept on our side. Error messages and log records never
contain tokens, codes, states or the secret.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from oauthlib.oauth2 import InsecureTransportError, OAuth2Error
from requests_oauthlib import OAuth2Session

from geoapi.mapillary.errors import MapillaryError, MapillaryResponseError
from geoapi.mapillary.http import MapillaryConfig, raise_for_status, redact, transport_error
from geoapi.mapillary.source import shape_error


@dataclass(frozen=True)
class TokenSet:
    """Tokens from Mapillary's token endpoint; ``expires_at`` is UTC. Tokens stay out of repr."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime | None
    user_id: str | None


def new_code_verifier() -> str:
    """A PKCE code verifier: 86 characters of URL-safe randomness (RFC 7636 allows 43-128)."""
    return secrets.token_urlsafe(64)


def code_challenge(verifier: str) -> str:
    """The S256 challenge of a verifier: base64url(SHA-256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def authorization_url(
    config: MapillaryConfig, redirect_uri: str, state: str, code_verifier: str
) -> str:
    """The URL to send the user to so they grant us access; Mapillary redirects back with a
    code. With PKCE on, it carries the S256 challenge of ``code_verifier``."""
    extra = (
        {"code_challenge": code_challenge(code_verifier), "code_challenge_method": "S256"}
        if config.pkce
        else {}
    )
    with _oauth_errors(config), _oauth_session(config, redirect_uri) as oauth:
        url, _ = oauth.authorization_url(config.authorize_url, state=state, **extra)
    return str(url)


def exchange_code(
    config: MapillaryConfig, code: str, redirect_uri: str, code_verifier: str
) -> TokenSet:
    """Trade an authorization code for tokens, once: not retried (a code is single-use)."""
    extra = {"code_verifier": code_verifier} if config.pkce else {}
    with _oauth_errors(config, code, code_verifier), _oauth_session(config, redirect_uri) as oauth:
        token = oauth.fetch_token(
            config.token_url,
            code=code,
            include_client_id=True,
            headers=_token_headers(config),
            timeout=config.timeout,
            **extra,
        )
    return _token_set(token)


def refresh_token(config: MapillaryConfig, refresh_token: str) -> TokenSet:
    """New tokens from a refresh token; keeps the old refresh token if none is returned."""
    with _oauth_errors(config, refresh_token), _oauth_session(config, None) as oauth:
        token = oauth.refresh_token(
            config.token_url,
            refresh_token=refresh_token,
            client_id=config.client_id,
            headers=_token_headers(config),
            timeout=config.timeout,
        )
    return _token_set(token)


def _oauth_session(config: MapillaryConfig, redirect_uri: str | None) -> OAuth2Session:
    oauth = OAuth2Session(config.client_id, redirect_uri=redirect_uri, scope=config.scope)
    secrets = (config.client_secret,)

    def check(response: requests.Response) -> requests.Response:
        raise_for_status(response, secrets)
        return response

    oauth.register_compliance_hook("access_token_response", check)
    oauth.register_compliance_hook("refresh_token_response", check)
    return oauth


def _token_headers(config: MapillaryConfig) -> dict[str, str]:
    # Mapillary authenticates the app by its secret in this header, not by HTTP Basic auth.
    return {
        "Authorization": f"OAuth {config.client_secret}",
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }


@contextmanager
def _oauth_errors(config: MapillaryConfig, *secrets: str) -> Iterator[None]:
    """Turn requests/oauthlib failures into MapillaryErrors whose text holds no secret."""
    where = redact(config.token_url)
    try:
        yield
    except MapillaryError:
        raise
    except InsecureTransportError:
        raise MapillaryError(
            "Mapillary OAuth URLs must use https (OAUTHLIB_INSECURE_TRANSPORT=1 is for tests)"
        ) from None
    except requests.RequestException as exc:
        raise transport_error(exc, f"POST {where}") from None
    except (OAuth2Error, ValueError, Warning) as exc:
        raise MapillaryResponseError(
            redact(
                f"unusable answer from Mapillary's token endpoint: {exc}",
                (config.client_secret, *secrets),
            )
        ) from None


def _token_set(token: dict[str, Any]) -> TokenSet:
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        raise shape_error("token answer", "no access_token")
    expires_at = token.get("expires_at")
    user_id = token.get("user_id")
    refresh = token.get("refresh_token")
    return TokenSet(
        access_token=access,
        refresh_token=str(refresh) if refresh else None,
        expires_at=(
            datetime.fromtimestamp(float(expires_at), UTC) if expires_at is not None else None
        ),
        user_id=str(user_id) if user_id is not None else None,
    )


# --- logs ----------------------------------------------------------------------------------

# requests-oauthlib logs token requests and answers (headers, bodies) at DEBUG, and urllib3 logs
# request lines whose query may carry ?access_token=: both are scrubbed before any handler.
_LOGGED_SECRETS = re.compile(
    r"""(?ix)
    ( (?<![a-z_])(?:access_token|refresh_token|client_secret|code|state|code_verifier)
      (?: = | ['"]\s*:\s*['"]? )           # query/form "name=" or repr/JSON "'name': '"
    | authorization['"]?\s*[:=]\s*['"]?\w+\s  # an Authorization header: keep the scheme
    )
    [^&\s"'<>,}]+
    """
)
# Access logs (werkzeug, gunicorn) print the callback URL, whose query holds the one-time code
# and the state.
NOISY_LOGGERS = (
    "requests_oauthlib.oauth2_session",
    "urllib3.connectionpool",
    "oauthlib",
    "werkzeug",
    "gunicorn.access",
)


def scrub(text: str) -> str:
    """Blank out token-like values (query, form, dict/JSON reprs, Authorization headers)."""
    return _LOGGED_SECRETS.sub(lambda m: m.group(1) + "***", text)


class SecretsFilter(logging.Filter):
    """Rewrite a record's message with :func:`scrub` applied; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def protect_logs() -> None:
    """Attach :class:`SecretsFilter` to the loggers that would print tokens; idempotent."""
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretsFilter) for f in logger.filters):
            logger.addFilter(SecretsFilter())
